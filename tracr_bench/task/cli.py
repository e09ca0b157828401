"""``tracr-bench tasks``: the registered tasks, their splits as declared and as really drawn,
warnings where a split cannot be drawn as declared, and their compiled sizes.

In: the parsed command line. Out: a table (or JSON) on stdout, warnings on stderr; the compiled
injection programs land in the cache folder, which is checked first."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tabulate import tabulate

from tracr_bench.task import Task, select_tasks


def _split_rows(task: Task) -> dict[str, dict]:
    from tracr_bench.task.survey import survey

    drawn = survey(task)
    out = {}
    for name, sp in task.splits.items():
        s = drawn[name]
        lo_hi = s.length_range
        out[name] = {
            "min_length": sp.min_length,
            "max_length": sp.max_length,
            "size": sp.size,
            "description": sp.description,
            "oracle_exempt": sp.oracle_exempt,
            "drawn_min_length": lo_hi[0] if lo_hi else None,
            "drawn_max_length": lo_hi[1] if lo_hi else None,
            "distinct_inputs": s.distinct,
        }
    return out


def _fmt_split(name: str, s: dict) -> str:
    drawn = f"{s['drawn_min_length']}-{s['drawn_max_length']}" if s["distinct_inputs"] else "none"
    return (
        f"{name} ({s['min_length']}-{s['max_length']}, n={s['size']}; "
        f"drawn {drawn}, {s['distinct_inputs']} distinct)"
    )


def _task_row(task: Task, cache_dir: Path | None) -> dict:
    from tracr_bench.compiler.task_programs import compile_task, program_settings
    from tracr_bench.task.survey import warnings

    cp = compile_task(task, "injection", cache_dir=cache_dir)
    oracle = program_settings(task, "oracle", cache_dir=cache_dir)
    return {
        "task": task.name,
        "version": task.version,
        "description": task.description,
        "splits": _split_rows(task),
        "injection_program": cp.summary(),
        "oracle_max_seq_len": oracle.max_seq_len,
        "warnings": warnings(task),
    }


def cmd_tasks(args: argparse.Namespace) -> int:
    from tracr_bench.preflight import check_cache_dir

    tasks = select_tasks(args.tasks)
    check_cache_dir(args.cache_dir)
    rows = [_task_row(task, args.cache_dir) for task in tasks]
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    table = [
        [
            r["task"],
            "\n".join(_fmt_split(n, s) for n, s in r["splits"].items()),
            f"{r['injection_program']['n_layers']} layers, "
            f"{r['injection_program']['residual_width']} dims, "
            f"{r['injection_program']['n_params'] / 1e6:.2f}M params, "
            f"max_seq_len {r['injection_program']['max_seq_len']} "
            f"(oracle {r['oracle_max_seq_len']})",
        ]
        for r in rows
    ]
    headers = ["task", "splits (declared lengths, size; drawn at seed 0)", "injection program"]
    print(tabulate(table, headers=headers))
    for r in rows:
        for line in r["warnings"]:
            print(f"warning: {line}", file=sys.stderr)
    return 0


def add_subcommands(sub) -> None:
    s = sub.add_parser(
        "tasks",
        help="list tasks: splits (declared and drawn), warnings, compiled size",
        description="List the registered tasks: their splits as declared and as drawn at seed "
        "0, warnings where a split cannot be drawn as declared, and the compiled injection "
        "program's size (compiled, or read from the cache).",
    )
    s.add_argument(
        "--tasks", "--task", default=None, help="comma-separated task names (default: all)"
    )
    s.add_argument("--json", action="store_true", help="print the list as JSON on stdout")
    s.add_argument(
        "--cache-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="compiled-program cache (default: $TRACR_BENCH_CACHE, else ~/.cache/tracr-bench)",
    )
    s.set_defaults(func=cmd_tasks)
