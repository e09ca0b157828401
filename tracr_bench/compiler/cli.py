"""``tracr-bench compile`` and ``tracr-bench oracle``: compile a task's programs (lengths and
exactness declared or computed), and run them on an LM tokenizer's translation of every split
(must be 100%; ``train`` with the injection program, the others with the oracle program), with
the likely cause of any shortfall.

In: the parsed command line. Out: tables (or JSON) on stdout, the compiled programs in the cache
folder, an exit status. The cache folder (and for ``oracle`` the tokenizer's folder) is checked
before any compiling (``tracr_bench.preflight``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tabulate import tabulate

from tracr_bench.task import TaskError, get_task, select_tasks


def cmd_compile(args: argparse.Namespace) -> int:
    from tracr_bench.compiler.task_programs import compile_task, program_settings
    from tracr_bench.preflight import check_cache_dir

    task = get_task(args.task)
    check_cache_dir(args.cache_dir)
    out = []
    for which in ("injection", "oracle") if args.which == "both" else (args.which,):
        settings = program_settings(task, which, cache_dir=args.cache_dir)
        cp = compile_task(task, which, cache_dir=args.cache_dir)
        sources = {
            "max_seq_len_from": "declared" if settings.max_seq_len_declared else "computed",
            "mlp_exactness": cp.mlp_exactness,
            "mlp_exactness_from": "declared" if settings.mlp_exactness_declared else "computed",
        }
        out.append({"task": task.name, "program": which, **cp.summary(), **sources})
    if args.json:
        print(json.dumps(out, indent=1, default=str))
        return 0
    keys = [
        "program",
        "max_seq_len",
        "max_seq_len_from",
        "mlp_exactness",
        "mlp_exactness_from",
        "n_layers",
        "residual_width",
        "mlp_hidden_size",
        "n_params",
        "seconds",
        "from_cache",
    ]
    print(tabulate([[r.get(k) for k in keys] for r in out], headers=keys))
    return 0


def _oracle_work(args: argparse.Namespace) -> list[tuple]:
    """(task, split, program) to score: ``train`` with the injection program (what the injector
    reads), every evaluation split with the oracle program. Every name is checked first."""
    work = []
    for task in select_tasks(args.task):
        splits = [args.split] if args.split else ["train", *task.eval_splits]
        for split in splits:
            task.split(split)
            work.append((task, split, "injection" if split == "train" else "oracle"))
    if args.limit is not None and args.limit <= 0:
        raise TaskError(f"--limit must be a positive number of examples, got {args.limit}")
    return work


def cmd_oracle(args: argparse.Namespace) -> int:
    from tracr_bench.compiler.oracle import run_oracle
    from tracr_bench.models import load_tokenizer
    from tracr_bench.preflight import check_cache_dir

    work = _oracle_work(args)
    check_cache_dir(args.cache_dir)
    tokenizer = load_tokenizer(args.model)
    results = []
    for task, split, which in work:
        res = run_oracle(
            task,
            split,
            tokenizer,
            limit=args.limit,
            seed=args.seed,
            cache_dir=args.cache_dir,
            which=which,
        )
        results.append(res)
        if not args.json:
            note = f"  (exempt: {res.exempt})" if res.exempt else ""
            print(f"{task.name}/{split}: {res.accuracy:.2%} of {res.n}{note}", file=sys.stderr)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    else:
        table = [
            [r.task, r.split, r.program, r.n, f"{100 * r.accuracy:.2f}", r.exempt or "",
             f"{r.seconds:.1f}"]
            for r in results
        ]  # fmt: skip
        headers = ["task", "split", "program", "n", "oracle %", "exempt", "s"]
        print(tabulate(table, headers=headers))
    bad = [r for r in results if r.exempt is None and r.correct != r.n]
    for r in bad:
        print(
            f"error: {r.program} program below 100% on {r.task}/{r.split}: {r.diagnosis}; "
            f"first failure: {r.failures[:1]}",
            file=sys.stderr,
        )
    return 1 if bad else 0


CACHE_HELP = "compiled-program cache (default: $TRACR_BENCH_CACHE, else ~/.cache/tracr-bench)"


def add_subcommands(sub) -> None:
    s = sub.add_parser(
        "compile",
        help="compile a task's programs (or load them from the cache)",
        description="Compile a task's injection and oracle programs with tracr (or load them "
        "from the cache) and print their sizes: layers, residual width, parameters, seconds.",
    )
    s.add_argument("--task", required=True, help="the task (one name)")
    s.add_argument(
        "--which",
        choices=["injection", "oracle", "both"],
        default="both",
        help="which program to compile",
    )
    s.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    s.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS, help=CACHE_HELP)
    s.set_defaults(func=cmd_compile)

    s = sub.add_parser(
        "oracle",
        help="score the compiled program on the tokenizer's translation",
        description="Run each task's compiled program on an LM tokenizer's translation of every "
        "split (train with the injection program, the others with the oracle program); every "
        "split must score 100%, or the likely cause is printed (exit 1).",
    )
    s.add_argument(
        "--task",
        "--tasks",
        default=None,
        help="task name, or comma-separated names (default: all)",
    )
    s.add_argument("--split", default=None, help="one split (default: train and every eval split)")
    s.add_argument(
        "--model",
        default=argparse.SUPPRESS,
        help="whose tokenizer: a model folder or 'default' (default: default)",
    )
    s.add_argument(
        "--limit", type=int, default=argparse.SUPPRESS, help="examples per split (default: all)"
    )
    s.add_argument("--seed", type=int, default=0, help="seed of the examples drawn")
    s.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    s.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS, help=CACHE_HELP)
    s.set_defaults(func=cmd_oracle)
