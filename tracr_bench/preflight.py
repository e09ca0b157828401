"""Checks made before a command starts its work, each failing in one line that says what is
wrong and what to do (issue 14: fail early, not hours later).

In: what a command was given: an output file, the compiled-program cache folder, a device name,
a model folder, a safetensors file. Out: the checked value (a ``Path``, a device name) or a
one-line error: ``PreflightError`` (a ``TaskError``) for outputs, caches and devices,
``ModelError`` for model folders. Nothing is created or changed, except a write probe (a
temporary file made and removed at once) in a folder that is about to be written to.

- ``check_output_file``: a file path (not a folder) in an existing, writable folder; an existing
  file is refused unless ``overwrite``.
- ``check_cache_dir``: the cache folder (``--cache-dir``, ``$TRACR_BENCH_CACHE`` or the default)
  is a writable folder, or can be made.
- ``resolve_device``: ``auto`` -> cuda, mps or cpu; ``cuda``/``mps`` only where torch sees one.
- ``check_model_folder``: config readable, the architecture a causal LM (encoders such as BERT
  refused), every weights file present and complete (safetensors headers against the file
  length, without loading a tensor), a tokenizer that loads and fits the embedding. Memoized per
  folder state, so a run that checks the same folder twice pays once.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

from tracr_bench.models import DEFAULT_MODEL_DIR, REBUILD_HINT, ModelError
from tracr_bench.task import TaskError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
SAVE_HINT = "save it again with model.save_pretrained(PATH) and tokenizer.save_pretrained(PATH)"
_CHECKED: set[tuple] = set()  # model folders (and their files' sizes and times) found good
_LOADED: dict[str, object] = {}  # folder -> the tokenizer its check loaded, until taken


class PreflightError(TaskError):
    """An output, cache folder or device that cannot be used; the message says what to do."""


def _probe_write(folder: Path) -> str | None:
    """None if a file can be made in ``folder`` (made and removed), else the reason."""
    try:
        tempfile.NamedTemporaryFile(dir=folder, prefix=".tracr-bench-probe-").close()
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def check_output_file(path: str | Path, *, flag: str = "--output", overwrite: bool = False) -> Path:
    """``path`` as a file that can be written: not a folder, in an existing writable folder, and
    not an existing file unless ``overwrite``."""
    path = Path(path).expanduser()
    folder = path.parent
    if path.is_dir():
        raise PreflightError(
            f"{flag} {str(path)!r} is a folder; give a file name, e.g. {str(path / 'out.json')!r}"
        )
    if not folder.exists():
        raise PreflightError(
            f"cannot write {flag} {str(path)!r}: folder {str(folder)!r} is missing; create it first"
        )
    if not folder.is_dir():
        raise PreflightError(f"cannot write {flag} {str(path)!r}: {str(folder)!r} is not a folder")
    if path.exists() and not overwrite:
        raise PreflightError(
            f"{flag} {str(path)!r} exists; pass --overwrite to replace it, or give another file"
        )
    reason = _probe_write(folder)
    if reason is not None:
        raise PreflightError(f"cannot write {flag} {str(path)!r}: {reason}")
    return path


def check_cache_dir(cache_dir: str | Path | None) -> Path:
    """The compiled-program cache folder this run will use, checked usable (not made here)."""
    from tracr_bench.compiler.cache import default_cache_dir

    if cache_dir is not None:
        path, source = Path(cache_dir).expanduser(), "--cache-dir"
    else:
        path = default_cache_dir()
        source = "$TRACR_BENCH_CACHE" if os.environ.get("TRACR_BENCH_CACHE") else "the default"
    fix = "pass --cache-dir DIR or set TRACR_BENCH_CACHE to a writable folder"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is not a folder" if existing == path else f"cannot be made ({existing} is a file)"
        raise PreflightError(f"the compiled-program cache {path} ({source}) {what}; {fix}")
    reason = _probe_write(existing) if existing == path else None
    if reason is None and not os.access(existing, os.W_OK | os.X_OK):
        reason = "permission denied"
    if reason is not None:
        raise PreflightError(
            f"the compiled-program cache {path} ({source}) cannot be written ({reason}); {fix}"
        )
    return path


def resolve_device(device: str) -> str:
    """``auto`` (CUDA, then MPS, then the CPU) or a device torch can see; else one line."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise PreflightError(f"unknown device {device!r}; choose auto, cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise PreflightError(
                f"--device {device} asked for, but torch {torch.__version__} sees no CUDA "
                "device; use --device cpu (or auto)"
            )
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise PreflightError(
                f"--device {device}: torch sees {torch.cuda.device_count()} CUDA devices "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
            )
    if device == "mps" and not has_mps:
        raise PreflightError("--device mps asked for, but torch sees no MPS device; use cpu")
    return device


# ---------------------------------------------------------------------------- model folders


def check_safetensors(path: Path, fix: str) -> None:
    """A safetensors file whose header parses and covers the file (a truncated or garbage file
    fails here), read without loading any tensor; ``fix`` ends the line."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "np"):
            pass
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"{path} is truncated or corrupt ({reason}); {fix}") from None


def _weight_files(path: Path, fix: str) -> list[Path]:
    """The weights files the folder names (its shard index) or holds; ModelError if missing."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = path / index_name
        if index.is_file():
            try:
                names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ModelError(f"{index} is not a shard index (no weight_map); {fix}") from None
            missing = [n for n in names if not (path / n).is_file()]
            if missing:
                raise ModelError(f"{index} names {missing[0]}, which is missing; {fix}")
            return [path / n for n in names]
    files = [path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()]
    if not files:
        raise ModelError(
            f"no weights in {str(path)!r} (model.safetensors, pytorch_model.bin or a sharded "
            f"index); {fix}"
        )
    return files[:1]  # transformers reads the safetensors file when there are both


def _check_weights(path: Path, fix: str) -> None:
    for file in _weight_files(path, fix):
        if file.suffix == ".safetensors":
            check_safetensors(file, fix)
        elif not zipfile.is_zipfile(file):
            raise ModelError(f"{file} is truncated or corrupt (not a torch zip archive); {fix}")


def _read_config(path: Path, fix: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path)
    except Exception as err:  # noqa: BLE001 - JSON, unknown model type, missing fields
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"{path / 'config.json'} cannot be read ({reason[:200]}); {fix}") from None


def check_causal_lm(path: Path, config) -> None:
    """The architecture has a causal-LM class and is not a bidirectional encoder (BERT)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", None)
    named = ", ".join(getattr(config, "architectures", None) or []) or kind
    need = "tracr-bench evaluates and injects causal (decoder) LMs such as GPT-2 or Llama"
    if kind in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        raise ModelError(
            f"{str(path)!r} is a {kind} model ({named}): an encoder, not a causal LM; {need}"
        )
    if kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelError(f"{str(path)!r} ({named}) has no causal-LM architecture; {need}")


def take_tokenizer(path: str | Path):
    """The tokenizer the last check of ``path`` loaded (handed over once, so that a run loads
    it once), or None."""
    return _LOADED.pop(str(Path(path).resolve()), None)


def _check_tokenizer(path: Path, config, fix: str) -> None:
    from transformers import AutoTokenizer

    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ModelError(f"no tokenizer in {str(path)!r} ({', '.join(TOKENIZER_FILES)}); {fix}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as err:  # noqa: BLE001 - tokenizers raise many kinds
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"the tokenizer in {str(path)!r} cannot be loaded ({reason}); {fix}"
        ) from None
    rows = getattr(config, "vocab_size", None) if config is not None else None
    if rows and len(tokenizer) > rows:
        raise ModelError(
            f"the tokenizer in {str(path)!r} has {len(tokenizer)} tokens but the model's "
            f"embedding has {rows} rows; save the model's own tokenizer with it (or call "
            "model.resize_token_embeddings(len(tokenizer)) before saving)"
        )
    _LOADED[str(path.resolve())] = tokenizer


def check_model_folder(path: str | Path, *, weights: bool = True) -> None:
    """A model folder that can be loaded and run as a causal LM (``weights=False``: only its
    tokenizer, as the oracle needs); one-line ModelError naming the file and what to do."""
    path = Path(path)
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir())
    key = (str(path.resolve()), weights, tuple(files))
    if key in _CHECKED:
        return
    fix = REBUILD_HINT if path.resolve() == DEFAULT_MODEL_DIR.resolve() else SAVE_HINT
    config = _read_config(path, fix) if weights else None
    if weights:
        check_causal_lm(path, config)
        _check_weights(path, fix)
    _check_tokenizer(path, config, fix)
    _CHECKED.add(key)


def check_model(model: str | Path | None, *, weights: bool = True) -> Path:
    """``resolve_model_path`` and ``check_model_folder``: the folder of a usable model."""
    from tracr_bench.models import resolve_model_path

    path = resolve_model_path(model, weights=weights)
    check_model_folder(path, weights=weights)
    return path


__all__ = [
    "PreflightError",
    "check_cache_dir",
    "check_model",
    "check_model_folder",
    "check_output_file",
    "check_safetensors",
    "resolve_device",
]
