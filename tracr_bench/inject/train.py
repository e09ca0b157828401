"""The injection run, top to bottom (as nanoGPT's train.py): config, model and data, optimiser,
resume, loop, checkpoint, save.

``inject()`` (what ``tracr-bench inject`` calls with the flags it was given):

1. config: an ``InjectConfig`` (or keyword options naming its fields), checked; the run folder
   checked, or with ``resume`` the checkpoint's configuration, which wins;
2. model, data and optimiser: an ``Injector`` (LM and frozen copy, compiled program, adapter,
   task batches, natural text, AdamW);
3. resume: weights, AdamW moments, random states and the loss log from the checkpoint;
4. the loop: per step the learning-rate schedule, the loss terms, backward, clipping, AdamW
   (``Injector.train_step``) and the loss log;
5. a checkpoint every ``checkpoint_every`` steps and at the end of the call;
6. save: the model folder, then ``injection.json`` (``run_folder``).

``baseline`` is the same loop without detach-and-roll and the algorithm loss.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from tracr_bench.compiler.task_programs import OUTPUT_NAME
from tracr_bench.inject.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from tracr_bench.inject.config import InjectConfig, InjectError, unknown_options
from tracr_bench.inject.injector import Injector, resolve_device, uses_bf16
from tracr_bench.inject.run_folder import (
    ADAPTER,
    CHECKPOINTS,
    RECORD,
    check_resumable,
    prepare_output,
    save_model_folder,
)
from tracr_bench.models import resolve_model_path, weights_digest
from tracr_bench.task import get_task

__all__ = ["ADAPTER", "CHECKPOINTS", "RECORD", "Injector", "inject", "resolve_device"]


@dataclasses.dataclass(frozen=True)
class Run:
    """Where and how one call runs (not part of the configuration a checkpoint keeps)."""

    output: Path
    model: str  # as asked for: a path or "default"
    base_path: Path
    device: torch.device
    cache_dir: Path | None
    progress: bool
    stop_after: int | None


def _empty_window() -> dict[str, float]:
    return {"ce": 0.0, "algorithm": 0.0, "kl": 0.0, "loss": 0.0, "n": 0}


@dataclasses.dataclass
class TrainState:
    """What the loop carries from step to step; a checkpoint keeps all but this call's figures."""

    step: int = 0  # steps done
    log: list[dict[str, float]] = dataclasses.field(default_factory=list)
    window: dict[str, float] = dataclasses.field(default_factory=_empty_window)  # sums to log
    elapsed_s: float = 0.0  # loop time of the calls before this one
    resumed_from: int = 0
    tokens: int = 0  # tokens trained on in this call
    last: dict[str, float] = dataclasses.field(default_factory=dict)  # the last step's terms

    def advance(self, terms: dict[str, float], tokens: int, cfg: InjectConfig) -> None:
        """Count one step; every ``log_every`` steps (and at the last) log the window's means."""
        self.step += 1
        self.tokens += tokens
        self.last = terms
        for k, v in terms.items():
            self.window[k] += v
        self.window["n"] += 1
        if self.step % cfg.log_every == 0 or self.step == cfg.steps:
            n = self.window.pop("n")
            self.log.append(
                {"step": self.step, **{k: round(v / n, 6) for k, v in self.window.items()}}
            )
            self.window = _empty_window()


def inject(
    config: InjectConfig | None = None,
    *,
    output: str | Path,
    model: str | Path = "default",
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    cache_dir: Path | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Inject ``config.task``'s compiled program into ``model`` (or train the baseline), save
    the result to ``output`` and return the ``injection.json`` record.

    ``options`` are fields of ``InjectConfig``: they replace those of ``config``, or make the
    configuration when ``config`` is None (``task`` is then required). With ``resume`` the
    checkpoint's configuration is used; what was asked for (all of ``config``, else the
    ``options``) must agree with it. ``stop_after`` ends the run after that many steps of this
    call, leaving a checkpoint (as an interrupt would): for tests and for splitting a long run.
    """
    cfg, asked = _configure(config, options)
    run = Run(
        output=Path(output).expanduser(),
        model=str(model),
        device=resolve_device(device),
        base_path=resolve_model_path(model),
        cache_dir=cache_dir,
        progress=progress,
        stop_after=stop_after,
    )
    checkpoint, created = None, False
    if resume:
        checkpoint = check_resumable(run.output)
        cfg = _resumed_config(checkpoint, cfg, asked, run)
    else:
        created = prepare_output(run.output)
    try:
        return _train(cfg, run, checkpoint)
    except BaseException:
        if created and latest_checkpoint(run.output / CHECKPOINTS) is None:
            shutil.rmtree(run.output, ignore_errors=True)  # nothing worth keeping
        raise


def _configure(
    config: InjectConfig | None, options: dict[str, Any]
) -> tuple[InjectConfig, set[str]]:
    """The checked configuration, and the names of the fields that were asked for."""
    unknown = unknown_options(options)
    if unknown:
        raise InjectError(f"unknown injection options: {', '.join(unknown)}")
    if config is None:
        if "task" not in options:
            raise InjectError("no task given: inject(InjectConfig(task=...)) or inject(task=...)")
        cfg, asked = InjectConfig(**options), set(options)
    else:
        cfg = dataclasses.replace(config, **options)
        asked = {f.name for f in dataclasses.fields(cfg)}
    cfg = dataclasses.replace(cfg, task=get_task(cfg.task).name)
    cfg.validate()
    return cfg, asked


def _resumed_config(checkpoint: Path, cfg: InjectConfig, asked: set[str], run: Run) -> InjectConfig:
    """The configuration saved with ``checkpoint``; InjectError if an asked-for field or the
    base model differs from it."""
    saved = json.loads((checkpoint / "state.json").read_text())
    saved_cfg = InjectConfig(**saved["config"])
    clash = {
        k: (getattr(cfg, k), getattr(saved_cfg, k))
        for k in sorted(asked)
        if getattr(cfg, k) != getattr(saved_cfg, k)
    }
    if saved["base_model"] != str(run.base_path.resolve()):
        clash["model"] = (str(run.base_path.resolve()), saved["base_model"])
    if clash:
        differences = ", ".join(f"{k}: {a} vs {b}" for k, (a, b) in clash.items())
        raise InjectError(f"--resume: the options differ from the checkpoint's run ({differences})")
    return saved_cfg


def _train(cfg: InjectConfig, run: Run, checkpoint: Path | None) -> dict[str, Any]:
    t_setup = time.time()
    inj = Injector(cfg, run.base_path, run.device, run.cache_dir)
    state = _restore(inj, checkpoint) if checkpoint is not None else TrainState()
    setup_s = time.time() - t_setup

    end = cfg.steps if run.stop_after is None else min(cfg.steps, state.step + run.stop_after)
    inj.lm.train()
    loop_s = _loop(inj, state, end, run)
    if end < cfg.steps:
        return {"stopped_at": end, "steps": cfg.steps, "output": str(run.output)}

    inj.lm.eval()
    record = _record(inj, state, run, setup_s, loop_s)
    save_model_folder(
        run.output,
        inj.lm,
        inj.tokenizer,
        inj.adapter,
        inj.program.residual_labels,
        OUTPUT_NAME,
        record,
    )
    return record


def _restore(inj: Injector, checkpoint: Path) -> TrainState:
    """Weights, AdamW moments and random states from ``checkpoint``; the loop's state."""
    info, rng = load_checkpoint(checkpoint, inj.lm, inj.adapter, inj.optimizer)
    torch.set_rng_state(rng["torch"])
    inj.generator.set_state(rng["kl_generator"])
    return TrainState(
        step=info["step"],
        log=info["log"],
        window=info["window"],
        elapsed_s=info["elapsed_s"],
        resumed_from=info["step"],
    )


def _loop(inj: Injector, state: TrainState, end: int, run: Run) -> float:
    """Train steps ``state.step .. end - 1``, checkpointing; returns the loop's wall time."""
    from tqdm.auto import tqdm

    cfg = inj.cfg
    bar = tqdm(
        range(state.step, end),
        initial=state.step,
        total=cfg.steps,
        desc=f"{cfg.method} {cfg.task}",
        disable=not run.progress,
        unit="step",
    )
    t_loop = time.time()
    for step in bar:
        terms, tokens = inj.train_step(step)
        state.advance(terms, tokens, cfg)
        bar.set_postfix(
            ce=f"{terms['ce']:.3f}",
            alg=f"{terms['algorithm']:.3f}",
            kl=f"{terms['kl']:.4f}",
            refresh=False,
        )
        if state.step % cfg.checkpoint_every == 0 or state.step == end:
            _checkpoint(inj, state, run, state.elapsed_s + time.time() - t_loop)
    bar.close()
    return time.time() - t_loop


def _checkpoint(inj: Injector, state: TrainState, run: Run, elapsed_s: float) -> None:
    rng = {"torch": torch.get_rng_state(), "kl_generator": inj.generator.get_state()}
    meta = {
        "config": inj.cfg.asdict(),
        "base_model": str(run.base_path.resolve()),
        "log": state.log,
        "window": state.window,
        "elapsed_s": elapsed_s,
    }
    folder = run.output / CHECKPOINTS
    save_checkpoint(folder, state.step, inj.lm, inj.adapter, inj.optimizer, rng, meta)


def _record(
    inj: Injector, state: TrainState, run: Run, setup_s: float, loop_s: float
) -> dict[str, Any]:
    """``injection.json``: task, method, configuration, base model, program, losses, timings."""
    cfg, dev = inj.cfg, run.device
    steps_here = max(1, state.step - state.resumed_from)
    return {
        "task": inj.task.name,
        "task_version": inj.task.version,
        "method": cfg.method,
        "seed": cfg.seed,
        "steps": cfg.steps,
        "config": cfg.asdict(),
        "base_model": {
            "requested": run.model,
            "path": str(run.base_path.resolve()),
            "weights_sha256": weights_digest(run.base_path),
        },
        "program": {
            "layers": inj.n_layers,
            "residual_dims": len(inj.program.residual_labels),
            "max_seq_len": inj.program.max_seq_len,
            "output_dims": inj.output_dims,
            "detach_and_roll_block": inj.n_layers if cfg.uses_algorithm else None,
        },
        "tokenizer": {"split_symbols": cfg.split_symbols, "merges_removed": inj.merges_removed},
        "losses": {"final": state.last, "log": state.log},
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type,
        "precision": "bf16" if uses_bf16(dev, cfg.precision) else "fp32",
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "wall_time_s": round(state.elapsed_s + loop_s, 3),
        "setup_s": round(setup_s, 3),
        "step_time_s": round(loop_s / steps_here, 4),
        "tokens_per_s": round(state.tokens / loop_s, 1) if loop_s > 0 else None,
        "projection_refresh_ms_per_step": round(1e3 * inj.refresh_s / steps_here, 4)
        if cfg.uses_algorithm
        else None,
        "resumed_from_step": state.resumed_from or None,
    }
