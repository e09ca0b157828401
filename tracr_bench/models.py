"""Resolve and load language models: a local Hugging Face folder, or ``default``, the small
pre-trained LM that ships inside the package (``tracr_bench/data/default_lm``).

In: a model name (a folder or ``default``). Out: its folder (``resolve_model_path``), the loaded
model and tokenizer (``load_model``, after ``preflight.check_model_folder``), the sha256 of its
weights (``weights_digest``; each file hashed once per process while it is unchanged) and the
default LM's held-out text shards."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).parent / "data" / "default_lm"
REBUILD_HINT = (
    "restore it from the package (`pip install --force-reinstall --no-deps .` in the checkout, "
    "or `git checkout -- tracr_bench/data/default_lm`), else rebuild it with "
    "`tracr-bench pretrain` (about 110 minutes on 2 CPU cores)"
)
_DIGESTS: dict[tuple, str] = {}  # (path, size, mtime, inode) -> sha256: one hash per process


class ModelError(ValueError):
    """A model path that cannot be used; the message says what is wrong and what to do."""


def resolve_model_path(model: str | Path | None, *, weights: bool = True) -> Path:
    """``None`` or ``"default"`` -> the shipped default LM; otherwise an existing local folder.

    ``weights=False`` when only the tokenizer is needed (the oracle)."""
    if model is None or str(model) == "default":
        path = DEFAULT_MODEL_DIR
        if weights:
            check_default_model(path)
        return path
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelError(
            f"model path {str(path)!r} does not exist (give a local folder or 'default')"
        )
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ModelError(
            f"{str(path)!r} is not a Hugging Face model folder (no config.json); "
            "save one with model.save_pretrained(PATH)"
        )
    return path


def file_sha256(path: Path) -> str:
    """The file's sha256; computed once per process while the file is unchanged."""
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _DIGESTS:
        _DIGESTS[key] = _sha256(Path(path))
    return _DIGESTS[key]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weights_digest(path: Path) -> dict[str, str]:
    """sha256 of every weights file in a model folder, by file name."""
    return {
        p.name: file_sha256(p)
        for p in sorted(path.iterdir())
        if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)
    }


def check_default_model(path: Path = DEFAULT_MODEL_DIR) -> None:
    """Raise a one-line ModelError if the shipped weights are missing or corrupt."""
    weights = path / "model.safetensors"
    record = path / "pretraining.json"
    if not weights.is_file() or not record.is_file():
        raise ModelError(f"the default LM is missing at {path}; {REBUILD_HINT}")
    expected = json.loads(record.read_text()).get("weights_sha256")
    if expected and file_sha256(weights) != expected:
        raise ModelError(f"the default LM's weights at {weights} are corrupt; {REBUILD_HINT}")


def load_tokenizer(model: str | Path | None):
    """The tokenizer of a model folder (or the default LM), checked first (one-line error)."""
    from transformers import AutoTokenizer

    from tracr_bench.preflight import check_model, take_tokenizer

    path = check_model(model, weights=False)
    tokenizer = take_tokenizer(path)
    return AutoTokenizer.from_pretrained(path) if tokenizer is None else tokenizer


def load_model(model: str | Path | None, device: str = "cpu", dtype=None):
    """Model and tokenizer; fp16 weights are loaded as fp32 on the CPU. The folder is checked
    first (``preflight.check_model_folder``); no loading bar."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from tracr_bench.preflight import check_model, take_tokenizer

    path = check_model(model)
    hf_logging.disable_progress_bar()
    try:
        tok = take_tokenizer(path)
        tok = AutoTokenizer.from_pretrained(path) if tok is None else tok
        if dtype is None:
            dtype = torch.float32 if device == "cpu" else "auto"
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"cannot load a causal LM from {str(path)!r}: {first}") from None
    return lm.to(device).eval(), tok


def heldout_text(name: str) -> str:
    """One of the default LM's held-out shards: ``kl`` (natural text for the injector's KL term)
    or ``retention`` (never used by any training; measures retention)."""
    files = {"kl": "kl_shard.txt", "retention": "retention_shard.txt"}
    if name not in files:
        raise ValueError(f"unknown shard {name!r}; choose from: {', '.join(files)}")
    return (DEFAULT_MODEL_DIR / "text" / files[name]).read_text("utf-8")
