"""General-ability tasks: stock lm-eval tasks beside the tracr-bench splits, in the same run.

``tracr-bench eval --general lambada_openai,sst2,mrpc`` adds tasks (or groups, or tags) of
lm-eval's own registry to the run; ``--include-path DIR`` (repeatable) adds folders of lm-eval task
configs, searched first, so that a task can be run on a local copy of its data (``dataset_path:
json`` with ``dataset_kwargs: {data_files: ...}``). They go through the same
``simple_evaluate`` call, so their figures land in the results file's ``results`` block beside
the splits', computed by lm-eval's ``HFLM`` (the fast engine only answers tracr-bench requests).

Indexing lm-eval's ~14,700 built-in tasks costs about 7 s, so it happens only when a name is not
found in the include folders. Each task is built here, before the model is loaded: building it
loads its dataset, so a task whose dataset cannot be loaded (offline, as tracr-bench runs by
default: ``HF_DATASETS_OFFLINE=1`` unless set) stops the run with one line naming it, before any
work is done.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracr_bench.evaluate.lm_eval_data import PREFIX
from tracr_bench.task import TaskError, parse_names

HINT = (
    "download it into the Hugging Face datasets cache beforehand (a run with "
    "HF_DATASETS_OFFLINE=0 may download it), or run a local copy of the task with "
    "--include-path DIR (dataset_path: json, dataset_kwargs: data_files)"
)


@dataclass
class GeneralTasks:
    """The general tasks of a run: the names asked for, the include folders, and lm-eval's
    task or group objects (datasets loaded), ready for ``simple_evaluate``."""

    names: list[str] = field(default_factory=list)
    include_paths: list[Path] = field(default_factory=list)
    local: list[str] = field(default_factory=list)  # the names found in the include folders
    objects: list[Any] = field(default_factory=list)  # lm-eval Task / Group objects
    result_keys: list[str] = field(default_factory=list)  # their tasks and groups, by name

    @property
    def stock(self) -> list[str]:
        """The names from lm-eval's own registry (the stock command line can run them)."""
        return [n for n in self.names if n not in self.local]

    def record(self) -> dict:
        """What the results file records of them."""
        return {
            "tasks": self.names,
            "local_tasks": self.local,
            "include_paths": [str(p.resolve()) for p in self.include_paths],
            "results": self.result_keys,
        }


def check_general(
    general: str | Sequence[str] | None, include_paths: Sequence[str | Path] | None
) -> tuple[list[str], list[Path]]:
    """The general task names and include folders, checked (one-line ``TaskError``)."""
    names = list(dict.fromkeys(parse_names(general) or []))
    folders = [Path(p) for p in include_paths or []]
    for folder in folders:
        if not folder.is_dir():
            raise TaskError(f"--include-path {str(folder)!r} is not a folder")
    if folders and not names:
        raise TaskError("--include-path adds task folders for --general: name the tasks there")
    ours = [n for n in names if n.startswith(PREFIX)]
    if ours:
        raise TaskError(
            f"{ours[0]!r} is a tracr-bench task: choose it with --tasks and --splits, not --general"
        )
    return names, folders


def load_general(names: list[str], include_paths: list[Path]) -> GeneralTasks:
    """Index the tasks, then build each one (loading its dataset): unknown names and datasets
    that cannot be loaded are a ``TaskError`` naming the task."""
    found = GeneralTasks(names, include_paths)
    if not names:
        return found
    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # its per-task set-up warnings
    manager, found.local = _manager_knowing(names, include_paths)
    for name in names:
        try:
            loaded = manager.load([name])
        except Exception as err:  # lm-eval and datasets raise many kinds; all mean the same
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise TaskError(
                f"general task {name!r} needs its dataset, which cannot be loaded here "
                f"({reason}); {HINT}"
            ) from None
        found.objects += _top_level(name, loaded)
        found.result_keys += [*loaded.get("groups", {}), *loaded["tasks"]]
    return found


def _manager_knowing(names: list[str], include_paths: list[Path]) -> tuple[Any, list[str]]:
    """A ``TaskManager`` that knows every name (the include folders alone if they hold them
    all, else with lm-eval's built-in tasks too) and the names found in the include folders."""
    from lm_eval.tasks import TaskManager

    folders = [str(p) for p in include_paths]
    local: list[str] = []
    if folders:
        manager = TaskManager(include_path=folders, include_defaults=False)
        local = [n for n in names if n in manager.all_tasks]
        if len(local) == len(names):
            return manager, local
    manager = TaskManager(include_path=folders or None, include_defaults=True)
    unknown = [n for n in names if n not in manager.all_tasks]
    if unknown:
        where = "lm-eval's registry" + (" or the --include-path folders" if folders else "")
        raise TaskError(
            f"unknown general task {unknown[0]!r}: not a task, group or tag of {where} "
            "(`lm-eval ls tasks` lists them)"
        )
    return manager, local


def _top_level(name: str, loaded: dict) -> list:
    """The objects to hand to ``simple_evaluate`` for ``name``: its group, its task, or (a
    tag) the tasks it names."""
    if name in loaded.get("groups", {}):
        return [loaded["groups"][name]]
    if name in loaded["tasks"]:
        return [loaded["tasks"][name]]
    return list(loaded["tasks"].values())


__all__ = ["GeneralTasks", "check_general", "load_general"]
