"""Learning curves: task accuracy and output-variable decoding against training step.

In: run folders of ``tracr-bench inject ... --save-every N`` (each snapshot
``RUN/snapshots/step-N/`` is a model folder with its own ``injection.json`` carrying
``snapshot_step``; the finished model is ``RUN`` itself, at ``steps``), all of one task. For
every snapshot and the finished model (a run still training contributes its snapshots so far):

- task accuracy on ``test`` (and each out-of-distribution split with ``--ood``): exact match
  through ``tracr_bench.evaluate.evaluate`` on the first ``--limit`` examples of each split
  (oracle and retention off: they do not change with training);
- decoding accuracy of the program's output variable (``final_result``) at the LM hidden state
  aligned with program layer L (``program.aligned_hidden_states[L]`` of the run's record, else
  L), on the first ``--decode-limit`` test examples, through ``tracr_bench.decode.run.decode``:
  the adapter readout for tracr runs (``--probe-too``: also the probe), a linear probe fitted on
  ``--train-examples`` train examples for baseline runs (the untrained adapter reads nothing).
  Scored at the answer positions by default (``--positions answer``: where the model predicts
  an answer token, so the decoded value is the answer the program gives): over all positions
  the output variable is mostly one constant value on some tasks (count: always answering the
  most frequent value is right at 96.6% of the positions of 300 test examples), which hides
  what training changes.

Out: one JSON (``--json``, default the ``--output`` PNG's name with ``.json``) with every point,
and one PNG: x the training step; per run, its task accuracy (solid) and its decoding accuracy
(dashed; dotted for a tracr run's probe), in the run's colour.

Usage: ``python benchmarks/learning_curve.py --runs RUN_tracr RUN_baseline --task count
--limit 300 --output docs/curves/count.png``. Bad input ends in one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

RECORD = "injection.json"
OUTPUT_VARIABLE = "final_result"


class CurveError(Exception):
    """Bad input; the message says what is wrong and what to do."""


def model_points(run: Path) -> list[tuple[int, Path, dict]]:
    """(training step, model folder, its record) for every complete snapshot and the finished
    model of ``run``, by step."""
    if not run.is_dir():
        raise CurveError(f"--runs: {str(run)!r} is not a folder; give inject run folders")
    points = []
    for folder in sorted((run / "snapshots").glob("step-*")):
        if (folder / RECORD).is_file():  # a snapshot being written has no record yet
            record = json.loads((folder / RECORD).read_text())
            points.append((int(record["snapshot_step"]), folder, record))
    if (run / RECORD).is_file():
        record = json.loads((run / RECORD).read_text())
        points.append((int(record["steps"]), run, record))
    if not points:
        raise CurveError(
            f"--runs: {str(run)!r} holds no finished model and no snapshot; train it with "
            "`tracr-bench inject ... --save-every N`"
        )
    return sorted(points, key=lambda p: p[0])


def checked_points(run: Path, task: str) -> list[tuple[int, Path, dict]]:
    """``model_points`` of a run injected with ``task``."""
    points = model_points(run)
    tasks = {p[2].get("task") for p in points}
    if tasks != {task}:
        raise CurveError(
            f"--runs: {str(run)!r} was injected with task {sorted(map(str, tasks))}, not "
            f"{task!r}; give runs of one task"
        )
    return points


def aligned_output_state(record: dict) -> int:
    """The LM hidden state aligned with the program's last layer L."""
    program = record.get("program") or {}
    aligned = program.get("aligned_hidden_states")
    return int(aligned[-1]) if aligned else int(program["layers"])


def task_accuracy(model: Path, task: str, splits: list[str], args) -> dict[str, float | None]:
    """Exact match per split on the first ``args.limit`` examples."""
    from tracr_bench.evaluate.run import evaluate

    data = evaluate(
        str(model), tasks=task, splits=splits, limit=args.limit, batch_size=args.batch_size,
        device=args.device, seed=args.seed, oracle=False, retention=False, progress=False,
    )  # fmt: skip
    return {row["split"]: row["accuracy"] for row in data["tracr_bench"]["splits"]}


def output_decoding(model: Path, task: str, readout: str, layer: int, args) -> dict:
    """``final_result`` decoding at hidden state ``layer`` on test through ``readout``."""
    from tracr_bench.decode.config import DecodeConfig
    from tracr_bench.decode.run import decode

    config = DecodeConfig(
        task=task, model=str(model), splits=("test",), limit=args.decode_limit, readout=readout,
        layers=(layer,), variables=(OUTPUT_VARIABLE,), intervene="none", noise=(),
        positions=args.positions, train_examples=args.train_examples, seed=args.seed,
        batch_size=args.batch_size, device=args.device, progress=False,
    )  # fmt: skip
    result = decode(config)
    cell = result["decoding"][readout]["test"][OUTPUT_VARIABLE][str(layer)] or {}
    return {
        "accuracy": cell.get("accuracy"),
        "positions": cell.get("positions"),
        "control_accuracy": cell.get("control_accuracy"),
        "layer": layer,
        "majority": result["splits"]["test"]["majority"].get(OUTPUT_VARIABLE),
    }


def readouts_for(method: str, probe_too: bool) -> list[str]:
    if method == "tracr":
        return ["adapter", "probe"] if probe_too else ["adapter"]
    return ["probe"]


def measure_run(run: Path, args, splits: list[str], log) -> dict:
    """Every point of one run."""
    points = checked_points(run, args.task)
    method = points[-1][2].get("method")
    out = {
        "run": str(run.resolve()),
        "method": method,
        "method_variant": points[-1][2].get("method_variant"),
        "finished": (run / RECORD).is_file(),
        "points": [],
    }
    for step, model, record in points:
        t0 = time.perf_counter()
        layer = aligned_output_state(record)
        point = {
            "step": step,
            "model": str(model.resolve()),
            "accuracy": task_accuracy(model, args.task, splits, args),
            "decoding": {
                r: output_decoding(model, args.task, r, layer, args)
                for r in readouts_for(method, args.probe_too)
            },
        }
        point["seconds"] = round(time.perf_counter() - t0, 1)
        log(f"{run.name} step {step}: {point['accuracy']} decoding {point['decoding']}")
        out["points"].append(point)
    return out


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
STYLES = {"adapter": "--", "probe": ":"}


def curve_png(result: dict) -> bytes:
    """The figure: accuracy (%) against training step, per run and measure."""
    import matplotlib

    from tracr_bench.files import figure_png

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110, layout="constrained")
    for colour, run in zip(COLOURS * 4, result["runs"], strict=False):
        label = run["method"] + (f" ({run['method_variant']})" if run["method_variant"] else "")
        steps = [p["step"] for p in run["points"]]
        for split in result["splits"]:
            values = [_pct(p["accuracy"].get(split)) for p in run["points"]]
            width = 2.0 if split == "test" else 1.0
            alpha = 1.0 if split == "test" else 0.5
            name = f"{label}: task accuracy, {split}"
            ax.plot(steps, values, "-o", color=colour, lw=width, ms=3, alpha=alpha, label=name)
        for readout in run["points"][0]["decoding"] if run["points"] else []:
            values = [_pct(p["decoding"][readout]["accuracy"]) for p in run["points"]]
            layer = run["points"][-1]["decoding"][readout]["layer"]
            name = f"{label}: {OUTPUT_VARIABLE} decoded ({readout}, hidden state {layer})"
            ax.plot(steps, values, STYLES[readout], marker="s", ms=3, color=colour, label=name)
    floors = [
        d["majority"] for r in result["runs"] for p in r["points"] for d in p["decoding"].values()
    ]
    floors = [f for f in floors if f is not None]
    if floors:  # the same test examples everywhere: one floor
        label = f"{OUTPUT_VARIABLE}: always the most frequent value"
        ax.axhline(100 * max(floors), color="grey", lw=1, ls="-.", label=label)
    ax.set_xlabel("training step")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    where = "answer positions" if result["positions"] == "answer" else "all positions"
    ax.set_title(
        f"{result['task']}: task accuracy (first {result['limit']} examples per split) and "
        f"{OUTPUT_VARIABLE} decoding (test, {where})",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="best")
    return figure_png(fig)


def _pct(x: float | None) -> float:
    return float("nan") if x is None else 100 * x


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", type=Path, required=True, help="inject run folders")
    p.add_argument("--task", required=True)
    p.add_argument("--limit", type=int, default=300, help="examples per split for accuracy")
    p.add_argument("--decode-limit", type=int, default=None, help="test examples for decoding "
                   "(default: --limit)")  # fmt: skip
    p.add_argument("--ood", action="store_true", help="also every out-of-distribution split")
    p.add_argument("--probe-too", action="store_true", help="tracr runs: the probe as well")
    p.add_argument("--positions", choices=("all", "answer"), default="answer")
    p.add_argument("--train-examples", type=int, default=500, help="train examples for probes")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, required=True, help="the PNG")
    p.add_argument("--json", type=Path, default=None, help="default: --output with .json")
    args = p.parse_args(argv)
    args.decode_limit = args.decode_limit or args.limit
    args.json = args.json or args.output.with_suffix(".json")
    return args


def check_args(args: argparse.Namespace) -> list[str]:
    """The splits to evaluate; CurveError for what can be told before any work."""
    from tracr_bench.task import get_task

    if args.output.suffix.lower() != ".png":
        raise CurveError(f"--output writes a PNG: give a name ending in .png, not {args.output}")
    for path in (args.output, args.json):
        if not path.parent.is_dir():
            raise CurveError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} is missing")
    if min(args.limit, args.decode_limit) < 1 or args.train_examples < 10:
        raise CurveError("--limit and --decode-limit must be >= 1, --train-examples >= 10")
    task = get_task(args.task)
    for run in args.runs:
        checked_points(run, args.task)
    return task.eval_splits if args.ood else ["test"]


def main(argv: list[str] | None = None) -> int:
    from tracr_bench.files import write_bytes_atomic, write_json_atomic
    from tracr_bench.models import ModelError
    from tracr_bench.task import TaskError

    args = parse_args(argv)
    t0 = time.perf_counter()
    try:
        splits = check_args(args)
        runs = [
            measure_run(run, args, splits, lambda m: print(m, file=sys.stderr)) for run in args.runs
        ]
    except (CurveError, TaskError, ModelError) as err:
        print(f"tracr-bench: error: {err}", file=sys.stderr)
        return 2
    result = {
        "format": "tracr-bench-learning-curve/1",
        "task": args.task,
        "limit": args.limit,
        "decode_limit": args.decode_limit,
        "positions": args.positions,
        "train_examples": args.train_examples,
        "seed": args.seed,
        "splits": splits,
        "runs": runs,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json_atomic(args.json, result)
    write_bytes_atomic(args.output, curve_png(result))
    print(f"{args.json}\n{args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
