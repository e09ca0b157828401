"""Step time of tracr-injection against the baseline: same model, batch, data and KL, one run.

    python benchmarks/bench_inject_step.py [--task shuffle_dyck] [--steps 20] [--device auto]
        [--model default]

Both injectors are built on the model (default: the default LM); their steps are timed
interleaved (tracr, baseline, tracr, ...) after warm-up steps, so that load on the machine hits
both alike. Prints seconds per step, tokens/s and the ratio tracr / baseline (goal: 1.3 or
less), and the cost of refreshing the output-subspace projection (a k x k Cholesky, k =
final_result dims) per step. ``time_methods`` is also used by ``gpu_check.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from tracr_bench.inject.config import InjectConfig
from tracr_bench.inject.injector import Injector, resolve_device
from tracr_bench.models import resolve_model_path


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def time_methods(
    model: Path, task: str, steps: int, warmup: int, device: str, **options: Any
) -> dict[str, Any]:
    """Median s/step, tokens/s of both methods (interleaved steps), their ratio, and the
    projection refresh's cost; ``options`` are ``InjectConfig`` fields (batch sizes, precision)."""
    dev = resolve_device(device)
    n = warmup + steps
    injectors = {
        m: Injector(InjectConfig(task=task, method=m, steps=n, **options), model, dev)
        for m in ("tracr", "baseline")
    }
    times: dict[str, list[float]] = {m: [] for m in injectors}
    tokens: dict[str, int] = {m: 0 for m in injectors}
    for step in range(n):
        for m, inj in injectors.items():
            inj.lm.train()
            _sync(dev)
            t0 = time.perf_counter()
            ntok = inj.train_step(step).tokens  # the training loop's step, schedule to AdamW
            _sync(dev)
            if step >= warmup:
                times[m].append(time.perf_counter() - t0)
                tokens[m] += ntok
    cfg = injectors["tracr"].cfg
    med = {m: statistics.median(t) for m, t in times.items()}
    refresh_ms = 1e3 * injectors["tracr"].refresh_s / n
    return {
        "task": task,
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "batch": f"{cfg.batch_size} task examples + {cfg.kl_batch_size}x{cfg.kl_seq_len} KL",
        "precision": cfg.precision,
        "timed_steps": steps,
        **{f"{m}_s_per_step": med[m] for m in injectors},
        **{f"{m}_steps_per_s": 1 / med[m] for m in injectors},
        **{f"{m}_tokens_per_s": tokens[m] / sum(times[m]) for m in injectors},
        "ratio_tracr_over_baseline": med["tracr"] / med["baseline"],
        "projection_refresh_ms_per_step": refresh_ms,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="shuffle_dyck")
    ap.add_argument("--model", default="default")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per method")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    r = time_methods(
        resolve_model_path(args.model), args.task, args.steps, args.warmup, args.device
    )
    print(
        f"task {r['task']}, device {r['device']}, threads {r['threads']}, batch {r['batch']}, "
        f"{r['timed_steps']} timed steps each (median)"
    )
    for m in ("tracr", "baseline"):
        print(f"  {m:9s} {r[f'{m}_s_per_step']:.4f} s/step  {r[f'{m}_tokens_per_s']:8.1f} tok/s")
    print(f"  ratio tracr / baseline: {r['ratio_tracr_over_baseline']:.3f} (goal <= 1.3)")
    share = 100 * r["projection_refresh_ms_per_step"] / 1e3 / r["tracr_s_per_step"]
    print(f"  projection refresh: {r['projection_refresh_ms_per_step']:.3f} ms/step ({share:.2f}%)")


if __name__ == "__main__":
    main()
