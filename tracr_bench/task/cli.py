"""``tracr-bench tasks``: the registered tasks, their splits and compiled sizes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tabulate import tabulate

from tracr_bench.task import Task, get_task, select_tasks


def _fmt_split(task: Task, name: str) -> str:
    sp = task.splits[name]
    return f"{name} ({sp.min_length}-{sp.max_length}, n={sp.size})"


def cmd_tasks(args: argparse.Namespace) -> int:
    from tracr_bench.compiler.task_programs import compile_task

    rows = []
    for task in select_tasks(args.tasks):
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


def add_subcommands(sub) -> None:
    s = sub.add_parser("tasks", help="list tasks with their splits and compiled size")
    s.add_argument("--tasks", default=None, help="comma-separated task names")
    s.add_argument("--json", action="store_true")
    s.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS)
    s.set_defaults(func=cmd_tasks)
