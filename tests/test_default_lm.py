"""The shipped default LM: loads offline and fast, generates, is pre-trained, and its held-out
shards are disjoint from each other and from the pretraining text."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from tracr_bench.models import DEFAULT_MODEL_DIR, ModelError, load_model, resolve_model_path
from tracr_bench.pretrain.corpus import line_hashes
from tracr_bench.pretrain.tokenizer import TASK_SYMBOLS, unsplit_symbols
from tracr_bench.pretrain.train import encode_file, perplexity
from tracr_bench.task import all_tasks

TEXT = DEFAULT_MODEL_DIR / "text"


def test_loads_offline_in_under_two_seconds_and_generates():
    """In a fresh process with the hub switched off: load model + tokenizer. Imports, including
    the GPT-2 module that transformers imports lazily on first use (~1.5 s), are excluded."""
    code = (
        "import time\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2LMHeadModel\n"
        "t = time.time()\n"
        f"p = {str(DEFAULT_MODEL_DIR)!r}\n"
        "m = AutoModelForCausalLM.from_pretrained(p)\n"
        "tok = AutoTokenizer.from_pretrained(p)\n"
        "print(time.time() - t)\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert float(out.stdout.strip().splitlines()[-1]) < 2.0
    model, tok = load_model("default")
    assert model.config.n_layer >= 12 and model.config.n_embd >= 256
    assert model.config.n_positions >= 512
    ids = tok("The king said", return_tensors="pt").input_ids
    out_ids = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.eos_token_id)
    assert len(tok.decode(out_ids[0, ids.shape[1] :]).strip()) > 0


def test_every_task_symbol_is_one_token_bare_and_after_a_space(default_tokenizer):
    assert unsplit_symbols(default_tokenizer) == []
    read = set()
    for task in all_tasks().values():
        read |= set(task.token_map.symbols) | {task.token_map.trigger}
    # the tokenizer was built to keep TASK_SYMBOLS apart; a task may also read other symbols
    # (hist's and most_frequent's unseen letter w), as long as each is one token too
    assert read - set(TASK_SYMBOLS) <= set("abcdefghijklmnopqrstuvwxyz"), read
    assert unsplit_symbols(default_tokenizer, sorted(read)) == []
    assert default_tokenizer.tokenize(" 1234") == ["Ġ1", "2", "3", "4"]


def test_heldout_shards_are_disjoint_from_training_and_each_other():
    train = np.load(TEXT / "train_line_hashes.npy")
    kl = line_hashes((TEXT / "kl_shard.txt").read_text("utf-8"))
    retention = line_hashes((TEXT / "retention_shard.txt").read_text("utf-8"))
    assert len(train) > 100_000 and len(kl) > 5_000 and len(retention) > 5_000
    assert not np.isin(kl, train).any()
    assert not np.isin(retention, train).any()
    assert not np.isin(retention, kl).any()
    manifest = json.loads((TEXT / "manifest.json").read_text())
    names = {part: {d["name"] for d in docs} for part, docs in manifest.items()}
    assert not names["train"] & names["kl"]
    assert not names["train"] & names["retention"]
    assert not names["kl"] & names["retention"]
    for size in (TEXT / "kl_shard.txt", TEXT / "retention_shard.txt"):
        assert 1_000_000 <= size.stat().st_size <= 2_000_000


def test_heldout_perplexity_is_that_of_a_pretrained_model():
    """The shipped model beats a bound that a randomly initialised one of the same shape fails."""
    model, tok = load_model("default")
    ids = encode_file(tok, TEXT / "retention_shard.txt")[:20_000]
    trained = perplexity(model, ids, 512)
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    random_model = AutoModelForCausalLM.from_config(model.config)
    untrained = perplexity(random_model, ids, 512)
    bound = 200.0
    assert trained < bound < untrained, (trained, untrained)
    assert not math.isnan(trained)


def test_missing_or_corrupt_weights_give_one_line_error(tmp_path, monkeypatch):
    copy = tmp_path / "default_lm"
    shutil.copytree(DEFAULT_MODEL_DIR, copy)
    import tracr_bench.models as models

    monkeypatch.setattr(models, "DEFAULT_MODEL_DIR", copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt.*tracr-bench pretrain") as err:
        resolve_model_path("default")
    assert "\n" not in str(err.value)
    weights.unlink()
    with pytest.raises(ModelError, match="missing.*tracr-bench pretrain"):
        resolve_model_path("default")


def test_bad_model_paths(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model_path(tmp_path / "nope")
    with pytest.raises(ModelError, match="not a Hugging Face model folder"):
        resolve_model_path(tmp_path)
