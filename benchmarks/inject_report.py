"""Summarise the runs of ``benchmarks/leaderboard_runs.sh``: per task and method, accuracy on
every split (mean and min-max over seeds), retention perplexity relative to the base model, and
training step time.

    python benchmarks/inject_report.py RUN_DIR
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate


def main() -> None:
    run_dir = Path(sys.argv[1])
    results = run_dir / "results"
    base = json.loads((results / "default.json").read_text())["tracr_bench"]
    base_ppl = base["retention"]["word_perplexity"]
    base_acc = {(r["task"], r["split"]): r["accuracy"] for r in base["splits"]}
    groups: dict[tuple[str, str], list[tuple[dict, dict]]] = defaultdict(list)
    for f in sorted(results.glob("*-s[0-9].json")):
        task, method, _ = f.stem.rsplit("-", 2)
        record = json.loads((run_dir / f.stem / "injection.json").read_text())
        groups[(task, method)].append((json.loads(f.read_text())["tracr_bench"], record))

    def fmt(values: list[float]) -> str:
        mean = statistics.mean(values)
        if len(values) == 1:
            return f"{mean:.1f}"
        return f"{mean:.1f} ({min(values):.1f}-{max(values):.1f})"

    rows = []
    for (task, method), runs in sorted(groups.items()):
        splits = [r["split"] for r in runs[0][0]["splits"]]
        cells = []
        for s in splits:
            accs = [
                100 * next(r["accuracy"] for r in tb["splits"] if r["split"] == s) for tb, _ in runs
            ]
            cells.append(f"{s} {fmt(accs)} [base {100 * base_acc[(task, s)]:.1f}]")
        ratio = [tb["retention"]["word_perplexity"] / base_ppl for tb, _ in runs]
        step = [rec["step_time_s"] for _, rec in runs]
        rows.append(
            [
                task,
                method,
                len(runs),
                "; ".join(cells),
                fmt([100 * (x - 1) for x in ratio]),
                f"{statistics.mean(step):.2f}",
            ]
        )
    print(
        tabulate(
            rows,
            headers=[
                "task",
                "method",
                "seeds",
                "accuracy % per split",
                "retention ppl +%",
                "s/step",
            ],
            disable_numparse=True,
        )
    )
    print(f"\nbase model retention word perplexity: {base_ppl:.1f}")


if __name__ == "__main__":
    main()
