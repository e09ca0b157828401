"""Pretrain the default LM from scratch: corpus -> tokenizer -> GPT-2 -> fp16 safetensors.

Reads top to bottom like nanoGPT's loop: tokenize once, sample random windows with a seeded
generator, AdamW with warm-up and cosine decay, a validation perplexity on the KL shard every
``eval_every`` steps, and a final perplexity on the retention shard, which nothing trains on.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tracr_bench.pretrain import corpus
from tracr_bench.pretrain.config import PretrainConfig
from tracr_bench.pretrain.tokenizer import END_OF_TEXT, train_tokenizer


def gpt2_config(cfg: PretrainConfig):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=cfg.vocab_size,
        n_positions=cfg.n_positions,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        activation_function="gelu_pytorch_tanh",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )


def hf_tokenizer(tokenizer_file: Path):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_file),
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
        pad_token=END_OF_TEXT,
        model_max_length=512,
    )


def encode_file(tokenizer, path: Path) -> np.ndarray:
    """Token ids of a text file, documents joined by END_OF_TEXT, as uint16."""
    text = path.read_text("utf-8")
    eot = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    ids: list[int] = []
    for chunk in text.split("\n\n\n"):
        ids.extend(tokenizer.encode(chunk, add_special_tokens=False))
        ids.append(eot)
    return np.asarray(ids, dtype=np.uint16)


@torch.no_grad()
def perplexity(model, ids: np.ndarray, context: int, max_tokens: int | None = None) -> float:
    """Perplexity over consecutive non-overlapping windows of ``context`` tokens."""
    model.eval()
    if max_tokens is not None:
        ids = ids[: max_tokens + 1]
    n_windows = (len(ids) - 1) // context
    total, count = 0.0, 0
    for w in range(0, n_windows, 8):
        rows = [
            torch.from_numpy(ids[i * context : (i + 1) * context + 1].astype(np.int64))
            for i in range(w, min(w + 8, n_windows))
        ]
        batch = torch.stack(rows)
        logits = model(batch[:, :-1]).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1), reduction="sum"
        )
        total += loss.item()
        count += batch[:, 1:].numel()
    model.train()
    return math.exp(total / count)


def lr_at(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def pretrain(cfg: PretrainConfig, work_dir: Path, out_dir: Path) -> dict:
    """Rebuild corpus and tokenizer in ``work_dir``, train, save the model to ``out_dir``."""
    torch.set_num_threads(cfg.threads)
    tokenizer, token_ids = prepare_data(cfg, work_dir)
    model, optimizer = make_model(cfg)
    with open(work_dir / "pretrain_log.jsonl", "w") as log:
        tokens_seen, train_seconds = train_loop(cfg, model, optimizer, token_ids, log)
    summary = {
        "config": asdict(cfg),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_tokens_in_corpus": int(len(token_ids["train"])),
        "tokens_seen": tokens_seen,
        "train_seconds": round(train_seconds, 1),
        "tokens_per_second": round(tokens_seen / train_seconds, 1),
        "torch": torch.__version__,
    }
    save_model(model, tokenizer, work_dir, out_dir, summary)
    return finalize(out_dir)


def prepare_data(cfg: PretrainConfig, work_dir: Path) -> tuple[object, dict[str, np.ndarray]]:
    """The corpus, the tokenizer and the token ids of the training text and both held-out
    shards, each built once in ``work_dir`` and reused by later runs."""
    work_dir.mkdir(parents=True, exist_ok=True)
    if not (work_dir / "train.txt").exists():
        corpus.build(work_dir)
    tok_file = work_dir / "tokenizer.json"
    if not tok_file.exists():
        train_tokenizer(work_dir / "train.txt", cfg.vocab_size).save(str(tok_file))
    tokenizer = hf_tokenizer(tok_file)
    token_ids = {}
    for name in ("train", "kl_shard", "retention_shard"):
        cached = work_dir / f"{name}.u16.npy"
        if not cached.exists():
            partial = cached.with_name(cached.name + ".part.npy")  # np.save adds .npy
            np.save(partial, encode_file(tokenizer, work_dir / f"{name}.txt"))
            os.replace(partial, cached)
        token_ids[name] = np.load(cached)
    return tokenizer, token_ids


def make_model(cfg: PretrainConfig) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """A freshly initialised GPT-2 (seeded) and AdamW, weight decay on matrices only."""
    from transformers import GPT2LMHeadModel

    torch.manual_seed(cfg.seed)
    model = GPT2LMHeadModel(gpt2_config(cfg))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    return model, optimizer


def train_loop(cfg, model, optimizer, token_ids: dict[str, np.ndarray], log) -> tuple[int, float]:
    """``cfg.steps`` steps on random windows of the training text, one JSON line per step in
    ``log`` (held-out perplexity every ``cfg.eval_every`` steps). Returns (tokens, seconds)."""
    train_ids = token_ids["train"]
    gen = np.random.default_rng(cfg.seed)
    t0 = time.time()
    tokens_seen = 0
    bar = tqdm(range(cfg.steps), desc="pretrain", dynamic_ncols=True)
    for step in bar:
        starts = gen.integers(0, len(train_ids) - cfg.context - 1, size=cfg.batch_size)
        batch = torch.from_numpy(
            np.stack([train_ids[s : s + cfg.context + 1] for s in starts]).astype(np.int64)
        )
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            logits = model(batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        tokens_seen += batch[:, 1:].numel()
        elapsed = time.time() - t0
        record = {
            "step": step + 1,
            "loss": round(loss.item(), 4),
            "lr": lr_at(step, cfg),
            "tokens": tokens_seen,
            "tok_per_s": round(tokens_seen / elapsed, 1),
            "elapsed_s": round(elapsed, 1),
        }
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            record["val_ppl_kl_shard"] = round(
                perplexity(model, token_ids["kl_shard"], cfg.context, cfg.eval_tokens), 2
            )
        log.write(json.dumps(record) + "\n")
        log.flush()
        bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{record['tok_per_s']:.0f}")
    return tokens_seen, time.time() - t0


def finalize(model_dir: Path) -> dict:
    """Measure the shipped (fp16) model on its two held-out shards and record the figures and
    the weights' sha256 in ``pretraining.json``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tracr_bench.files import write_text_atomic
    from tracr_bench.models import file_sha256

    record_path = model_dir / "pretraining.json"
    summary = json.loads(record_path.read_text())
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    context = summary["config"]["context"]
    for shard in ("retention_shard", "kl_shard"):
        ids = encode_file(tokenizer, model_dir / "text" / f"{shard}.txt")
        summary[f"heldout_ppl_{shard}"] = round(perplexity(model, ids, context), 2)
        summary[f"heldout_tokens_{shard}"] = int(len(ids))
    summary["weights_sha256"] = file_sha256(model_dir / "model.safetensors")
    summary["weights_bytes"] = (model_dir / "model.safetensors").stat().st_size
    write_text_atomic(record_path, json.dumps(summary, indent=1) + "\n")
    return summary


def save_model(model, tokenizer, work_dir: Path, out_dir: Path, summary: dict) -> None:
    """Write the fp16 model, tokenizer, shards and training record; atomically replace out_dir."""
    staging = out_dir.with_name(out_dir.name + ".tmp")
    if staging.exists():
        shutil.rmtree(staging)
    model.half().save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    portable_tokenizer_config(staging)
    (staging / "pretraining.json").write_text(json.dumps(summary, indent=1) + "\n")
    text_dir = staging / "text"
    text_dir.mkdir()
    for name in ("kl_shard.txt", "retention_shard.txt", "train_line_hashes.npy", "manifest.json"):
        shutil.copy(work_dir / name, text_dir / name)
    shutil.copy(work_dir / "pretrain_log.jsonl", staging / "pretrain_log.jsonl")
    # the old folder is moved aside, not deleted, until the new one is in place: an interrupt
    # between the two renames leaves it at out_dir.old, never neither
    old = out_dir.with_name(out_dir.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if out_dir.exists():
        os.replace(out_dir, old)
    try:
        os.replace(staging, out_dir)
    except BaseException:
        if old.exists() and not out_dir.exists():
            os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def portable_tokenizer_config(model_dir: Path) -> None:
    """transformers 5 writes ``"tokenizer_class": "TokenizersBackend"``, which 4.x cannot load;
    ``PreTrainedTokenizerFast`` loads in both."""
    path = model_dir / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(config, indent=2) + "\n")
