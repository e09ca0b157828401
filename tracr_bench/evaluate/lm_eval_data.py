"""The tasks as lm-eval sees them: names and datasets.

Every task of ``tasks/`` and every evaluation split (``test`` and the OOD splits) is one lm-eval
task, ``tracr_bench_<task>_<split>``, in a group ``tracr_bench_<task>``; the group ``tracr_bench``
holds them all plus ``tracr_bench_retention``. Data come from ``custom_dataset: !function
tracr_bench_lmeval.make_dataset``: the split drawn with ``Task.examples`` (deterministic in task,
version, split and seed; another seed with ``--metadata '{"seed": 1}'``). Nothing is downloaded.

``split_examples`` is that draw, made once per process: every step of an evaluation reads it
(lm-eval's dataset, the context check, the per-length counts, ``max_gen_toks``).
"""

from __future__ import annotations

import functools

from tracr_bench.task import Example, Task, TaskError, get_task

PREFIX = "tracr_bench"
GROUP = "tracr_bench"


def task_name(task: str, split: str) -> str:
    return f"{PREFIX}_{task}_{split}"


def group_name(task: str) -> str:
    return f"{PREFIX}_{task}"


def split_docs(task: str, split: str, seed: int = 0) -> list[dict]:
    t = get_task(task)
    if split not in t.eval_splits:
        raise TaskError(
            f"{split!r} is not an evaluation split of task {task!r}; "
            f"choose from: {', '.join(t.eval_splits)}"
        )
    return [
        {
            "index": i,
            "task": task,
            "split": split,
            "input": " ".join(ex.input),
            "length": ex.length,
            "prompt": ex.prompt,
            "target": ex.target,
        }
        for i, ex in enumerate(split_examples(t, split, seed))
    ]


def split_examples(task: Task, split: str, seed: int = 0) -> tuple[Example, ...]:
    """The whole split at ``seed``, drawn once per process (a pure function of task, version,
    split and seed). Its first ``n`` examples are ``Task.examples(split, size=n, seed=seed)``,
    the ones lm-eval's ``--limit n`` evaluates."""
    return _drawn(task, split, int(seed))


@functools.cache
def _drawn(task: Task, split: str, seed: int) -> tuple[Example, ...]:
    return tuple(task.examples(split, seed=seed))


def make_dataset(tracr_task: str, tracr_split: str, seed: int = 0, **_: object):
    """lm-eval ``custom_dataset``: the split as a ``DatasetDict`` with one ``test`` split.

    lm-eval passes the task's metadata (``version``, ``config_source``, the CLI's model_args and
    ``--metadata``) as keyword arguments; all but ``seed`` are ignored."""
    import datasets

    docs = split_docs(tracr_task, tracr_split, int(seed))
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})
