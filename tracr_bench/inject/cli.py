"""``tracr-bench inject``: the command-line face of :func:`tracr_bench.inject.inject`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tracr_bench.inject.config import METHODS, InjectConfig

D = InjectConfig.__dataclass_fields__


def add_subcommands(sub) -> None:
    s = sub.add_parser(
        "inject",
        help="inject a task's compiled program into a causal LM (or train the baseline)",
        description="Train an LM on a task with tracr-injection (answer cross-entropy + "
        "algorithm loss through a linear adapter + KL to the original on natural text, with "
        "detach-and-roll) or with the baseline (cross-entropy + KL), and save it to --output.",
    )
    s.add_argument("--model", default="default", help="local HF model folder, or 'default'")
    s.add_argument("--task", required=True)
    s.add_argument("--method", choices=METHODS, default="tracr")
    s.add_argument("--output", required=True, help="folder for the trained model (new or empty)")
    s.add_argument("--resume", action="store_true", help="continue the run saved in --output")
    for flag, kind in [
        ("steps", int),
        ("batch-size", int),
        ("lr", float),
        ("adapter-lr", float),
        ("kl-weight", float),
        ("algorithm-weight", float),
        ("kl-batch-size", int),
        ("kl-seq-len", int),
        ("warmup-steps", int),
        ("checkpoint-every", int),
    ]:
        name = flag.replace("-", "_")
        s.add_argument(f"--{flag}", type=kind, default=None, help=f"default {D[name].default}")
    s.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto", help="auto (cuda, mps, else cpu), cpu, cuda, mps")
    s.add_argument(
        "--split-symbols",
        action="store_true",
        help="derive a tokenizer without the BPE merges that join the task's symbols",
    )
    s.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS)
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--json", action="store_true", help="print the injection record as JSON")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracr_bench.inject.train import inject

    options = {
        k: getattr(args, k)
        for k in ("kl_batch_size", "kl_seq_len", "warmup_steps", "checkpoint_every", "precision")
        if getattr(args, k) is not None
    }
    record = inject(
        args.model,
        args.task,
        args.method,
        output=args.output,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        adapter_lr=args.adapter_lr,
        kl_weight=args.kl_weight,
        algorithm_weight=args.algorithm_weight,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        split_symbols=args.split_symbols,
        progress=not args.no_progress,
        cache_dir=getattr(args, "cache_dir", None),
        **options,
    )
    if args.json:
        print(json.dumps(record, indent=1))
    else:
        final = record["losses"]["final"]
        print(
            f"{record['method']} {record['task']}: {record['steps']} steps in "
            f"{record['wall_time_s']:.0f} s on {record['device']} "
            f"({record['step_time_s']:.3f} s/step, {record['tokens_per_s']:.0f} tok/s); final "
            f"ce {final['ce']:.4f}, algorithm {final['algorithm']:.4f}, kl {final['kl']:.4f}"
        )
        print(f"saved to {args.output}; evaluate: tracr-bench eval --model {args.output}")
    return 0
