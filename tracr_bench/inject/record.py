"""``injection.json``, the record of a finished run: task, method, configuration, base model
(path and weights' sha256), program, losses, device, processes, timings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from tracr_bench.inject.injector import uses_bf16
from tracr_bench.models import weights_digest

if TYPE_CHECKING:
    from tracr_bench.inject.injector import Injector
    from tracr_bench.inject.train import Run, TrainState


def injection_record(
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
        "device": dev.type if dev.type == "cpu" else str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type,
        "precision": "bf16" if uses_bf16(dev, cfg.precision) else "fp32",
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "processes": run.processes.n,
        "batch_size_per_process": cfg.batch_size // run.processes.n,
        "nonfinite_steps_skipped": state.skipped,
        "wall_time_s": round(state.elapsed_s + loop_s, 3),
        "setup_s": round(setup_s, 3),
        "step_time_s": round(loop_s / steps_here, 4),
        "tokens_per_s": round(state.tokens / loop_s, 1) if loop_s > 0 else None,
        "projection_refresh_ms_per_step": round(1e3 * inj.refresh_s / steps_here, 4)
        if cfg.uses_algorithm
        else None,
        "resumed_from_step": state.resumed_from or None,
    }
