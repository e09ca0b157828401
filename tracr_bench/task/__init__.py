"""Stage 1, the task: what is to be injected and how it is measured.

In: a module under ``tasks/`` that defines ``TASK = Task(...)`` (a RASP program, a seeded input
generator, a prompt, the reference answer, a ``train``/``test`` split and named
out-of-distribution splits), written with the kit: ``TokenMap.identity``, ``standard_splits``
and ``uniform_strings`` (``draws``) and the RASP pieces of ``tracr_bench.task.lib``.
Out: ``Task`` objects from the registry (``get_task``, ``all_tasks``), their deterministic
``Example`` lists per split and seed, what each split really covers with warnings where it
cannot be drawn as declared, and its longest prompt + answer in tokens (``survey``), and
hypothesis strategies over their inputs (``tracr_bench.task.strategies``).
"""

from tracr_bench.task.draws import standard_splits, uniform_strings
from tracr_bench.task.registry import all_tasks, get_task, parse_names, select_tasks
from tracr_bench.task.spec import (
    Example,
    Split,
    Symbols,
    Task,
    TaskError,
    TokenMap,
    examples_digest,
    split_seed,
)

__all__ = [
    "Example",
    "Split",
    "Symbols",
    "Task",
    "TaskError",
    "TokenMap",
    "all_tasks",
    "examples_digest",
    "get_task",
    "parse_names",
    "select_tasks",
    "split_seed",
    "standard_splits",
    "uniform_strings",
]
