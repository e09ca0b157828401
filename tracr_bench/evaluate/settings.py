"""What one ``tracr-bench eval`` run is asked for, checked before anything is loaded.

``check_inputs`` turns ``evaluate``'s arguments into a ``RunSettings`` or stops with one line
(``TaskError``/``ModelError``): unknown tasks, splits, engines or general tasks' options, bad
numbers, an output folder that does not exist, a model folder that is not there. The results
file records the settings (``results.assemble_results``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tracr_bench.evaluate.general import check_general
from tracr_bench.models import resolve_model_path
from tracr_bench.task import Task, TaskError, parse_names, select_tasks

ENGINES = ("fast", "lm-eval")


@dataclass(frozen=True)
class RunSettings:
    """What one evaluation was asked for, checked (``check_inputs`` makes it)."""

    requested_model: str  # as the caller named it (a path or ``default``)
    path: Path  # the model folder
    pairs: list[tuple[Task, str]]  # (task, split) to evaluate, in order
    limit: int | None
    batch_size: int
    device: str
    seed: int
    engine: str
    output: Path | None
    oracle: bool
    retention: bool
    progress: bool
    verbose: bool
    cache_dir: Path | None
    general: tuple[str, ...] = ()  # stock lm-eval tasks (``--general``)
    include_paths: tuple[Path, ...] = ()  # folders of lm-eval task configs (``--include-path``)


def select(
    tasks: str | Sequence[str] | None, splits: str | Sequence[str] | None
) -> list[tuple[Task, str]]:
    """(task, split) pairs to evaluate; one-line TaskError for unknown names."""
    chosen = select_tasks(tasks)
    split_names = parse_names(splits)
    if split_names is not None:
        for s in split_names:
            if not any(s in t.eval_splits for t in chosen):
                offered = sorted({x for t in chosen for x in t.eval_splits})
                raise TaskError(
                    f"unknown evaluation split {s!r} for the chosen tasks; "
                    f"choose from: {', '.join(offered)}"
                )
    return [
        (t, s) for t in chosen for s in t.eval_splits if split_names is None or s in split_names
    ]


def check_inputs(
    model: str | Path | None,
    tasks: str | Sequence[str] | None,
    splits: str | Sequence[str] | None,
    output: str | Path | None,
    general: str | Sequence[str] | None = None,
    include_paths: Sequence[str | Path] | None = None,
    **settings,
) -> RunSettings:
    """``evaluate``'s arguments, checked before anything is loaded (one-line ``TaskError`` or
    ``ModelError``); ``settings`` are the other ``RunSettings`` fields, as given."""
    engine, limit, batch_size = settings["engine"], settings["limit"], settings["batch_size"]
    if engine not in ENGINES:
        raise TaskError(f"unknown engine {engine!r}; choose from: {', '.join(ENGINES)}")
    if limit is not None and limit < 1:
        raise TaskError(f"--limit must be a positive number of examples, got {limit}")
    if batch_size < 1:
        raise TaskError(f"--batch-size must be at least 1, got {batch_size}")
    pairs = select(tasks, splits)
    general_names, folders = check_general(general, include_paths)
    out_path = Path(output) if output is not None else None
    if out_path is not None and not out_path.parent.is_dir():
        raise TaskError(
            f"cannot write {str(out_path)!r}: folder {str(out_path.parent)!r} is missing"
        )
    path = resolve_model_path(model)
    return RunSettings(
        requested_model=str(model),
        path=path,
        pairs=pairs,
        output=out_path,
        general=tuple(general_names),
        include_paths=tuple(folders),
        **settings,
    )


__all__ = ["ENGINES", "RunSettings", "check_inputs", "select"]
