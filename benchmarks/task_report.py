"""Per-task report: compiled sizes, cold compile and warm load times, oracle accuracy per split;
with ``--exactness``, compile time, size and accuracy against ``mlp_exactness`` instead.

    .venv/bin/python benchmarks/task_report.py [--limit N] [--tasks a,b] [--json OUT]
    .venv/bin/python benchmarks/task_report.py --exactness 100,1000,10000 [--which injection]

Cold compiles use a fresh temporary cache; the warm figure is a load from that cache. The
oracle runs the oracle program behind the default tokenizer on every evaluation split. In the
``--exactness`` table each program is compiled afresh at every value (no cache) and scored on
``train`` (injection program) or every evaluation split (oracle program).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from tracr_bench.compiler.compiling import compile_program
from tracr_bench.compiler.oracle import run_oracle
from tracr_bench.compiler.task_programs import compile_task, program_for, program_settings
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.models import load_tokenizer
from tracr_bench.task import Task, all_tasks, get_task


def sizes_and_oracle(task: Task, tokenizer, cache: Path, limit: int | None) -> tuple[list, list]:
    sizes, oracle, programs = [], [], {}
    for which in ("injection", "oracle"):
        cold = compile_task(task, which, cache_dir=cache)
        warm = compile_task(task, which, cache_dir=cache)
        assert warm.from_cache and not cold.from_cache
        programs[which] = warm
        settings = program_settings(task, which, cache_dir=cache)
        sizes.append(
            {
                "task": task.name,
                "program": which,
                "max_seq_len": cold.max_seq_len,
                "mlp_exactness": cold.mlp_exactness,
                "exactness_needed": round(settings.needed_exactness),
                "layers": cold.n_layers,
                "residual_dims": cold.residual_width,
                "mlp_width": cold.mlp_hidden_size,
                "params": cold.n_params,
                "cold_compile_s": round(cold.seconds, 1),
                "warm_load_s": round(warm.seconds, 2),
            }
        )
        print(sizes[-1], flush=True)
    prog = TorchProgram.from_compiled(programs["oracle"])
    for split in task.eval_splits:
        res = run_oracle(task, split, tokenizer, limit=limit, program=prog)
        oracle.append(
            {
                "task": task.name,
                "split": split,
                "n": res.n,
                "oracle_accuracy": res.accuracy,
                "exempt": res.exempt,
                "seconds": round(res.seconds, 1),
            }
        )
        print(oracle[-1], flush=True)
    return sizes, oracle


def exactness_rows(task: Task, which: str, values: list[int], tokenizer, limit: int) -> list:
    """Compile ``which`` afresh at each ``mlp_exactness`` and score it (no cache)."""
    settings = program_settings(task, which)
    splits = ["train"] if which == "injection" else task.eval_splits
    rows = []
    for value in values:
        t0 = time.perf_counter()
        cp = compile_program(
            program_for(task, which),
            task.token_map.compiler_vocab(),
            settings.max_seq_len,
            causal=True,
            mlp_exactness=value,
            use_cache=False,
        )
        seconds = time.perf_counter() - t0
        prog = TorchProgram.from_compiled(cp)
        scored = [
            run_oracle(task, s, tokenizer, limit=limit, program=prog, diagnose_failures=False)
            for s in splits
            if task.splits[s].oracle_exempt is None
        ]
        rows.append(
            {
                "task": task.name,
                "program": which,
                "max_seq_len": settings.max_seq_len,
                "mlp_exactness": value,
                "compile_s": round(seconds, 1),
                "params": cp.n_params,
                "residual_dims": cp.residual_width,
                "mlp_width": cp.mlp_hidden_size,
                "worst_accuracy": min(r.accuracy for r in scored),
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="oracle examples per split")
    ap.add_argument("--tasks", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--exactness", default=None, help="comma-separated mlp_exactness values")
    ap.add_argument("--which", choices=["injection", "oracle"], default="injection")
    args = ap.parse_args()
    names = args.tasks.split(",") if args.tasks else sorted(all_tasks())
    tokenizer = load_tokenizer("default")
    if args.exactness:
        values = [int(v) for v in args.exactness.split(",")]
        limit = args.limit or 500
        rows = [r for n in names for r in exactness_rows(get_task(n), args.which, values,
                                                          tokenizer, limit)]  # fmt: skip
        print(tabulate(rows, headers="keys", tablefmt="github"))
        report = {"exactness": rows}
    else:
        sizes, oracle = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for name in names:
                s, o = sizes_and_oracle(get_task(name), tokenizer, Path(tmp), args.limit)
                sizes += s
                oracle += o
        print()
        print(tabulate(sizes, headers="keys", tablefmt="github"))
        print()
        print(tabulate(oracle, headers="keys", tablefmt="github"))
        report = {"programs": sizes, "oracle": oracle}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
