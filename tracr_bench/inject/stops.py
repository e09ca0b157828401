"""How an injection run stops early, in one line that says what happened, what was kept and what
to do next.

- Divergence: a step whose loss terms (answer cross-entropy, algorithm loss, KL) or gradient norm
  are not finite is skipped (no update); ``max_nonfinite_steps`` consecutive ones (default 1: the
  first) stop the run with ``Diverged``, as does a projection onto the output subspace that
  cannot be computed. The last checkpoint (taken before the bad step) is kept; no model is saved.
- An interrupt (Ctrl-C): ``Interrupted``, a ``KeyboardInterrupt`` that carries the line, naming
  the last checkpoint and the command that resumes from it (``tracr-bench inject`` exits 130).
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from tracr_bench.inject.config import InjectConfig, InjectError

TERM_NAMES = {"ce": "the answer cross-entropy", "algorithm": "the algorithm loss", "kl": "the KL"}


class Diverged(InjectError):
    """The run stopped because its loss or gradient stopped being finite."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; ``str()`` is the line that says what was kept."""


def nonfinite(terms: dict[str, float], grad_norm: float) -> str | None:
    """What is not finite in a step ("the KL is nan"), or None."""
    for key, name in TERM_NAMES.items():
        if not math.isfinite(terms[key]):
            return f"{name} is {terms[key]}"
    if not math.isfinite(grad_norm):
        return f"the gradient norm is {grad_norm}"
    return None


def divergence_cause(step: int, what: str, streak: int, cfg: InjectConfig) -> str:
    """The first part of the line: where the run diverged and which term (``step`` is 1-based)."""
    where = f"training diverged at step {step} of {cfg.steps}: {what}"
    if streak > 1:
        where += f" ({streak} steps in a row, {step - streak + 1}-{step}, were not finite)"
    return where


def divergence_hint(cfg: InjectConfig, bf16: bool) -> str:
    """What to try: lower learning rates, and fp32 when the run used bf16 autocast."""
    hint = f"try a lower --lr (now {cfg.lr:g})"
    if cfg.uses_algorithm:
        hint += f" or --adapter-lr (now {cfg.adapter_lr:g})"
    if bf16:
        hint += ", or --precision fp32 (bf16 autocast now)"
    if cfg.grad_clip == 0:
        hint += ", or clip the gradient (--grad-clip 1)"
    return hint


def kept(output: Path, checkpoint_step: int | None) -> str:
    """What a stopped run left in ``output``."""
    if checkpoint_step is None:
        return "no checkpoint had been written, so nothing was kept"
    return (
        f"the checkpoint of step {checkpoint_step} is kept in {output / 'checkpoints'} "
        "(no model was saved)"
    )


def resume_command(output: Path, model: str) -> str:
    """The command that continues the run saved in ``output``."""
    words = ["tracr-bench", "inject", "--output", str(output)]
    if model != "default":
        words += ["--model", model]
    return shlex.join([*words, "--resume"])


def interrupted_line(
    cfg: InjectConfig, output: Path, model: str, step: int, checkpoint_step: int | None
) -> str:
    """The line of an interrupt after ``step`` steps done."""
    line = f"inject ({cfg.method}, {cfg.task}) interrupted after {step} of {cfg.steps} steps: "
    if checkpoint_step is None:
        return line + "no checkpoint had been written, so nothing was kept"
    return (
        line + f"kept the checkpoint of step {checkpoint_step} in {output / 'checkpoints'}; "
        f"continue with: {resume_command(output, model)}"
    )
