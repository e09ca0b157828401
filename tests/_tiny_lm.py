"""A tiny GPT-2 with the default LM's tokenizer, trained for a few seconds on parity (so that it
answers in the task's format), shared by the evaluate, fast-engine, search, plugin and plot
tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracr_bench.models import DEFAULT_MODEL_DIR
from tracr_bench.task import get_task


def untrained_gpt2(n_layer: int, n_embd: int, n_positions: int = 128, **config):
    """A GPT-2 of ``n_layer`` blocks and width ``n_embd`` (2 heads) initialised with seed 0,
    and the default LM's tokenizer: ``(model, tokenizer)``."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR)
    torch.manual_seed(0)
    cfg = GPT2Config(
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=2,
        n_positions=n_positions,
        vocab_size=len(tok),
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        **config,
    )
    return GPT2LMHeadModel(cfg), tok


def save_tiny_lm(out: Path, train_steps: int = 60, n_positions: int = 512) -> Path:
    import torch
    from transformers import AutoTokenizer

    model, tok = untrained_gpt2(2, 64, n_positions)
    texts = [e.prompt + e.target + "\n" for e in get_task("parity").examples("train", 16 * 50)]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    tok.pad_token = tok.eos_token
    for step in range(train_steps):
        batch = texts[(16 * step) % len(texts) :][:16]
        enc = tok(batch, return_tensors="pt", padding=True)
        labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
        model(**enc, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR).save_pretrained(out)
    return out


_SHARED: dict[str, Path] = {}


def shared_tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained tiny model per test session, whichever module asks first."""
    if "parity" not in _SHARED:
        _SHARED["parity"] = save_tiny_lm(tmp_path_factory.mktemp("tiny_parity_lm"))
    return _SHARED["parity"]
