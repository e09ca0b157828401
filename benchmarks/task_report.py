"""Per-task report: compiled sizes, cold compile and warm load times, oracle accuracy per split.

    .venv/bin/python benchmarks/task_report.py [--limit N] [--tasks a,b] [--json OUT]

Cold compiles use a fresh temporary cache; the warm figure is a load from that cache. The
oracle runs the oracle program behind the default tokenizer on every evaluation split.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tabulate import tabulate

from tracr_bench.compiler.oracle import run_oracle
from tracr_bench.compiler.task_programs import compile_task
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.models import load_tokenizer
from tracr_bench.task import all_tasks, get_task


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="oracle examples per split")
    ap.add_argument("--tasks", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    names = args.tasks.split(",") if args.tasks else sorted(all_tasks())
    tokenizer = load_tokenizer("default")
    sizes, oracle = [], []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        for name in names:
            task = get_task(name)
            programs = {}
            for which in ("injection", "oracle"):
                cold = compile_task(task, which, cache_dir=cache)
                warm = compile_task(task, which, cache_dir=cache)
                assert warm.from_cache and not cold.from_cache
                programs[which] = warm
                sizes.append(
                    {
                        "task": name,
                        "program": which,
                        "max_seq_len": cold.max_seq_len,
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
                res = run_oracle(task, split, tokenizer, limit=args.limit, program=prog)
                oracle.append(
                    {
                        "task": name,
                        "split": split,
                        "n": res.n,
                        "oracle_accuracy": res.accuracy,
                        "exempt": res.exempt,
                        "seconds": round(res.seconds, 1),
                    }
                )
                print(oracle[-1], flush=True)
    print()
    print(tabulate(sizes, headers="keys", tablefmt="github"))
    print()
    print(tabulate(oracle, headers="keys", tablefmt="github"))
    if args.json:
        Path(args.json).write_text(json.dumps({"programs": sizes, "oracle": oracle}, indent=1))


if __name__ == "__main__":
    main()
