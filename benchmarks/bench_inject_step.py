"""Step time of tracr-injection against the baseline: same model, batch, data and KL, one run.

    python benchmarks/bench_inject_step.py [--task shuffle_dyck] [--steps 20] [--device auto]

Both injectors are built on the default LM; their steps are timed interleaved (tracr, baseline,
tracr, ...) after warm-up steps, so that load on the machine hits both alike. Prints seconds per
step, tokens/s and the ratio tracr / baseline (goal: 1.3 or less), and the cost of refreshing the
output-subspace projection (a k x k Cholesky, k = final_result dims) per step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tracr_bench.inject.config import InjectConfig
from tracr_bench.inject.injector import Injector, resolve_device
from tracr_bench.models import DEFAULT_MODEL_DIR


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="shuffle_dyck")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per method")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    n = args.warmup + args.steps
    injectors = {
        m: Injector(InjectConfig(task=args.task, method=m, steps=n), DEFAULT_MODEL_DIR, dev)
        for m in ("tracr", "baseline")
    }
    times: dict[str, list[float]] = {m: [] for m in injectors}
    tokens: dict[str, int] = {m: 0 for m in injectors}
    for step in range(n):
        for m, inj in injectors.items():
            inj.lm.train()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            _, ntok = inj.train_step(step)  # the training loop's step, schedule to AdamW
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if step >= args.warmup:
                times[m].append(time.perf_counter() - t0)
                tokens[m] += ntok
    cfg = injectors["tracr"].cfg
    print(
        f"task {args.task}, device {dev}, threads {torch.get_num_threads()}, batch "
        f"{cfg.batch_size} task examples + {cfg.kl_batch_size}x{cfg.kl_seq_len} KL tokens, "
        f"{args.steps} timed steps each (median)"
    )
    med = {m: statistics.median(t) for m, t in times.items()}
    for m in injectors:
        tps = tokens[m] / sum(times[m])
        print(f"  {m:9s} {med[m]:.4f} s/step  {tps:8.1f} tok/s")
    refresh = 1e3 * injectors["tracr"].refresh_s / n
    print(f"  ratio tracr / baseline: {med['tracr'] / med['baseline']:.3f} (goal <= 1.3)")
    print(
        f"  projection refresh: {refresh:.3f} ms/step ({100 * refresh / 1e3 / med['tracr']:.2f}%)"
    )


if __name__ == "__main__":
    main()
