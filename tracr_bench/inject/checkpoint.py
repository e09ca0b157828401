"""Resumable training state as safetensors + JSON (no pickle): the LM's and the adapter's
weights, AdamW's moments, the step, and the state of the natural-text generator, written
atomically. All of it is global: the same on every process of a data-parallel run, which only
the main process writes, so a run resumes under any number of processes.

Layout inside the run folder: ``checkpoints/step-000050/{state.safetensors,state.json}`` and a
pointer ``checkpoints/latest.json``; a step folder is complete before the pointer names it, and
only the newest one is kept.
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

POINTER = "latest.json"


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


def latest_checkpoint(folder: Path) -> Path | None:
    pointer = folder / POINTER
    if not pointer.is_file():
        return None
    path = folder / json.loads(pointer.read_text())["path"]
    return path if (path / "state.safetensors").is_file() else None


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
