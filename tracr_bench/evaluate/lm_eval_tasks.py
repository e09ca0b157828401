"""The lm-evaluation-harness side of tracr-bench: datasets, scoring and generated task configs.

Every task of ``tasks/`` and every evaluation split (``test`` and the OOD splits) is one lm-eval
task, ``tracr_bench_<task>_<split>``; each task has a group ``tracr_bench_<task>`` and the group
``tracr_bench`` holds them all plus ``tracr_bench_retention`` (perplexity on the default LM's
retention shard). The YAML files under ``tasks/lm_eval/`` are *generated* from the task
registry by ``tracr-bench lm-eval-configs`` (a test checks they are up to date), so a new task
module gets its configs without hand-written YAML.

Data come from ``custom_dataset: !function tracr_bench_lmeval.make_dataset``: the shim module
next to the YAML files calls into this module, which draws the split with ``Task.examples``
(deterministic in task, version, split and seed; pass another seed with
``--metadata '{"seed": 1}'``). Nothing is downloaded and no path is absolute.

Scoring: greedy generation up to the first newline, then exact match of the generation against
``Example.target`` with surrounding whitespace removed on both sides. The target's leading space
is part of the prompt/answer convention, but some tokenizers (SentencePiece) drop it when the
continuation is decoded on its own, so it must not decide the score. Splits that span at least
``MIN_BUCKET_SPAN`` input lengths also report ``acc_len_<lo>_<hi>``: the exact match on the
examples whose input length is in [lo, hi].
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tracr_bench.task import Task, TaskError, all_tasks, get_task

PREFIX = "tracr_bench"
GROUP = "tracr_bench"
RETENTION_TASK = "tracr_bench_retention"
RETENTION_VERSION = 1
RETENTION_DOC_CHARS = 4000  # paragraphs are packed into documents of at least this many chars
RETENTION_ENV = "TRACR_BENCH_RETENTION_TEXT"  # override the shard (tests, other held-out text)
SHIM = "tracr_bench_lmeval"  # the module next to the YAML files that ``!function`` loads
MIN_BUCKET_SPAN = 8  # splits spanning fewer input lengths get no per-length metrics
N_BUCKETS = 6
GEN_MARGIN = 4  # max_gen_toks = the longest target in characters + this


def task_name(task: str, split: str) -> str:
    return f"{PREFIX}_{task}_{split}"


def group_name(task: str) -> str:
    return f"{PREFIX}_{task}"


def config_dir() -> Path:
    """Where the generated configs live: ``tasks/lm_eval`` of the tasks package."""
    import tracr_bench_tasks

    return Path(tracr_bench_tasks.__file__).resolve().parent / "lm_eval"


# ---------------------------------------------------------------------------- length buckets


@dataclass(frozen=True)
class Bucket:
    lo: int
    hi: int  # inclusive

    @property
    def metric(self) -> str:
        return f"acc_len_{self.lo}_{self.hi}"


def length_buckets(task: Task, split: str) -> list[Bucket]:
    """Equal-width input-length buckets over the split's range, cut at the end of the training
    range so that no bucket mixes seen and unseen lengths; none for narrow splits."""
    sp = task.split(split)
    lo, hi = sp.min_length, sp.max_length
    if hi - lo + 1 < MIN_BUCKET_SPAN:
        return []
    width = math.ceil((hi - lo + 1) / N_BUCKETS)
    train_max = task.splits["train"].max_length
    segments = [(lo, hi)] if not lo <= train_max < hi else [(lo, train_max), (train_max + 1, hi)]
    out = []
    for start, end in segments:  # k near-equal parts of at most ``width`` lengths each
        n = end - start + 1
        k = math.ceil(n / width)
        cuts = [start + i * n // k for i in range(k + 1)]
        out += [Bucket(a, b - 1) for a, b in zip(cuts, cuts[1:], strict=False)]
    return out


def bucket_of(length: int, buckets: list[Bucket]) -> Bucket | None:
    for b in buckets:
        if b.lo <= length <= b.hi:
            return b
    return None


# ---------------------------------------------------------------------------- datasets


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
        for i, ex in enumerate(_split_examples(t, t.version, split, seed))
    ]


@functools.cache
def _split_examples(task: Task, version: int, split: str, seed: int) -> tuple:
    """A whole split, drawn once per process: a pure function of (task, version, split, seed)."""
    return tuple(task.examples(split, seed=seed))


def make_dataset(tracr_task: str, tracr_split: str, seed: int = 0, **_: object):
    """lm-eval ``custom_dataset``: the split as a ``DatasetDict`` with one ``test`` split.

    lm-eval passes the task's metadata (``version``, ``config_source``, the CLI's model_args and
    ``--metadata``) as keyword arguments; all but ``seed`` are ignored."""
    import datasets

    docs = split_docs(tracr_task, tracr_split, int(seed))
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def score(prediction: str, target: str) -> bool:
    """Exact match of a generation (already cut at the stop sequence) against a target."""
    return prediction.split("\n", 1)[0].strip() == target.strip()


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """lm-eval ``process_results``: exact match, and the same under the doc's length bucket."""
    correct = float(score(results[0], doc["target"]))
    out = {"exact_match": correct}
    bucket = bucket_of(doc["length"], length_buckets(get_task(doc["task"]), doc["split"]))
    if bucket is not None:
        out[bucket.metric] = correct
    return out


# ---------------------------------------------------------------------------- retention


def retention_text() -> str:
    path = os.environ.get(RETENTION_ENV)
    if path:
        return Path(path).read_text("utf-8")
    from tracr_bench.models import REBUILD_HINT, heldout_text

    try:
        return heldout_text("retention")
    except FileNotFoundError:
        raise TaskError(
            f"the retention shard of the default LM is missing; {REBUILD_HINT}"
        ) from None


def retention_docs(text: str | None = None) -> list[dict]:
    """The shard's paragraphs packed in order into documents of >= RETENTION_DOC_CHARS chars."""
    text = retention_text() if text is None else text
    docs: list[dict] = []
    current: list[str] = []
    size = 0
    for para in re.split(r"\n\s*\n", text):
        para = para.strip("\n")
        if not para.strip():
            continue
        current.append(para)
        size += len(para) + 2
        if size >= RETENTION_DOC_CHARS:
            docs.append({"index": len(docs), "text": "\n\n".join(current)})
            current, size = [], 0
    if current:
        docs.append({"index": len(docs), "text": "\n\n".join(current)})
    return docs


def retention_digest(text: str | None = None) -> str:
    text = retention_text() if text is None else text
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_retention_dataset(**_: object):
    import datasets

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(retention_docs())})


def process_retention(doc: dict, results: list[float]) -> dict[str, tuple[float, int]]:
    (loglikelihood,) = results
    words = len(re.split(r"\s+", doc["text"].strip()))
    n_bytes = len(doc["text"].encode("utf-8"))
    return {
        "word_perplexity": (loglikelihood, words),
        "byte_perplexity": (loglikelihood, n_bytes),
        "bits_per_byte": (loglikelihood, n_bytes),
    }


# ---------------------------------------------------------------------------- YAML configs

HEADER = (
    "# Generated by `tracr-bench lm-eval-configs` from the task registry ({source}).\n"
    "# Do not edit: change the task module and regenerate.\n"
)

SHIM_TEXT = '''"""Loaded by lm-eval's ``!function tracr_bench_lmeval.<name>`` (a file next to the
YAML files); the logic lives in the installed package, ``tracr_bench.evaluate.lm_eval_tasks``.
Generated by `tracr-bench lm-eval-configs`: do not edit."""

from tracr_bench.evaluate.lm_eval_tasks import (  # noqa: F401
    make_dataset,
    make_retention_dataset,
    process_results,
    process_retention,
)
'''


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    import json

    return json.dumps(text)


def max_gen_toks(task: Task, split: str) -> int:
    """The longest target of the whole split in characters, plus ``GEN_MARGIN``."""
    return _max_gen_toks(task, task.version, split)


@functools.cache
def _max_gen_toks(task: Task, version: int, split: str) -> int:
    longest = max((len(ex.target) for ex in _split_examples(task, version, split, 0)), default=1)
    return longest + GEN_MARGIN


def split_yaml(task: Task, split: str) -> str:
    metrics = ["exact_match"] + [b.metric for b in length_buckets(task, split)]
    metric_lines = "".join(
        f"  - metric: {m}\n    aggregation: mean\n    higher_is_better: true\n" for m in metrics
    )
    return (
        HEADER.format(source=f"{task.source or task.name}, split {split}")
        + f"task: {task_name(task.name, split)}\n"
        + f"custom_dataset: !function {SHIM}.make_dataset\n"
        + "dataset_kwargs:\n"
        + f"  tracr_task: {task.name}\n"
        + f"  tracr_split: {split}\n"
        + "test_split: test\n"
        + "output_type: generate_until\n"
        + 'doc_to_text: "{{prompt}}"\n'
        + 'doc_to_target: "{{target}}"\n'
        + "generation_kwargs:\n"
        + f"  until: [{_q(chr(10))}]\n"
        + "  do_sample: false\n"
        + f"  max_gen_toks: {max_gen_toks(task, split)}\n"
        + f"process_results: !function {SHIM}.process_results\n"
        + "metric_list:\n"
        + metric_lines
        + "metadata:\n"
        + f"  version: {task.version}\n"
    )


def task_group_yaml(task: Task) -> str:
    items = "".join(f"  - {task_name(task.name, s)}\n" for s in task.eval_splits)
    return (
        HEADER.format(source=task.source or task.name)
        + f"group: {group_name(task.name)}\n"
        + "task:\n"
        + items
        + "metadata:\n"
        + f"  version: {task.version}\n"
    )


def all_group_yaml(tasks: list[Task]) -> str:
    items = "".join(f"  - {group_name(t.name)}\n" for t in tasks)
    return (
        HEADER.format(source="every task")
        + f"group: {GROUP}\n"
        + "task:\n"
        + items
        + f"  - {RETENTION_TASK}\n"
        + "metadata:\n"
        + "  version: 1\n"
    )


def retention_yaml() -> str:
    return (
        HEADER.format(source="the default LM's retention shard")
        + f"task: {RETENTION_TASK}\n"
        + f"custom_dataset: !function {SHIM}.make_retention_dataset\n"
        + "test_split: test\n"
        + "output_type: loglikelihood_rolling\n"
        + 'doc_to_text: ""\n'
        + 'doc_to_target: "{{text}}"\n'
        + f"process_results: !function {SHIM}.process_retention\n"
        + "metric_list:\n"
        + "  - metric: word_perplexity\n"
        + "  - metric: byte_perplexity\n"
        + "  - metric: bits_per_byte\n"
        + "metadata:\n"
        + f"  version: {RETENTION_VERSION}\n"
    )


def render_configs() -> dict[str, str]:
    """File name -> content of every generated file, for the current task registry."""
    tasks = [all_tasks()[n] for n in sorted(all_tasks())]
    files = {f"{SHIM}.py": SHIM_TEXT, f"_{GROUP}.yaml": all_group_yaml(tasks)}
    files[f"{RETENTION_TASK}.yaml"] = retention_yaml()
    for t in tasks:
        files[f"_{group_name(t.name)}.yaml"] = task_group_yaml(t)
        for s in t.eval_splits:
            files[f"{task_name(t.name, s)}.yaml"] = split_yaml(t, s)
    return files


def _generated(path: Path) -> bool:
    """Whether a file in the config folder is one of ours (others are left alone)."""
    return path.name == f"{SHIM}.py" or (
        path.suffix == ".yaml" and path.name.lstrip("_").startswith(PREFIX)
    )


def run_configs(pairs: list[tuple[Task, str]]) -> dict[str, str]:
    """File name -> content of the generated files that a run of these (task, split) pairs and
    the retention task reads (lm-eval loads tasks by name, so no other file matters to it)."""
    files = {f"{SHIM}.py": SHIM_TEXT, f"{RETENTION_TASK}.yaml": retention_yaml()}
    for t, s in pairs:
        files[f"{task_name(t.name, s)}.yaml"] = split_yaml(t, s)
    return files


def stale_configs(
    directory: Path | None = None, pairs: list[tuple[Task, str]] | None = None
) -> list[str]:
    """Names of generated files that are missing, different or no longer generated; with
    ``pairs``, only among the files a run of those splits reads (``run_configs``)."""
    directory = config_dir() if directory is None else directory
    want = render_configs() if pairs is None else run_configs(pairs)
    bad = []
    for name, text in want.items():
        path = directory / name
        if not path.is_file() or path.read_text("utf-8") != text:
            bad.append(name)
    if directory.is_dir() and pairs is None:
        bad += sorted(p.name for p in directory.iterdir() if _generated(p) and p.name not in want)
    return bad


def write_configs(directory: Path | None = None) -> list[str]:
    """(Re)write the generated files; remove generated files of tasks that are gone. Returns
    the names that changed."""
    directory = config_dir() if directory is None else directory
    directory.mkdir(parents=True, exist_ok=True)
    changed = stale_configs(directory)
    want = render_configs()
    for name in changed:
        path = directory / name
        if name in want:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(want[name], "utf-8")
            os.replace(tmp, path)
        else:
            path.unlink()
    return changed
