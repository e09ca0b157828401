"""The task registry: every module of ``tasks/`` (the ``tracr_bench_tasks`` package) that defines
``TASK = Task(...)``, found by importing the package's modules, by task name."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from functools import cache

from tracr_bench.task.spec import Task, TaskError

TASKS_PACKAGE = "tracr_bench_tasks"


@cache
def all_tasks() -> dict[str, Task]:
    """Every task defined by a module of ``tasks/`` (``TASK = Task(...)``), by name."""
    pkg = importlib.import_module(TASKS_PACKAGE)
    found: dict[str, Task] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{TASKS_PACKAGE}.{info.name}")
        task = getattr(module, "TASK", None)
        if task is None:
            continue
        if not isinstance(task, Task):
            raise TaskError(f"{module.__name__}.TASK is not a tracr_bench.task.Task")
        if task.name in found:
            raise TaskError(f"task name {task.name!r} defined twice ({module.__name__})")
        object.__setattr__(task, "source", module.__name__)
        found[task.name] = task
    return found


def get_task(name: str) -> Task:
    tasks = all_tasks()
    if name not in tasks:
        raise TaskError(f"unknown task {name!r}; choose from: {', '.join(sorted(tasks))}")
    return tasks[name]


def parse_names(arg: str | Sequence[str] | None) -> list[str] | None:
    """A comma-separated list (or a sequence) of names, blanks dropped; None when empty."""
    if arg is None:
        return None
    items = arg.split(",") if isinstance(arg, str) else list(arg)
    items = [s.strip() for s in items if s.strip()]
    return items or None


def select_tasks(arg: str | Sequence[str] | None) -> list[Task]:
    """The tasks named by ``arg`` (see ``parse_names``), in that order without repeats; every
    task, by name, when ``arg`` names none. Unknown names are a one-line ``TaskError``."""
    names = parse_names(arg)
    if names is None:
        return [all_tasks()[n] for n in sorted(all_tasks())]
    return [get_task(n) for n in dict.fromkeys(names)]
