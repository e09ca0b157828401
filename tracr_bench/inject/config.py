"""Hyperparameters of one injection run, with the defaults tuned for the shipped default LM.

The paper's setting (GPT-2 large, one GPU): AdamW, LM lr 1e-6, adapter lr 1e-4, fp32, the three
loss terms summed with weight 1 (the algorithm loss summed over the L + 1 layers, as here), and a
KL summed over positions (``batchmean`` over sequences; ours is the mean per token). To reproduce
it, pass ``--lr 1e-6 --adapter-lr 1e-4 --precision fp32``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from tracr_bench.task import TaskError

Method = Literal["tracr", "baseline"]
METHODS: tuple[str, ...] = ("tracr", "baseline")


class InjectError(TaskError):
    """Bad input to the injector; the message names what is wrong and what to do."""


@dataclass(frozen=True)
class InjectConfig:
    task: str
    method: str = "tracr"
    steps: int = 200
    batch_size: int = 16  # task examples per step
    lr: float = 3e-4  # the LM's parameters
    adapter_lr: float = 3e-3
    weight_decay: float = 0.0
    kl_weight: float = 1.0
    algorithm_weight: float = 1.0
    kl_batch_size: int = 4  # windows of natural text per step
    kl_seq_len: int = 128  # tokens per window
    warmup_steps: int = 20
    grad_clip: float = 1.0
    seed: int = 0
    precision: str = "auto"  # auto: bf16 autocast on CUDA and CPU, fp32 on MPS
    split_symbols: bool = False
    checkpoint_every: int = 50
    log_every: int = 100

    def validate(self) -> None:
        if self.method not in METHODS:
            raise InjectError(f"unknown method {self.method!r}; choose from: {', '.join(METHODS)}")
        positive = {
            "--steps": self.steps,
            "--batch-size": self.batch_size,
            "--kl-batch-size": self.kl_batch_size,
            "--kl-seq-len": self.kl_seq_len,
            "--checkpoint-every": self.checkpoint_every,
            "--log-every": self.log_every,
        }
        for flag, value in positive.items():
            if value < 1:
                raise InjectError(f"{flag} must be at least 1, got {value}")
        for flag, value in {
            "--lr": self.lr,
            "--adapter-lr": self.adapter_lr,
            "--kl-weight": self.kl_weight,
            "--algorithm-weight": self.algorithm_weight,
            "--weight-decay": self.weight_decay,
            "--warmup-steps": self.warmup_steps,
            "--grad-clip": self.grad_clip,
        }.items():
            if not value >= 0:
                raise InjectError(f"{flag} must be >= 0, got {value}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise InjectError(f"--precision must be auto, fp32 or bf16, got {self.precision!r}")

    def asdict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def uses_algorithm(self) -> bool:
        return self.method == "tracr"
