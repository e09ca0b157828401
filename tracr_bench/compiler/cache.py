"""The on-disk cache of compiled programs: one folder per key, safetensors + JSON.

An entry ``<cache dir>/<key>/`` holds ``weights.safetensors`` (float32, canonical residual
order) and ``meta.json`` (everything else of the ``CompiledProgram``, the weights' sha256 and the
program's canonical description). An entry is written in a temporary folder and renamed into
place, so readers never see half of one; an entry that fails any check on loading (missing or
unreadable file, sha256, key, format or tracr version, shapes, dtype) is treated as absent.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tracr_bench.compiler.program import BlockSpec, CompiledProgram
from tracr_bench.models import file_sha256

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "meta.json"


def tracr_version() -> str:
    """The installed tracr-pypi version (part of every key)."""
    try:
        return importlib.metadata.version("tracr-pypi")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def default_cache_dir() -> Path:
    """$TRACR_BENCH_CACHE, else $XDG_CACHE_HOME/tracr-bench, else ~/.cache/tracr-bench."""
    env = os.environ.get("TRACR_BENCH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tracr-bench"


def store_entry(entry: Path, compiled: CompiledProgram, description: list[dict]) -> None:
    """Write ``compiled`` to the folder ``entry`` (replacing a stale one) atomically."""
    from safetensors.numpy import save_file

    root = entry.parent
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{compiled.key[:12]}-", dir=root))
    try:
        weights_path = tmp / WEIGHTS_FILE
        save_file(compiled.weights, str(weights_path))
        meta = _meta_of(compiled, file_sha256(weights_path), description)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, default=_json_default))
        if entry.exists():  # corrupt or stale: move it aside, then swap in
            trash = Path(tempfile.mkdtemp(prefix=f".old-{compiled.key[:12]}-", dir=root))
            os.replace(entry, trash / "entry")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, entry)
        except OSError:  # another process stored the same entry meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _meta_of(cp: CompiledProgram, weights_sha: str, description: list[dict]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "tracr_version": tracr_version(),
        "key": cp.key,
        "weights_sha256": weights_sha,
        "weights": {k: list(v.shape) for k, v in sorted(cp.weights.items())},
        "blocks": [b.to_dict() for b in cp.blocks],
        "residual_labels": cp.residual_labels,
        "input_encoding": cp.input_encoding,
        "output_decoding": (
            None if cp.output_decoding is None else sorted(cp.output_decoding.items())
        ),
        "output_name": cp.output_name,
        "vocab": cp.vocab,
        "bos": cp.bos,
        "pad": cp.pad,
        "max_seq_len": cp.max_seq_len,
        "causal": cp.causal,
        "mlp_exactness": cp.mlp_exactness,
        "n_params": cp.n_params,
        "n_heads": cp.n_heads,
        "key_size": cp.key_size,
        "compile_seconds": cp.seconds,
        "program": description,
    }


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {o!r}")


def load_entry(entry: Path, key: str) -> CompiledProgram | None:
    """The cached program, or None when the entry is missing or fails any check."""
    weights_path, meta_path = entry / WEIGHTS_FILE, entry / META_FILE
    if not (weights_path.is_file() and meta_path.is_file()):
        return None
    try:
        from safetensors.numpy import load_file

        meta = json.loads(meta_path.read_text())
        if (
            meta.get("format_version") != FORMAT_VERSION
            or meta.get("key") != key
            or meta.get("tracr_version") != tracr_version()
            or meta.get("weights_sha256") != file_sha256(weights_path)
        ):
            return None
        weights = load_file(str(weights_path))
        if not _weights_agree(weights, meta):
            return None
        compiled = _program_from_meta(meta, weights, entry)
        if compiled.n_params != sum(a.size for a in weights.values()):
            return None
        return compiled
    except Exception:  # unreadable safetensors / JSON / missing fields: never trusted
        return None


def _weights_agree(weights: dict[str, np.ndarray], meta: dict[str, Any]) -> bool:
    """The loaded weights have the recorded shapes, float32, and the residual's width."""
    if {k: list(v.shape) for k, v in weights.items()} != meta["weights"]:
        return False
    if any(v.dtype != np.float32 for v in weights.values()):
        return False
    return weights["token_embed/embeddings"].shape[1] == len(meta["residual_labels"])


def _program_from_meta(
    meta: dict[str, Any], weights: dict[str, np.ndarray], entry: Path
) -> CompiledProgram:
    decoding = meta["output_decoding"]
    return CompiledProgram(
        key=meta["key"],
        weights=weights,
        blocks=[BlockSpec(**b) for b in meta["blocks"]],
        residual_labels=list(meta["residual_labels"]),
        input_encoding={str(k): int(v) for k, v in meta["input_encoding"].items()},
        output_decoding=None if decoding is None else {int(i): v for i, v in decoding},
        output_name=meta["output_name"],
        vocab=list(meta["vocab"]),
        bos=meta["bos"],
        pad=meta["pad"],
        max_seq_len=int(meta["max_seq_len"]),
        causal=bool(meta["causal"]),
        mlp_exactness=meta["mlp_exactness"],
        n_params=int(meta["n_params"]),
        n_heads=int(meta["n_heads"]),
        key_size=int(meta["key_size"]),
        seconds=0.0,
        from_cache=True,
        cache_path=entry,
    )
