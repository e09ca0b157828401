"""The ``tracr-bench`` command line.

``tracr-bench`` with no sub-command runs the main job: list the tasks and run the oracle over
every task and split.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from tracr_bench.task import Task, TaskError, all_tasks, get_task


def _task_list(arg: str | None) -> list[Task]:
    if not arg:
        return list(all_tasks().values())
    return [get_task(name.strip()) for name in arg.split(",") if name.strip()]


def _fmt_split(task: Task, name: str) -> str:
    sp = task.splits[name]
    return f"{name} ({sp.min_length}-{sp.max_length}, n={sp.size})"


def cmd_tasks(args: argparse.Namespace) -> int:
    from tracr_bench.compiled_tasks import compile_task

    rows = []
    for task in _task_list(args.tasks):
        cp = compile_task(task, "injection", cache_dir=args.cache_dir)
        rows.append(
            {
                "task": task.name,
                "version": task.version,
                "description": task.description,
                "splits": {
                    n: {
                        "min_length": s.min_length,
                        "max_length": s.max_length,
                        "size": s.size,
                        "description": s.description,
                        "oracle_exempt": s.oracle_exempt,
                    }
                    for n, s in task.splits.items()
                },
                "injection_program": cp.summary(),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    table = [
        [
            r["task"],
            "\n".join(_fmt_split(get_task(r["task"]), n) for n in r["splits"]),
            f"{r['injection_program']['n_layers']} layers, "
            f"{r['injection_program']['residual_width']} dims, "
            f"{r['injection_program']['n_params'] / 1e6:.2f}M params",
        ]
        for r in rows
    ]
    print(tabulate(table, headers=["task", "splits (lengths, size)", "injection program"]))
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from tracr_bench.compiled_tasks import compile_task

    task = get_task(args.task)
    out = []
    for which in ("injection", "oracle") if args.which == "both" else (args.which,):
        cp = compile_task(task, which, cache_dir=args.cache_dir)
        out.append({"task": task.name, "program": which, **cp.summary()})
    if args.json:
        print(json.dumps(out, indent=1, default=str))
        return 0
    keys = [
        "program",
        "max_seq_len",
        "n_layers",
        "residual_width",
        "mlp_hidden_size",
        "n_params",
        "seconds",
        "from_cache",
    ]
    print(tabulate([[r.get(k) for k in keys] for r in out], headers=keys))
    return 0


def cmd_oracle(args: argparse.Namespace) -> int:
    from tracr_bench.models import load_tokenizer
    from tracr_bench.oracle import run_oracle

    tokenizer = load_tokenizer(args.model)
    results = []
    for task in _task_list(args.task):
        splits = [args.split] if args.split else list(task.eval_splits)
        for split in splits:
            task.split(split)  # validate before any work
        for split in splits:
            res = run_oracle(
                task,
                split,
                tokenizer,
                limit=args.limit,
                seed=args.seed,
                cache_dir=args.cache_dir,
            )
            results.append(res)
            if not args.json:
                note = f"  (exempt: {res.exempt})" if res.exempt else ""
                print(f"{task.name}/{split}: {res.accuracy:.2%} of {res.n}{note}", file=sys.stderr)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    else:
        table = [
            [r.task, r.split, r.n, f"{100 * r.accuracy:.2f}", r.exempt or "", f"{r.seconds:.1f}"]
            for r in results
        ]
        print(tabulate(table, headers=["task", "split", "n", "oracle %", "exempt", "s"]))
    bad = [r for r in results if r.exempt is None and r.correct != r.n]
    for r in bad:
        print(f"error: oracle below 100% on {r.task}/{r.split}: {r.failures[:1]}", file=sys.stderr)
    return 1 if bad else 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from tracr_bench.models import DEFAULT_MODEL_DIR
    from tracr_bench.pretrain.config import PretrainConfig
    from tracr_bench.pretrain.train import pretrain

    cfg = PretrainConfig(steps=args.steps, seed=args.seed, threads=args.threads)
    out = Path(args.output) if args.output else DEFAULT_MODEL_DIR
    summary = pretrain(cfg, Path(args.work_dir), out)
    print(json.dumps(summary, indent=1))
    return 0


def cmd_main(args: argparse.Namespace) -> int:
    """The main job for now: list the tasks, then the oracle over every task and split."""
    cmd_tasks(argparse.Namespace(tasks=None, json=False, cache_dir=args.cache_dir))
    print()
    return cmd_oracle(
        argparse.Namespace(
            model=args.model,
            task=None,
            split=None,
            limit=args.limit,
            seed=0,
            json=False,
            cache_dir=args.cache_dir,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    from tracr_bench.pretrain.config import PretrainConfig

    p = argparse.ArgumentParser(
        prog="tracr-bench",
        description="Inject tracr-compiled RASP algorithms into language models and measure "
        "whether they generalise.",
    )
    p.add_argument("--model", default="default", help="local HF model folder, or 'default'")
    p.add_argument("--limit", type=int, default=None, help="examples per split (default: all)")
    p.add_argument("--cache-dir", type=Path, default=None, help="compiled-program cache")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("tasks", help="list tasks with their splits and compiled size")
    s.add_argument("--tasks", default=None, help="comma-separated task names")
    s.add_argument("--json", action="store_true")
    s.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS)
    s.set_defaults(func=cmd_tasks)

    s = sub.add_parser("compile", help="compile a task's programs (or load them from the cache)")
    s.add_argument("--task", required=True)
    s.add_argument("--which", choices=["injection", "oracle", "both"], default="both")
    s.add_argument("--json", action="store_true")
    s.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS)
    s.set_defaults(func=cmd_compile)

    s = sub.add_parser("oracle", help="score the compiled program on the tokenizer's translation")
    s.add_argument("--task", default=None, help="task name, or comma-separated names (default all)")
    s.add_argument("--split", default=None)
    s.add_argument(
        "--model", default=argparse.SUPPRESS, help="whose tokenizer: a model folder or default"
    )
    s.add_argument("--limit", type=int, default=argparse.SUPPRESS)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS)
    s.set_defaults(func=cmd_oracle)

    s = sub.add_parser("pretrain", help="rebuild the corpus and retrain the default LM")
    s.add_argument("--work-dir", default="pretrain_work", help="corpus and tokenizer folder")
    s.add_argument("--output", default=None, help="model folder (default: the package's)")
    s.add_argument("--steps", type=int, default=PretrainConfig.steps)
    s.add_argument("--seed", type=int, default=PretrainConfig.seed)
    s.add_argument("--threads", type=int, default=PretrainConfig.threads)
    s.set_defaults(func=cmd_pretrain)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from tracr_bench.models import ModelError

    args = build_parser().parse_args(argv)
    func = getattr(args, "func", cmd_main)
    try:
        return func(args)
    except (TaskError, ModelError) as err:
        print(f"tracr-bench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
