"""Data-parallel injection speed-up on this machine: N processes against 1, one thread each.

    python benchmarks/bench_inject_ddp.py [--task shuffle_dyck] [--per-process-batch 8]
        [--processes 2] [--steps 10] [--warmup 2] [--repeats 1] [--max-load 0.5] [--allow-load]

Each measurement is a ``torchrun --standalone`` launch of this script as a worker: the injector's
real training step (``Injector.train_step``, DDP over gloo on the CPU) on the default LM, with
the same batch per process (``--per-process-batch`` task examples and 2 windows of natural text),
so N processes train on an N times larger global batch. After ``--warmup`` steps, ``--steps``
steps are timed; the result is tokens/s of the global batch. The ratio tokens/s(N) /
tokens/s(1) is the speed-up (goal on 2 cores: at least 1.6).

Other processes on the machine take cores from the workers, so the load average is recorded
before and after (the figure after includes the benchmark's own workers). Above ``--max-load``
(1-minute average) before the run, nothing is run (exit 3) unless ``--allow-load``, and then the
ratio is marked as not a result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KL_PER_PROCESS = 2


def worker(args: argparse.Namespace) -> None:
    """One launch: time ``args.steps`` injector steps; the main process writes the JSON."""
    import torch

    from tracr_bench.inject.config import InjectConfig
    from tracr_bench.inject.injector import Injector, resolve_device
    from tracr_bench.inject.processes import Processes
    from tracr_bench.models import DEFAULT_MODEL_DIR

    torch.set_num_threads(1)
    processes = Processes.start(resolve_device("cpu"))
    n = processes.n
    cfg = InjectConfig(
        task=args.task,
        steps=args.warmup + args.steps,
        batch_size=args.per_process_batch * n,
        kl_batch_size=KL_PER_PROCESS * n,
    )
    inj = Injector(cfg, DEFAULT_MODEL_DIR, processes.device, processes=processes)
    inj.lm.train()
    tokens, t0 = 0, 0.0
    for step in range(cfg.steps):
        if step == args.warmup:
            processes.wait()
            t0 = time.perf_counter()
        result = inj.train_step(step)
        if step >= args.warmup:
            tokens += result.tokens
    processes.wait()
    seconds = time.perf_counter() - t0
    if processes.is_main:
        figures = {
            "processes": n,
            "threads": torch.get_num_threads(),
            "global_batch": cfg.batch_size,
            "s_per_step": seconds / args.steps,
            "tokens_per_s": tokens / seconds,
        }
        Path(args.worker).write_text(json.dumps(figures))
    processes.accelerator.end_training()


def launch(args: argparse.Namespace, n: int) -> dict:
    """Run the worker under ``torchrun`` with ``n`` processes; its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "figures.json"
        argv = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        argv += ["--nproc_per_node", str(n), __file__, "--worker", str(result)]
        argv += ["--task", args.task, "--per-process-batch", str(args.per_process_batch)]
        argv += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(
                f"bench_inject_ddp: error: the {n}-process run failed:\n" + done.stderr
            )
        return json.loads(result.read_text())


def _load() -> float:
    return os.getloadavg()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="shuffle_dyck")
    ap.add_argument("--per-process-batch", type=int, default=8, help="task examples per process")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="launches of each; the fastest counts")
    ap.add_argument("--max-load", type=float, default=0.5, help="1-minute load average limit")
    ap.add_argument("--allow-load", action="store_true", help="print the ratio even when loaded")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        return worker(args)

    load_before = os.getloadavg()
    if load_before[0] > args.max_load and not args.allow_load:
        _refuse(load_before[0], args.max_load, "nothing was run")
    runs: dict[int, list[dict]] = {1: [], args.processes: []}
    for _ in range(args.repeats):  # interleaved, so that a change of load hits both
        for n in runs:
            runs[n].append(launch(args, n))
    load_after = os.getloadavg()
    best = {n: max(r, key=lambda f: f["tokens_per_s"]) for n, r in runs.items()}
    print(
        f"task {args.task}, default LM, {args.per_process_batch} task examples + "
        f"{KL_PER_PROCESS} KL windows per process, one thread per process, {args.steps} timed "
        f"steps after {args.warmup}, fastest of {args.repeats}"
    )
    for n, f in best.items():
        print(
            f"  {n} process{'es' if n > 1 else ''}: global batch {f['global_batch']}, "
            f"{f['s_per_step']:.3f} s/step, {f['tokens_per_s']:.0f} tok/s"
        )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    print(
        f"load average after:  {' '.join(f'{x:.2f}' for x in load_after)} (with the "
        "benchmark's own processes)"
    )
    ratio = best[args.processes]["tokens_per_s"] / best[1]["tokens_per_s"]
    load = load_before[0]
    note = "" if load <= args.max_load else f" (load average {load:.2f} before: NOT a result)"
    print(f"speed-up {args.processes} / 1 processes: {ratio:.2f}x (goal >= 1.6){note}")


def _refuse(load: float, limit: float, what: str) -> None:
    print(
        f"load average {load:.2f} > {limit}: {what} (other processes share the cores); run "
        "on an idle machine, or pass --allow-load to measure anyway"
    )
    raise SystemExit(3)


if __name__ == "__main__":
    main()
