"""The injection run, top to bottom (as nanoGPT's train.py): config, model and data, optimiser,
resume, loop, checkpoint, save.

``inject()`` (what ``tracr-bench inject`` calls with the flags it was given):

1. config: an ``InjectConfig`` (or keyword options naming its fields), checked; the run folder
   checked, or with ``resume`` the checkpoint's configuration, which wins;
2. model, data and optimiser: an ``Injector`` (LM and frozen copy, compiled program, adapter,
   task batches, natural text, AdamW) on this process, one of ``processes`` (1 without a
   launcher; data parallel under ``torchrun`` or ``accelerate launch``);
3. resume: weights, AdamW moments, the text generator's state and the loss log;
4. the loop: per step the learning-rate schedule, the loss terms, backward, clipping, AdamW
   (``Injector.train_step``) and the loss log; a non-finite step is skipped, and
   ``max_nonfinite_steps`` in a row stop the run (``stops``);
5. a checkpoint every ``checkpoint_every`` steps and at the end of the call (main process);
6. save: the model folder, then ``injection.json`` (``run_folder``; main process).

Under FSDP every process takes part in a checkpoint and a save (the full state dicts are
gathered, ``sharding.saveable``), and the main process writes the same files as without.

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
from tracr_bench.inject import stops
from tracr_bench.inject.checkpoint import (
    checkpoint_step,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from tracr_bench.inject.config import InjectConfig, InjectError, saved_config, unknown_options
from tracr_bench.inject.injector import Injector, StepResult, resolve_device, uses_bf16
from tracr_bench.inject.losses import ProjectionError
from tracr_bench.inject.processes import Processes, check_divides
from tracr_bench.inject.record import injection_record
from tracr_bench.inject.run_folder import (
    ADAPTER,
    CHECKPOINTS,
    RECORD,
    SNAPSHOTS,
    check_resumable,
    prepare_output,
    save_model_folder,
)
from tracr_bench.inject.sharding import loadable, saveable
from tracr_bench.inject.stops import Diverged, Interrupted, divergence_cause
from tracr_bench.models import resolve_model_path
from tracr_bench.task import get_task

__all__ = ["ADAPTER", "CHECKPOINTS", "RECORD", "Injector", "inject", "resolve_device"]


@dataclasses.dataclass
class Run:
    """Where and how one call runs (not part of the configuration a checkpoint keeps)."""

    output: Path
    model: str  # as asked for: a path or "default"
    base_path: Path
    processes: Processes
    cache_dir: Path | None
    progress: bool
    stop_after: int | None
    steps_done: int = 0  # kept up to date by the loop, for the line of an interrupt

    @property
    def device(self) -> torch.device:
        return self.processes.device


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
    skipped: int = 0  # steps skipped because a loss term or the gradient was not finite
    streak: int = 0  # the last of them in a row

    def advance(self, result: StepResult, cfg: InjectConfig) -> None:
        """Count one step (a skipped one is not logged); every ``log_every`` steps (and at the
        last) log the window's means. Diverged after ``max_nonfinite_steps`` in a row."""
        self.step += 1
        self.tokens += result.tokens
        if result.nonfinite is not None:
            self.skipped += 1
            self.streak += 1
            if self.streak >= cfg.max_nonfinite_steps:
                raise Diverged(divergence_cause(self.step, result.nonfinite, self.streak, cfg))
        else:
            self.streak = 0
            self.last = result.terms
            for k, v in result.terms.items():
                self.window[k] += v
            self.window["n"] += 1
        if (self.step % cfg.log_every == 0 or self.step == cfg.steps) and self.window["n"]:
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
    configuration when ``config`` is None (``task`` is then required, except with ``resume``).
    With ``resume`` the checkpoint's configuration is used; what was asked for (all of
    ``config``, else the ``options``) must agree with it. ``stop_after`` ends the run after that
    many steps of this call, leaving a checkpoint: for tests and for splitting a long run.

    A run that diverges raises ``stops.Diverged`` (an InjectError), Ctrl-C ``stops.Interrupted``
    (a KeyboardInterrupt); both keep the last checkpoint, or remove a folder this call made when
    there is none. Under a launcher, every process calls this; see ``processes``.
    """
    checkpoint, created = None, False
    if resume:
        checkpoint = check_resumable(Path(output).expanduser())
        if config is None and "task" not in options:  # the checkpoint's task
            options = {**options, "task": _saved(checkpoint)["config"]["task"]}
    cfg, asked = _configure(config, options)
    if stop_after is not None and stop_after < 1:
        raise InjectError(f"--stop-after must be at least 1, got {stop_after}")
    run = Run(
        output=Path(output).expanduser(),
        model=str(model),
        processes=Processes.start(resolve_device(device)),
        base_path=resolve_model_path(model),
        cache_dir=cache_dir,
        progress=progress,
        stop_after=stop_after,
    )
    if checkpoint is not None:
        cfg = _resumed_config(checkpoint, cfg, asked, run)
    else:
        check_divides(cfg, run.processes.n)  # before the folder is made
        created = bool(run.processes.on_main(lambda: prepare_output(run.output)))
    try:
        return _train(cfg, run, checkpoint)
    except BaseException as err:
        kept_step = _stopped(run, created)
        if isinstance(err, Diverged):
            bf16 = uses_bf16(run.device, cfg.precision)
            detail = (
                f"{err}; {stops.kept(run.output, kept_step)}; {stops.divergence_hint(cfg, bf16)}"
            )
            raise Diverged(detail) from None
        if isinstance(err, KeyboardInterrupt):
            line = stops.interrupted_line(cfg, run.output, run.model, run.steps_done, kept_step)
            raise Interrupted(line) from None
        raise


def _stopped(run: Run, created: bool) -> int | None:
    """After a run stopped early: the step of the checkpoint it keeps, or None (then a folder
    this call created is removed: nothing in it is worth keeping)."""
    checkpoint = latest_checkpoint(run.output / CHECKPOINTS)
    if checkpoint is None:
        if created:
            shutil.rmtree(run.output, ignore_errors=True)
        return None
    return checkpoint_step(checkpoint)


def _configure(
    config: InjectConfig | None, options: dict[str, Any]
) -> tuple[InjectConfig, set[str]]:
    """The checked configuration, and the names of the fields that were asked for."""
    unknown = unknown_options(options)
    if unknown:
        raise InjectError(f"unknown injection options: {', '.join(unknown)}")
    if config is None:
        if "task" not in options:
            raise InjectError(
                "no task given: --task T (from Python: inject(InjectConfig(task=...)) or "
                "inject(task=...))"
            )
        cfg, asked = InjectConfig(**options), set(options)
    else:
        cfg = dataclasses.replace(config, **options)
        asked = {f.name for f in dataclasses.fields(cfg)}
    cfg = dataclasses.replace(cfg, task=get_task(cfg.task).name)
    cfg.validate()
    return cfg, asked


def _resumed_config(checkpoint: Path, cfg: InjectConfig, asked: set[str], run: Run) -> InjectConfig:
    """The configuration saved with ``checkpoint`` (``config.saved_config``); InjectError if
    it holds a removed or unknown option, or an asked-for field or the base model differs."""
    saved = _saved(checkpoint)
    saved_cfg = saved_config(saved["config"], f"--resume: the checkpoint {checkpoint}")
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


def _saved(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / "state.json").read_text())


def _train(cfg: InjectConfig, run: Run, checkpoint: Path | None) -> dict[str, Any]:
    t_setup = time.time()
    inj = Injector(cfg, run.base_path, run.device, run.cache_dir, run.processes)
    state = _restore(inj, checkpoint) if checkpoint is not None else TrainState()
    run.steps_done = state.step
    setup_s = time.time() - t_setup

    end = cfg.steps if run.stop_after is None else min(cfg.steps, state.step + run.stop_after)
    inj.lm.train()
    loop_s = _loop(inj, state, end, run)
    if end < cfg.steps:
        run.processes.wait()
        return {"stopped_at": end, "steps": cfg.steps, "output": str(run.output)}

    inj.lm.eval()
    record = injection_record(inj, state, run, setup_s, loop_s)
    lm, _ = saveable(run.processes, inj.lm, model_folder=True)  # every process, under FSDP
    if run.processes.is_main:
        save_model_folder(
            run.output,
            lm,
            inj.tokenizer,
            inj.adapter,
            inj.program.residual_labels,
            OUTPUT_NAME,
            record,
        )
    run.processes.wait()
    return record


def _restore(inj: Injector, checkpoint: Path) -> TrainState:
    """Weights, AdamW moments and random states from ``checkpoint``; the loop's state."""
    lm, optimizer = loadable(inj.processes, inj.lm, inj.optimizer)
    info, rng = load_checkpoint(checkpoint, lm, inj.adapter, optimizer)
    inj.generator.set_state(rng["kl_generator"])  # dropout is seeded per step: no torch state
    return TrainState(
        step=info["step"],
        log=info["log"],
        window=info["window"],
        elapsed_s=info["elapsed_s"],
        resumed_from=info["step"],
        skipped=info.get("skipped", 0),
        streak=info.get("streak", 0),
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
        disable=not (run.progress and run.processes.is_main),
        unit="step",
    )
    t_loop = time.time()
    for step in bar:
        try:
            result = inj.train_step(step)
        except ProjectionError as err:
            raise Diverged(f"training diverged at step {step + 1} of {cfg.steps}: {err}") from None
        state.advance(result, cfg)
        run.steps_done = state.step
        terms = result.terms
        bar.set_postfix(
            ce=f"{terms['ce']:.3f}",
            alg=f"{terms['algorithm']:.3f}",
            kl=f"{terms['kl']:.4f}",
            refresh=False,
        )
        if state.step % cfg.checkpoint_every == 0 or state.step == end:
            _checkpoint(inj, state, run, state.elapsed_s + time.time() - t_loop)
        if cfg.save_every and state.step % cfg.save_every == 0 and state.step < cfg.steps:
            _snapshot(inj, state, run, state.elapsed_s + time.time() - t_loop)
    bar.close()
    return time.time() - t_loop


def _snapshot(inj: Injector, state: TrainState, run: Run, elapsed_s: float) -> None:
    """The model folder as it is after ``state.step`` steps, in ``snapshots/step-N``; its
    ``injection.json`` says at which step (``snapshot_step``). Every process calls this; the
    main one writes."""
    folder = run.output / SNAPSHOTS / f"step-{state.step:06d}"
    written = (folder / RECORD).exists()  # before an interrupt, then resumed
    if run.processes.fsdp is not None:
        run.processes.wait()  # every process has looked before the main one writes
    if written:
        return
    lm, _ = saveable(run.processes, inj.lm, model_folder=True)
    if not run.processes.is_main:
        return
    folder.mkdir(parents=True, exist_ok=True)
    record = injection_record(inj, state, run, 0.0, elapsed_s - state.elapsed_s)
    record["snapshot_step"] = state.step
    was_training = lm.training
    lm.eval()
    labels, adapter = inj.program.residual_labels, inj.adapter
    save_model_folder(folder, lm, inj.tokenizer, adapter, labels, OUTPUT_NAME, record)
    lm.train(was_training)


def _checkpoint(inj: Injector, state: TrainState, run: Run, elapsed_s: float) -> None:
    """Every process calls this (under FSDP the state is gathered); the main one writes."""
    lm, optimizer = saveable(run.processes, inj.lm, inj.optimizer)
    if not run.processes.is_main:
        return
    rng = {"kl_generator": inj.generator.get_state()}
    meta = {
        "config": inj.cfg.asdict(),
        "base_model": str(run.base_path.resolve()),
        "log": state.log,
        "window": state.window,
        "elapsed_s": elapsed_s,
        "skipped": state.skipped,
        "streak": state.streak,
        "processes": run.processes.n,
        "parallelism": run.processes.parallelism,
    }
    folder = run.output / CHECKPOINTS
    save_checkpoint(folder, state.step, lm, inj.adapter, optimizer, rng, meta)
