"""``injection.json``, the record of a finished run: task, method, configuration, base model
(path and weights' sha256), program, losses, device, processes and ``parallelism`` (``fsdp``,
``ddp`` or ``single``: see ``processes``; ``lm_parameters`` and, of them,
``lm_parameters_main_process`` held by the main process: all but its shard under FSDP), timings.

``method_variant`` names the options beyond the paper's tracr-injection (``config.
VARIANT_OPTIONS``): None for the paper's setting (and for the baseline, which takes none), else
the non-default ones joined by ``+`` in this order: the ``--algorithm-loss`` value
(``per-variable``, ``per-variable-ce``), ``ramp<N>`` for ``--ce-ramp N``; e.g.
``per-variable+ramp20``. ``config.method_variant`` computes it from a record's ``config``.
Records of runs made before ``--layer-placement`` and ``--algorithm-warmup`` were removed may
name ``spread`` after the loss and ``warmup<N>`` before the ramp
(``per-variable-ce+spread+warmup50``); decode and the leaderboard read them as they read any
other.

``program.aligned_hidden_states`` lists, for each program residual 0..L, the index of the LM
hidden state (the input of that block) it was aligned with: ``[0, 1, ..., L]``, the paper's
placement (``alignment``); an older record may hold others, and decode reads the program's
layers wherever it says. The adapter reads the program's output at the last one.
``program.detach_and_roll_block`` is the block whose output detach-and-roll replaced (its last
entry; None for the baseline).

``losses.per_variable`` (tracr runs; None otherwise): on the last step's batch, for each
program variable, the means over the (aligned layer, real position) pairs where it is present
(see ``alignment``) of: categorical, ``cosine`` (1 - cos on its dimensions), ``ce`` (the
cross-entropy of the adapter's readout) and ``accuracy`` (the readout's argmax is the program's
value); numerical, ``squared_error``. Whatever ``--algorithm-loss`` trained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from tracr_bench.inject.config import method_variant
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
        "method_variant": method_variant(cfg.asdict()),
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
            "aligned_hidden_states": list(inj.aligned),
            "detach_and_roll_block": inj.aligned[-1] if cfg.uses_algorithm else None,
        },
        "tokenizer": {"split_symbols": cfg.split_symbols, "merges_removed": inj.merges_removed},
        "losses": {"final": state.last, "log": state.log, "per_variable": inj.per_variable},
        "device": dev.type if dev.type == "cpu" else str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type,
        "precision": "bf16" if uses_bf16(dev, cfg.precision) else "fp32",
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "processes": run.processes.n,
        "parallelism": run.processes.parallelism,
        "lm_parameters": _parameters(inj.lm, local=False),
        "lm_parameters_main_process": _parameters(inj.lm, local=True),  # its shards under FSDP
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


def _parameters(lm: torch.nn.Module, local: bool) -> int:
    """The LM's parameter count (tied weights once); with ``local``, of this process's shards."""
    from torch.distributed.tensor import DTensor

    return sum(
        p.to_local().numel() if local and isinstance(p, DTensor) else p.numel()
        for p in lm.parameters()
    )
