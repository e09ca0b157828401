"""``tracr-bench eval --plot out.png``: accuracy against input length, one line per task.

Points are the per-length-bucket accuracies of the results file (``tracr_bench.splits[*]
.length_buckets``), placed at the bucket's mean length: the ``length`` split's buckets, preceded
by the ``test`` split's buckets that lie below the ``length`` split's shortest input (so tasks
whose ``length`` split starts beyond the training lengths still show the in-distribution part).
Each task's training range is shaded in the task's colour.
"""

from __future__ import annotations

from pathlib import Path

from tracr_bench.files import figure_png, write_bytes_atomic
from tracr_bench.task import TaskError, all_tasks

LENGTH_SPLIT = "length"


def length_curves(data: dict) -> dict[str, list[tuple[float, float, int]]]:
    """task -> [(mean bucket length, accuracy, n)] from a results dict, sorted by length."""
    rows = data["tracr_bench"]["splits"]
    by_task: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_task.setdefault(r["task"], {})[r["split"]] = r
    curves: dict[str, list[tuple[float, float, int]]] = {}
    for task, splits in by_task.items():
        length = splits.get(LENGTH_SPLIT)
        if length is None:
            continue
        buckets = [b for b in length["length_buckets"] if b["accuracy"] is not None]
        start = min((b["min_length"] for b in length["length_buckets"]), default=None)
        test = splits.get("test")
        if test is not None and start is not None:
            buckets += [
                b
                for b in test["length_buckets"]
                if b["accuracy"] is not None and b["max_length"] < start
            ]
        pts = [((b["min_length"] + b["max_length"]) / 2, b["accuracy"], b["n"]) for b in buckets]
        if pts:
            curves[task] = sorted(pts)
    return curves


def check_plot_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise TaskError(f"--plot writes a PNG: give a file name ending in .png, not {str(path)!r}")
    if not path.parent.is_dir():
        raise TaskError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} is missing")
    return path


def plot_length_curves(data: dict, path: str | Path) -> Path:
    """Write the PNG (atomically); ``TaskError`` if the results hold no length-split accuracy."""
    path = check_plot_path(path)
    curves = length_curves(data)
    if not curves:
        raise TaskError(
            "--plot: the results hold no per-length accuracy of a 'length' split "
            "(evaluate with --splits including length)"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = all_tasks()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, pts) in enumerate(sorted(curves.items())):
        color = colors[i % len(colors)]
        xs, ys = [p[0] for p in pts], [100 * p[1] for p in pts]
        ax.plot(xs, ys, marker="o", color=color, label=name)
        if name in tasks:
            tr = tasks[name].splits["train"]
            ax.axvspan(tr.min_length, tr.max_length, color=color, alpha=0.08, lw=0)
            ax.axvline(tr.max_length, color=color, ls=":", lw=1)
    ax.set_xlabel("input length (symbols)")
    ax.set_ylabel("exact-match accuracy (%)")
    ax.set_ylim(-3, 103)
    model = data["tracr_bench"]["model"].get("requested") or ""
    ax.set_title(f"accuracy against input length: {Path(str(model)).name or model}")
    ax.legend(title="task (shaded: training lengths)", fontsize=8, title_fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_bytes_atomic(path, figure_png(fig))
    return path


__all__ = ["check_plot_path", "length_curves", "plot_length_curves"]
