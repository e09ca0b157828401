"""The default LM's training loop on a tiny GPT-2 and random token ids: one log line per step,
held-out perplexity on the steps it is due, the loss falling on a repeated pattern, and the
same seed giving the same log."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np

from tracr_bench.pretrain.config import PretrainConfig
from tracr_bench.pretrain.train import make_model, train_loop

TINY = dataclasses.replace(
    PretrainConfig(),
    n_layer=1,
    n_embd=32,
    n_head=2,
    n_positions=32,
    vocab_size=50,
    context=16,
    batch_size=4,
    steps=30,
    warmup=2,
    lr=3e-3,
    eval_every=10,
    eval_tokens=64,
    bf16=False,
)


def _run(cfg: PretrainConfig) -> list[dict]:
    pattern = np.tile(np.arange(10, dtype=np.uint16), 500)  # 0 1 ... 9 0 1 ...: learnable
    token_ids = {"train": pattern, "kl_shard": pattern[:400]}
    model, optimizer = make_model(cfg)
    log = io.StringIO()
    tokens, seconds = train_loop(cfg, model, optimizer, token_ids, log)
    assert tokens == cfg.steps * cfg.batch_size * cfg.context and seconds > 0
    return [json.loads(line) for line in log.getvalue().splitlines()]


def test_train_loop_logs_every_step_and_learns():
    records = _run(TINY)
    assert [r["step"] for r in records] == list(range(1, TINY.steps + 1))
    assert [r["step"] for r in records if "val_ppl_kl_shard" in r] == [10, 20, 30]
    assert records[-1]["loss"] < 0.5 * records[0]["loss"]
    held_out = [r["val_ppl_kl_shard"] for r in records if "val_ppl_kl_shard" in r]
    assert held_out == sorted(held_out, reverse=True) and held_out[-1] < 10  # chance: 50


def test_same_seed_same_log():
    a = _run(dataclasses.replace(TINY, steps=5))
    b = _run(dataclasses.replace(TINY, steps=5))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
