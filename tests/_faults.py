"""Helpers of ``test_errors``: the world a case runs in (its folder and a good tiny model),
broken models and run folders made from it, interrupts, and the snapshot that shows nothing was
written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tracr_bench.models import DEFAULT_MODEL_DIR


@dataclass
class World:
    root: Path  # the test's own folder: everything a case makes or may write
    good: Path  # a small, valid causal LM (shared by the module; must stay unchanged)

    def model(self, name: str, edit: Callable[[Path], object] | None = None) -> str:
        """A copy of the good model in ``root``, changed by ``edit``."""
        path = self.root / name
        shutil.copytree(self.good, path)
        if edit is not None:
            edit(path)
        return str(path)


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file and folder under ``roots``: a folder as such, a file with its size and
    modification time (a folder's own time changes with a write probe made and removed)."""
    seen: dict[str, tuple] = {}
    for root in roots:
        for p in [root, *root.rglob("*")]:
            st = p.lstat()
            seen[str(p)] = ("folder",) if p.is_dir() else ("file", st.st_size, st.st_mtime_ns)
    return seen


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def interrupt(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """``target`` (module.attribute or module.Class.attribute) raises KeyboardInterrupt."""

    def stop(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(target, stop)


def split_in_two_shards(path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "np") as f:
        keys = list(f.keys())
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    index = {"metadata": {}, "weight_map": {k: shards[i % 2] for i, k in enumerate(keys)}}
    (path / "model.safetensors").rename(path / shards[0])
    (path / "model.safetensors.index.json").write_text(json.dumps(index))


def no_tokenizer(path: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (path / name).unlink()


def small_vocab_gpt2(path: Path) -> str:
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=256, vocab_size=1000)
    GPT2LMHeadModel(cfg).save_pretrained(path)
    AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR).save_pretrained(path)
    return str(path)


def bert(path: Path) -> str:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    cfg = BertConfig(
        vocab_size=8192, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=256,
    )  # fmt: skip
    BertForMaskedLM(cfg).save_pretrained(path)
    AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR).save_pretrained(path)
    return str(path)


def run_folder(w: World, latest: str | None = None, state: str | None = None) -> str:
    """A run folder with one checkpoint (made from the good model's weights), optionally with a
    garbage pointer or ``state.json``, or a truncated ``state.safetensors``."""
    step = w.root / "run" / "checkpoints" / "step-000001"
    step.mkdir(parents=True)
    shutil.copy(w.good / "model.safetensors", step / "state.safetensors")
    info = {"step": 1, "config": {"task": "parity"}, "base_model": str(w.good), "param_groups": []}
    (step / "state.json").write_text(state or json.dumps(info))
    pointer = latest or json.dumps({"step": 1, "path": "step-000001"})
    (w.root / "run" / "checkpoints" / "latest.json").write_text(pointer)
    return str(w.root / "run")


def outcome(code, err: str, changed: list[str]) -> str:
    """What happened, in one line (for the before/after table)."""
    lines = err.strip().splitlines()
    what = f"exit {code}, {len(lines)} stderr lines"
    if "Traceback" in err:
        what += ", traceback"
    if changed:
        what += f", files changed: {changed[:3]}"
    return what + (f": {lines[-1][:200]}" if lines else "")
