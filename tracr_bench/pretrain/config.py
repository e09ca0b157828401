"""Hyperparameters of the default LM (importable without torch)."""

from dataclasses import dataclass


@dataclass
class PretrainConfig:
    n_layer: int = 12
    n_embd: int = 256
    n_head: int = 8
    n_positions: int = 512
    vocab_size: int = 8192
    context: int = 512
    batch_size: int = 8
    steps: int = 1600
    lr: float = 1.5e-3
    min_lr: float = 1e-4
    warmup: int = 60
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_tokens: int = 65536
    seed: int = 1234
    threads: int = 1
    bf16: bool = True
