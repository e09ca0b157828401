"""Everything one injection run holds, and one training step on it.

``Injector`` loads the LM (fp32 master weights) and, for the KL term, a frozen copy; the task's
compiled injection program as a ``TorchProgram``; the linear adapter from the LM's hidden size
to the program's residual width; the task batches and the natural text; and AdamW over the LM and
the adapter. ``step_losses`` computes one step's loss terms:

- the task forward pass (for ``tracr``, detach-and-roll hooked onto the output of block ``L``,
  0-based, so blocks 0..L-1 are the ones aligned with the program's layers and the hook sits
  after the next one, as in the paper's code) and its answer cross-entropy (weighted by
  ``ce_weight``: 1, or rising to 1 over the first ``--ce-ramp`` steps);
- for ``tracr``, the algorithm loss between the adapter's image of the hidden states entering
  blocks 0..L (``aligned``) and the compiled program's residuals 0..L: the paper's cosine or a
  per-variable loss (``alignment``), and at the last step the per-variable summary that
  ``injection.json`` records;
- the KL of the LM to its frozen copy on windows of natural text.

``train_step`` adds the learning-rate schedule, the backward pass, clipping and the AdamW step;
a step whose loss terms (summed over the processes) or gradient norm are not finite is skipped
and reported (``stops``). The LM and the adapter form one module (``Trainable``) that accelerate
prepares (DDP when several processes run; see ``processes``); under FSDP the LM and the frozen
copy are sharded instead and the adapter stays replicated (``sharding``), and the module is
called as it is.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tracr_bench.compiler.task_programs import compile_task
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.compiler.variables import residual_variables
from tracr_bench.inject import alignment, losses, stops
from tracr_bench.inject.blocks import find_blocks, hidden_of, hidden_size, replace_hidden
from tracr_bench.inject.config import InjectConfig, InjectError
from tracr_bench.inject.data import NaturalText, TaskBatch, TaskData, check_context
from tracr_bench.inject.processes import Processes, check_divides, dropout_seed
from tracr_bench.models import heldout_text, load_model
from tracr_bench.task import Task, get_task

TERMS = ("ce", "algorithm", "kl", "loss")  # the loss terms of a step, in the order logged


def resolve_device(device: str) -> torch.device:
    """``auto`` (CUDA, then MPS, then the CPU) or a device torch can see; else InjectError
    (``preflight.resolve_device``'s line)."""
    from tracr_bench.preflight import PreflightError
    from tracr_bench.preflight import resolve_device as resolve

    try:
        return torch.device(resolve(device))
    except PreflightError as err:
        raise InjectError(str(err)) from None


def uses_bf16(device: torch.device, precision: str) -> bool:
    """``bf16``, or ``auto`` on CUDA and the CPU: bf16 autocast over fp32 master weights."""
    return precision == "bf16" or (precision == "auto" and device.type in ("cuda", "cpu"))


def _autocast(device: torch.device, precision: str) -> Callable[[], Any]:
    if not uses_bf16(device, precision):
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def ce_weight(step: int, cfg: InjectConfig) -> float:
    """The answer cross-entropy's weight at ``step`` (0-based): ``(step + 1) / ce_ramp`` for
    the first ``ce_ramp`` steps, then 1 (always 1 without a ramp)."""
    if cfg.ce_ramp and step < cfg.ce_ramp:
        return (step + 1) / cfg.ce_ramp
    return 1.0


def lr_factor(step: int, cfg: InjectConfig) -> float:
    """Linear warm-up, then cosine decay to 10% at the last step."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


@dataclasses.dataclass
class StepResult:
    """One optimiser step: the loss terms of the global batch, its tokens, and what was not
    finite (None when the step was applied; otherwise it was skipped)."""

    terms: dict[str, float]
    tokens: int
    nonfinite: str | None


class Trainable(torch.nn.Module):
    """The LM and the adapter, what AdamW trains, as the one module that DDP wraps; its forward
    pass is a step's loss terms on this process's shard, so that DDP sees one forward pass per
    backward pass. The frozen copy and the compiled program are not part of it."""

    def __init__(self, lm: torch.nn.Module, adapter: torch.nn.Module, terms: Callable) -> None:
        super().__init__()
        self.lm = lm
        self.adapter = adapter
        self.terms = terms

    def forward(self, step: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return self.terms(step)


class Injector:
    """Everything one run holds: the LM and its frozen copy, the compiled program, the adapter,
    the data, the optimiser, the processes, and the per-step loss computation."""

    def __init__(
        self,
        cfg: InjectConfig,
        base_path: Path,
        dev: torch.device,
        cache_dir: Path | None = None,
        processes: Processes | None = None,
    ) -> None:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.cfg = cfg
        self.processes = processes or Processes.start(dev)
        check_divides(cfg, self.processes.n)
        self.task = get_task(cfg.task)
        self.device = dev = self.processes.device
        torch.manual_seed(cfg.seed)
        fsdp = self.processes.fsdp  # under FSDP the LM stays on the CPU until sharded
        load_on = torch.device("cpu") if fsdp is not None else dev
        self.lm, self.tokenizer, self.merges_removed = _load_lm(base_path, self.task, cfg, load_on)
        self.blocks = find_blocks(self.lm)
        compiled = compile_task(self.task, "injection", cache_dir=cache_dir)
        self.program = TorchProgram.from_compiled(compiled).to(dev).eval()
        self.n_layers = L = self.program.n_layers
        if len(self.blocks) < L + 1:
            raise InjectError(
                f"the model has {len(self.blocks)} blocks; injecting {self.task.name!r} (a "
                f"{L}-layer program) needs at least {L + 1} (L + 1)"
            )
        # the LM hidden state aligned with each program residual 0..L: residual i with the input
        # of block i (the paper's placement); injection.json records it (``record``)
        self.aligned = list(range(L + 1))
        self.layout = alignment.VariableLayout.build(residual_variables(compiled), dev)
        self.per_variable: dict | None = None  # the last step's per-variable summary
        self._summary: torch.Tensor | None = None
        torch.manual_seed(cfg.seed)
        width = len(self.program.residual_labels)
        self.adapter = torch.nn.Linear(hidden_size(self.lm), width).to(dev)
        self.adapter.requires_grad_(cfg.uses_algorithm)  # the baseline leaves it as it starts
        self.frozen = None
        if cfg.kl_weight > 0:
            self.frozen = copy.deepcopy(self.lm).eval().requires_grad_(False)
        if fsdp is not None:
            fsdp.shard(self.lm, dev.type)
            if self.frozen is not None:
                fsdp.shard(self.frozen, dev.type, frozen=True)
        n_examples = cfg.steps * cfg.batch_size
        self.data = TaskData(self.task, self.tokenizer, self.program, n_examples, cfg.seed, dev)
        self.natural = NaturalText(heldout_text("kl"), self.tokenizer, cfg.kl_seq_len, dev)
        check_context(self.lm.config, self.task.name, self.data.ids.shape[1], cfg.kl_seq_len)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in self.lm.parameters() if p.requires_grad], "lr": cfg.lr},
                {"params": list(self.adapter.parameters()), "lr": cfg.adapter_lr},
            ],
            weight_decay=cfg.weight_decay,
        )
        self.base_lrs = [cfg.lr, cfg.adapter_lr]
        trainable = Trainable(self.lm, self.adapter, self._shard_terms)
        if fsdp is None:
            self.trainable, self.optimizer = self.processes.accelerator.prepare(
                trainable, optimizer
            )
        else:
            self.trainable, self.optimizer = trainable, optimizer
        self.subspace = losses.OutputSubspace(self.adapter, self.program.output_index.tolist())
        self.autocast = _autocast(dev, cfg.precision)
        self.refresh_s = 0.0

    @property
    def output_dims(self) -> int:
        """Residual dimensions of the program's output (the rows detach-and-roll keeps)."""
        return int(self.program.output_index.numel())

    def step_losses(self, step: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """This process's loss terms of ``step`` (``loss`` is their weighted sum; each a sum over
        its shard divided by the global batch's count) and its token count."""
        return self.trainable(step)

    def train_step(self, step: int) -> StepResult:
        """One optimiser step: schedule, losses, backward (gradients averaged over the
        processes), clipping, AdamW, unless a loss term or the gradient is not finite."""
        self.set_lr(step)
        terms, tokens = self.step_losses(step)
        self.processes.accelerator.backward(terms["loss"] * self.processes.n)
        max_norm, fsdp = self.cfg.grad_clip or math.inf, self.processes.fsdp
        if fsdp is None:
            norm = self.processes.accelerator.clip_grad_norm_(self.trained_params(), max_norm)
        else:
            fsdp.average_gradients(list(self.adapter.parameters()))
            norm = fsdp.clip_grad_norm(self.trained_params(), max_norm)
        local = torch.stack([*(terms[k].detach().float() for k in TERMS), tokens.float()])
        summary, self._summary = self._summary, None
        if summary is not None:  # the last step: the per-variable summary in the same sum
            local = torch.cat([local, summary.flatten()])
        summed = self.processes.sum(local)
        if summary is not None:
            sums = summed[len(TERMS) + 1 :].reshape(summary.shape)
            self.per_variable = alignment.summarize(sums, self.layout)
        *values, total_tokens = summed[: len(TERMS) + 1].tolist()
        totals = dict(zip(TERMS, values, strict=True))
        nonfinite = stops.nonfinite(totals, float(norm))
        if nonfinite is None:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepResult(totals, int(total_tokens), nonfinite)

    def set_lr(self, step: int) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * lr_factor(step, self.cfg)

    def trained_params(self) -> list[torch.nn.Parameter]:
        return [p for g in self.optimizer.param_groups for p in g["params"] if p.requires_grad]

    def _shard_terms(self, step: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The loss terms of ``step`` on this process's shard of the global batch."""
        cfg, procs = self.cfg, self.processes
        torch.manual_seed(dropout_seed(cfg.seed, step, procs.rank))
        index = torch.arange(step * cfg.batch_size, (step + 1) * cfg.batch_size)
        batch = self.data.batch(index, procs.shard(cfg.batch_size))
        result = self._task_forward(batch)
        ce = losses.answer_cross_entropy(
            result.logits, batch.ids, batch.answer_mask, batch.answer_tokens
        )
        terms = {"ce": ce, "algorithm": ce.new_zeros(()), "kl": ce.new_zeros(())}
        if cfg.uses_algorithm:
            terms["algorithm"] = self._algorithm_loss(
                result.hidden_states, batch, summarize=step == cfg.steps - 1
            )
        tokens = batch.attention_mask.sum()
        if self.frozen is not None:
            text = self.natural.batch(
                cfg.kl_batch_size, self.generator, procs.shard(cfg.kl_batch_size)
            )
            terms["kl"] = self._kl_loss(text, cfg.kl_batch_size * cfg.kl_seq_len)
            tokens = tokens + text.numel()
        weight = ce_weight(step, cfg)
        ce = terms["ce"] if weight == 1.0 else weight * terms["ce"]
        terms["loss"] = ce + cfg.algorithm_weight * terms["algorithm"] + cfg.kl_weight * terms["kl"]
        return terms, tokens

    def _task_forward(self, batch: TaskBatch) -> Any:
        """The LM on the task batch; for ``tracr`` with the hidden states and detach-and-roll at
        the output of block ``aligned[-1]`` (the projection refreshed from the adapter
        first)."""
        handle = None
        if self.cfg.uses_algorithm:
            t0 = time.perf_counter()
            self.subspace.refresh()
            self.refresh_s += time.perf_counter() - t0
            handle = self.blocks[self.aligned[-1]].register_forward_hook(self._detach_and_roll)
        try:
            with self.autocast():
                return self.lm(
                    input_ids=batch.ids,
                    attention_mask=batch.attention_mask,
                    output_hidden_states=self.cfg.uses_algorithm,
                )
        finally:
            if handle is not None:
                handle.remove()

    def _detach_and_roll(self, module: Any, inputs: Any, output: Any) -> Any:
        previous = self.processes.previous_row if self.processes.n > 1 else None
        rolled = losses.detach_and_roll(hidden_of(output), self.subspace, previous)
        return replace_hidden(output, rolled)

    def _algorithm_loss(
        self, hidden_states: Any, batch: TaskBatch, summarize: bool
    ) -> torch.Tensor:
        """The algorithm loss (``--algorithm-loss``) between the adapter's image of the aligned
        hidden states and the program's residuals 0..L (BOS dropped), on the positions the
        program reads. With ``summarize``, also keeps this shard's per-variable sums for
        ``train_step`` (whatever the loss)."""
        with torch.no_grad():
            residuals = [r[:, 1:] for r in self.program(batch.program_ids).residuals]
        width = batch.program_mask.shape[1]
        aligned = [hidden_states[a][:, :width] for a in self.aligned]
        kind, loss = self.cfg.algorithm_loss, None
        if kind == "cosine":
            with self.autocast():
                loss = losses.algorithm_loss(
                    aligned, residuals, self.adapter, batch.program_mask, batch.program_tokens
                )
            if not summarize:
                return loss
        with torch.no_grad() if kind == "cosine" else contextlib.nullcontext(), self.autocast():
            y = self.adapter(torch.stack(aligned)).float()
        layers = list(range(self.n_layers + 1))
        terms = alignment.variable_terms(y, torch.stack(residuals).float(), layers, self.layout)
        if summarize:
            self._summary = alignment.summary_sums(terms, batch.program_mask)
        if loss is not None:
            return loss
        metric = "cosine" if kind == "per-variable" else "ce"
        return alignment.per_variable_loss(terms, metric, batch.program_mask, batch.program_tokens)

    def _kl_loss(self, text: torch.Tensor, denominator: int) -> torch.Tensor:
        """KL(frozen copy || LM) summed over the tokens of ``text``, over ``denominator``."""
        with self.autocast():
            logits = self.lm(input_ids=text).logits
            with torch.no_grad():
                original = self.frozen(input_ids=text).logits
                if self.processes.fsdp is not None:  # the root unit stays whole otherwise
                    self.frozen.reshard()
        return losses.kl_to_original(logits, original, denominator)


def _load_lm(base_path: Path, task: Task, cfg: InjectConfig, dev: torch.device) -> tuple:
    """The LM on ``dev`` (fp32), its tokenizer (derived for ``split_symbols``), and the number
    of BPE merges removed (None without ``split_symbols``)."""
    from tracr_bench.inject.split_symbols import derive

    lm, tokenizer = load_model(base_path, dtype=torch.float32)
    merges_removed = None
    if cfg.split_symbols:
        tokenizer, merges_removed = derive(tokenizer, task)
    return lm.to(dev), tokenizer, merges_removed
