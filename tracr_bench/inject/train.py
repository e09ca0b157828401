"""The injection loop: one function, read top to bottom.

``inject()`` loads the LM and the task's compiled injection program, then for each step
1. draws the step's task examples (prompt, answer and the newline that ends the answer; fixed by
   the step index) and KL windows (seeded generator);
2. ``tracr``: refreshes the output subspace of the adapter and hooks detach-and-roll onto the
   output of block ``L`` (0-based, so blocks 0..L-1 are the ones aligned with the program's
   layers and the hook sits after the next one, as in the paper's code);
3. forward on the task batch: answer cross-entropy, and for ``tracr`` the algorithm loss between
   the adapter's image of the hidden states entering blocks 0..L and the compiled residuals;
4. forward of the LM and of its frozen copy on natural text: the KL term;
5. one AdamW step on the weighted sum; a checkpoint every ``checkpoint_every`` steps.
``baseline`` is the same loop without step 2 and the algorithm loss.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from tracr_bench.compiler.task_programs import OUTPUT_NAME, compile_task
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.inject import losses
from tracr_bench.inject.blocks import find_blocks, hidden_of, hidden_size, replace_hidden
from tracr_bench.inject.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    write_json_atomic,
)
from tracr_bench.inject.config import InjectConfig, InjectError
from tracr_bench.inject.data import NaturalText, TaskData
from tracr_bench.models import heldout_text, load_model, resolve_model_path, weights_digest
from tracr_bench.task import get_task

RECORD = "injection.json"
ADAPTER = "adapter.safetensors"
CHECKPOINTS = "checkpoints"


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise InjectError(f"unknown device {device!r}; choose auto, cpu, cuda or mps")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InjectError("--device cuda asked for, but torch sees no CUDA device")
    if device == "mps" and not torch.backends.mps.is_available():
        raise InjectError("--device mps asked for, but torch sees no MPS device")
    return torch.device(device)


def _autocast(device: torch.device, precision: str):
    bf16 = precision == "bf16" or (precision == "auto" and device.type in ("cuda", "cpu"))
    if not bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def _prepare_output(output: Path, resume: bool) -> bool:
    """Check the run folder; True if this call created it (removed again on early failure)."""
    if resume:
        if latest_checkpoint(output / CHECKPOINTS) is None:
            raise InjectError(f"--resume: {str(output)!r} holds no checkpoint to resume from")
        if (output / RECORD).exists():
            raise InjectError(f"--resume: {str(output)!r} already holds a finished injection")
        return False
    if output.exists():
        if not output.is_dir():
            raise InjectError(f"output {str(output)!r} exists and is not a folder")
        if any(output.iterdir()):
            hint = (
                "; it holds an unfinished run: pass --resume"
                if (output / CHECKPOINTS).exists()
                else ""
            )
            raise InjectError(f"output folder {str(output)!r} is not empty{hint}")
    created = not output.exists()
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=output, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as err:
        if created:
            shutil.rmtree(output, ignore_errors=True)
        raise InjectError(
            f"cannot write to output folder {str(output)!r}: {err.strerror}"
        ) from None
    return created


def _lr_factor(step: int, cfg: InjectConfig) -> float:
    """Linear warm-up, then cosine decay to 10% at the last step."""
    import math

    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def inject(
    model: str | Path = "default",
    task: str = "shuffle_dyck",
    method: str = "tracr",
    *,
    output: str | Path,
    steps: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    adapter_lr: float | None = None,
    kl_weight: float | None = None,
    algorithm_weight: float | None = None,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    split_symbols: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    cache_dir: Path | None = None,
    **options,
) -> dict:
    """Inject ``task``'s compiled program into ``model`` (or train the baseline) and save the
    result to ``output``; returns the ``injection.json`` record (``None`` values = defaults).

    ``stop_after`` ends the run after that many steps of this call, leaving a checkpoint (as an
    interrupt would): for tests and for splitting a long run."""
    given = {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "adapter_lr": adapter_lr,
        "kl_weight": kl_weight,
        "algorithm_weight": algorithm_weight,
        **options,
    }
    given = {k: v for k, v in given.items() if v is not None}
    unknown = set(given) - set(InjectConfig.__dataclass_fields__)
    if unknown:
        raise InjectError(f"unknown injection options: {', '.join(sorted(unknown))}")
    the_task = get_task(task)
    cfg = InjectConfig(
        task=the_task.name, method=method, seed=seed, split_symbols=split_symbols, **given
    )
    cfg.validate()
    out = Path(output).expanduser()
    dev = resolve_device(device)
    base_path = resolve_model_path(model)
    base_path_str = str(base_path.resolve())

    # -- resume: the checkpoint's configuration wins; a conflicting option is an error
    ckpt = None
    if resume:
        _prepare_output(out, resume=True)
        ckpt = latest_checkpoint(out / CHECKPOINTS)
        saved = json.loads((ckpt / "state.json").read_text())
        saved_cfg = InjectConfig(**saved["config"])
        clash = {
            k: (v, getattr(saved_cfg, k))
            for k, v in {**given, "method": method, "seed": seed}.items()
            if getattr(saved_cfg, k) != v
        }
        if saved["base_model"] != base_path_str or saved_cfg.task != cfg.task or clash:
            raise InjectError(
                f"--resume: the options differ from the checkpoint's run "
                f"({', '.join(f'{k}: {a} vs {b}' for k, (a, b) in clash.items()) or 'model/task'})"
            )
        cfg = saved_cfg
    created = _prepare_output(out, resume=False) if not resume else False

    try:
        return _run(cfg, base_path, out, dev, ckpt, progress, stop_after, cache_dir, model)
    except BaseException:
        if created and latest_checkpoint(out / CHECKPOINTS) is None:
            shutil.rmtree(out, ignore_errors=True)  # nothing worth keeping
        raise


class Injector:
    """Everything one run holds: the LM and its frozen copy, the compiled program, the adapter,
    the data, and the per-step loss computation."""

    def __init__(
        self, cfg: InjectConfig, base_path: Path, dev: torch.device, cache_dir=None
    ) -> None:
        from transformers.utils import logging as hf_logging

        from tracr_bench.inject.split_symbols import derive

        hf_logging.disable_progress_bar()
        self.cfg = cfg
        self.task = get_task(cfg.task)
        self.device = dev
        torch.manual_seed(cfg.seed)
        lm, tokenizer = load_model(base_path, dtype=torch.float32)  # fp32 master weights
        self.merges_removed = None
        if cfg.split_symbols:
            tokenizer, self.merges_removed = derive(tokenizer, self.task)
        self.lm, self.tokenizer = lm.to(dev), tokenizer
        self.blocks = find_blocks(lm)
        compiled = compile_task(self.task, "injection", cache_dir=cache_dir)
        self.program = TorchProgram.from_compiled(compiled).to(dev).eval()
        self.n_layers = L = self.program.n_layers
        if len(self.blocks) < L + 1:
            raise InjectError(
                f"the model has {len(self.blocks)} blocks; injecting {self.task.name!r} (a "
                f"{L}-layer program) needs at least {L + 1} (L + 1)"
            )
        torch.manual_seed(cfg.seed)
        self.adapter = torch.nn.Linear(hidden_size(lm), len(self.program.residual_labels)).to(dev)
        self.frozen = None
        if cfg.kl_weight > 0:
            self.frozen = copy.deepcopy(lm).eval().requires_grad_(False)
        n = cfg.steps * cfg.batch_size
        self.data = TaskData(self.task, tokenizer, self.program, n, cfg.seed, dev)
        self.natural = NaturalText(heldout_text("kl"), tokenizer, cfg.kl_seq_len, dev)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in lm.parameters() if p.requires_grad], "lr": cfg.lr},
                {"params": list(self.adapter.parameters()), "lr": cfg.adapter_lr},
            ],
            weight_decay=cfg.weight_decay,
        )
        self.base_lrs = [cfg.lr, cfg.adapter_lr]
        self.subspace = losses.OutputSubspace(self.adapter, self.program._indices(OUTPUT_NAME))
        self.autocast = _autocast(dev, cfg.precision)
        self.refresh_s = 0.0

    def _hook(self, module, inputs, output):
        return replace_hidden(output, losses.detach_and_roll(hidden_of(output), self.subspace))

    def step_losses(self, step: int) -> tuple[dict[str, torch.Tensor], int]:
        """The loss terms of ``step`` (``loss`` is their weighted sum) and its token count."""
        cfg = self.cfg
        index = torch.arange(step * cfg.batch_size, (step + 1) * cfg.batch_size)
        batch = self.data.batch(index)
        handle = None
        if cfg.uses_algorithm:
            t0 = time.perf_counter()
            self.subspace.refresh()
            self.refresh_s += time.perf_counter() - t0
            handle = self.blocks[self.n_layers].register_forward_hook(self._hook)
        try:
            with self.autocast():
                res = self.lm(
                    input_ids=batch.ids,
                    attention_mask=batch.attention_mask,
                    output_hidden_states=cfg.uses_algorithm,
                )
        finally:
            if handle is not None:
                handle.remove()
        out = {"ce": losses.answer_cross_entropy(res.logits, batch.ids, batch.answer_mask)}
        zero = out["ce"].new_zeros(())
        out["algorithm"] = zero
        if cfg.uses_algorithm:
            with torch.no_grad():
                residuals = [r[:, 1:] for r in self.program(batch.program_ids).residuals]
            with self.autocast():
                width = batch.program_mask.shape[1]
                out["algorithm"] = losses.algorithm_loss(
                    [h[:, :width] for h in res.hidden_states[: self.n_layers + 1]],
                    residuals,
                    self.adapter,
                    batch.program_mask,
                )
        out["kl"] = zero
        tokens = int(batch.attention_mask.sum())
        if self.frozen is not None:
            text = self.natural.batch(cfg.kl_batch_size, self.generator)
            with self.autocast():
                logits = self.lm(input_ids=text).logits
                with torch.no_grad():
                    original = self.frozen(input_ids=text).logits
            out["kl"] = losses.kl_to_original(logits, original)
            tokens += text.numel()
        out["loss"] = (
            out["ce"] + cfg.algorithm_weight * out["algorithm"] + cfg.kl_weight * out["kl"]
        )
        return out, tokens

    def set_lr(self, step: int) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * _lr_factor(step, self.cfg)

    def trained_params(self) -> list[torch.nn.Parameter]:
        return [p for g in self.optimizer.param_groups for p in g["params"]]


def _run(cfg, base_path, out, dev, ckpt, progress, stop_after, cache_dir, requested) -> dict:
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    t_setup = time.time()
    inj = Injector(cfg, base_path, dev, cache_dir)
    task, lm, adapter, program = inj.task, inj.lm, inj.adapter, inj.program
    start, log, elapsed = 0, [], 0.0
    window = {"ce": 0.0, "algorithm": 0.0, "kl": 0.0, "loss": 0.0, "n": 0}
    if ckpt is not None:
        info, rng = load_checkpoint(ckpt, lm, adapter, inj.optimizer)
        start, log, elapsed = info["step"], info["log"], info["elapsed_s"]
        window = info["window"]
        torch.set_rng_state(rng["torch"])
        inj.generator.set_state(rng["kl_generator"])
    setup_s = time.time() - t_setup

    lm.train()
    last: dict = {}
    tokens = 0
    end = cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    bar = tqdm(
        range(start, end),
        initial=start,
        total=cfg.steps,
        desc=f"{cfg.method} {task.name}",
        disable=not progress,
        unit="step",
    )
    t_loop = time.time()
    for step in bar:
        inj.set_lr(step)
        terms, n_tokens = inj.step_losses(step)
        terms["loss"].backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(inj.trained_params(), cfg.grad_clip)
        inj.optimizer.step()
        inj.optimizer.zero_grad(set_to_none=True)
        tokens += n_tokens

        last = {k: v.item() for k, v in terms.items()}
        for k, v in last.items():
            window[k] += v
        window["n"] += 1
        bar.set_postfix(
            ce=f"{last['ce']:.3f}",
            alg=f"{last['algorithm']:.3f}",
            kl=f"{last['kl']:.4f}",
            refresh=False,
        )
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            n = window.pop("n")
            log.append({"step": done, **{k: round(v / n, 6) for k, v in window.items()}})
            window = {"ce": 0.0, "algorithm": 0.0, "kl": 0.0, "loss": 0.0, "n": 0}
        if done % cfg.checkpoint_every == 0 or done == end:
            rng = {"torch": torch.get_rng_state(), "kl_generator": inj.generator.get_state()}
            meta = {
                "config": cfg.asdict(),
                "base_model": str(base_path.resolve()),
                "log": log,
                "window": window,
                "elapsed_s": elapsed + time.time() - t_loop,
            }
            save_checkpoint(out / CHECKPOINTS, done, lm, adapter, inj.optimizer, rng, meta)
    bar.close()
    loop_s = time.time() - t_loop
    if end < cfg.steps:
        return {"stopped_at": end, "steps": cfg.steps, "output": str(out)}

    # -- the finished run: model, tokenizer, adapter, record; injection.json written last
    steps_here = end - start
    lm.eval()
    record = {
        "task": task.name,
        "task_version": task.version,
        "method": cfg.method,
        "seed": cfg.seed,
        "steps": cfg.steps,
        "config": cfg.asdict(),
        "base_model": {
            "requested": str(requested),
            "path": str(base_path.resolve()),
            "weights_sha256": weights_digest(base_path),
        },
        "program": {
            "layers": inj.n_layers,
            "residual_dims": len(program.residual_labels),
            "max_seq_len": program.max_seq_len,
            "output_dims": len(program._indices(OUTPUT_NAME)),
            "detach_and_roll_block": inj.n_layers if cfg.uses_algorithm else None,
        },
        "tokenizer": {"split_symbols": cfg.split_symbols, "merges_removed": inj.merges_removed},
        "losses": {"final": last, "log": log},
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type,
        "precision": "bf16"
        if _autocast(dev, cfg.precision) is not contextlib.nullcontext
        else "fp32",
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "wall_time_s": round(elapsed + loop_s, 3),
        "setup_s": round(setup_s, 3),
        "step_time_s": round(loop_s / max(1, steps_here), 4),
        "tokens_per_s": round(tokens / loop_s, 1) if loop_s > 0 else None,
        "projection_refresh_ms_per_step": round(1e3 * inj.refresh_s / max(1, steps_here), 4)
        if cfg.uses_algorithm
        else None,
        "resumed_from_step": start or None,
    }
    partial = Path(tempfile.mkdtemp(prefix=".final-", dir=out))
    try:
        lm.save_pretrained(partial)
        inj.tokenizer.save_pretrained(partial)
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in adapter.state_dict().items()},
            str(partial / ADAPTER),
            metadata={
                "residual_labels": json.dumps(program.residual_labels),
                "output_name": OUTPUT_NAME,
            },
        )
        for f in sorted(partial.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    write_json_atomic(out / RECORD, record)
    shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    return record
