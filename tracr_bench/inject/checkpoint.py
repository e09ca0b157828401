"""Resumable training state as safetensors + JSON (no pickle): the LM's and the adapter's
weights, AdamW's moments, the step, and the state of the natural-text generator, written
atomically. All of it is global: the same on every process of a data-parallel run, which only
the main process writes, so a run resumes under any number of processes.

Layout inside the run folder: ``checkpoints/step-000050/{state.safetensors,state.json}`` and a
pointer ``checkpoints/latest.json``; a step folder is complete before the pointer names it, and
only the newest one is kept. ``check_checkpoint`` reads a checkpoint's files cheaply (the JSON,
the safetensors header against the file's length) so that a garbage or truncated one is one line
naming the file, before anything is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tracr_bench.files import write_json_atomic
from tracr_bench.inject.config import InjectError

POINTER = "latest.json"
STATE_KEYS = ("step", "config", "base_model", "param_groups")  # what resuming reads


def save_checkpoint(
    folder: Path,
    step: int,
    model: torch.nn.Module,
    adapter: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    rng: dict[str, torch.Tensor],
    meta: dict,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        tensors[f"model.{k}"] = v
    for k, v in adapter.state_dict().items():
        tensors[f"adapter.{k}"] = v
    opt = optimizer.state_dict()
    for pid, state in opt["state"].items():
        for k, v in state.items():
            tensors[f"optim.{pid}.{k}"] = torch.as_tensor(v)
    for k, v in rng.items():
        tensors[f"rng.{k}"] = v
    # safetensors refuses shared storage (tied embeddings): store contiguous copies
    tensors = {k: v.detach().contiguous().clone().cpu() for k, v in tensors.items()}
    tmp = Path(tempfile.mkdtemp(prefix=f".step-{step:06d}.", dir=folder))
    try:
        save_file(tensors, str(tmp / "state.safetensors"))
        info = {"step": step, "param_groups": opt["param_groups"], **meta}
        (tmp / "state.json").write_text(json.dumps(info, indent=1) + "\n")
        final = folder / f"step-{step:06d}"
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_json_atomic(folder / POINTER, {"step": step, "path": final.name})
    for old in folder.glob("step-*"):
        if old.name != final.name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoint_step(path: Path) -> int:
    """The step of the checkpoint folder ``path`` (``step-000050`` -> 50)."""
    return int(path.name.removeprefix("step-"))


def _read_json(path: Path, fix: str) -> dict:
    """A JSON object from ``path``; InjectError naming the file if it is not one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise InjectError(f"{path} cannot be read ({reason}); {fix}") from None
    if not isinstance(data, dict):
        raise InjectError(f"{path} is not a JSON object; {fix}")
    return data


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint ``latest.json`` names, if its weights are there; None without a pointer.
    InjectError (one line naming the file) if the pointer is not readable."""
    pointer = folder / POINTER
    if not pointer.is_file():
        return None
    fix = f"remove {folder} to start the run over"
    name = _read_json(pointer, fix).get("path")
    if not isinstance(name, str) or not name.startswith("step-") or "/" in name:
        raise InjectError(f"{pointer} names no checkpoint folder (no 'path': 'step-N'); {fix}")
    path = folder / name
    return path if (path / "state.safetensors").is_file() else None


def check_checkpoint(path: Path) -> dict:
    """The checkpoint's ``state.json``, after checking it and the header of its
    ``state.safetensors`` (complete, without loading a tensor); InjectError naming the file."""
    from tracr_bench.models import ModelError
    from tracr_bench.preflight import check_safetensors

    fix = f"remove {path.parent} to start the run over"
    info = _read_json(path / "state.json", fix)
    missing = [k for k in STATE_KEYS if k not in info]
    if missing:
        raise InjectError(f"{path / 'state.json'} lacks {', '.join(missing)}; {fix}")
    try:
        check_safetensors(path / "state.safetensors", fix)
    except ModelError as err:
        raise InjectError(str(err)) from None
    return info


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    adapter: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore weights and optimizer state in place; returns (state.json, rng tensors)."""
    info = json.loads((path / "state.json").read_text())
    tensors = load_file(str(path / "state.safetensors"))
    model_sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(model_sd, strict=True)
    adapter.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("adapter.")})
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    rng = {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}
    return info, rng
