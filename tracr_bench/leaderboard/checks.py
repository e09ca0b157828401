"""Whether a submission may be on the leaderboard: :func:`validate`.

In: a submission document (a results file of ``tracr-bench eval`` with its ``submission`` block).
Out: nothing, or a one-line :class:`SubmissionError` with the reason. In order: both blocks and a
schema version this tracr-bench reads (:data:`~tracr_bench.leaderboard.schema.SCHEMA_VERSIONS`),
the seeds, the JSON schema of that version, and then what the file says of itself and what this
tracr-bench ships:

- ``submission.results_sha256`` is the sha256 of the results payload (:func:`results_sha256`);
  ``submit`` computes it, and every file under ``leaderboard/`` is re-checked whenever the tables
  are rendered, so an edited number is caught;
- ``submission.seeds.eval`` is the evaluation seed of the results;
- the tasks, splits and task versions are those of the current task registry
  (:func:`check_tasks`; :func:`stale_tasks` lists results on an older version, which the tables
  leave out);
- every number is finite, the ``tracr_bench`` rows agree with lm-eval's own blocks in the same
  file, and every derived figure (stderr, length buckets, the retention figures) with what it is
  derived from (:mod:`tracr_bench.leaderboard.figures`);
- the mechanism and length-frontier entries of a version-2 block are for the trained task and
  in range (:func:`~tracr_bench.leaderboard.measurements.check_measurements`);
- ``tracr_bench.retention.text_sha256`` is the sha256 of the retention shard that ships with the
  package (perplexity ratios compare like with like);
- ``tracr_bench.model.weights_sha256`` matches the weights files of the evaluated model folder
  when that folder exists on the submitting machine (always for the shipped default LM; only
  with ``check_files``, as ``submit`` does).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tracr_bench.leaderboard.figures import check_copies, check_derived, check_finite
from tracr_bench.leaderboard.measurements import check_measurements
from tracr_bench.leaderboard.schema import (
    SCHEMA_VERSIONS,
    SubmissionError,
    check_schema,
    results_sha256,
)
from tracr_bench.task import all_tasks


def validate(doc: object, *, check_files: bool = False, allow_stale: bool = False) -> None:
    """Raise a one-line SubmissionError unless ``doc`` is a valid submission for the current
    task registry. ``check_files``: also hash the evaluated model's weights where they exist;
    ``allow_stale``: accept results on an older task version (the tables leave them out)."""
    version = check_blocks(doc)  # from here on, doc is a dict with both blocks
    check_finite(doc)  # NaN passes JSON Schema's ranges
    check_seeds(doc)  # the seeds before the schema, so that a missing one is named as such
    check_schema(doc, version)
    check_results_hash(doc)
    check_eval_seed(doc)
    check_tasks(doc, allow_stale=allow_stale)
    check_copies(doc)
    check_retention(doc)
    check_derived(doc, shipped_retention_sha256())
    check_measurements(doc, allow_stale=allow_stale)
    if check_files:
        check_model_files(doc)


def check_blocks(doc: object) -> int:
    """A ``tracr_bench`` block and a ``submission`` block of a schema version this tracr-bench
    reads; returns that version."""
    if not isinstance(doc, dict):
        raise SubmissionError("not a results file: the top level is not a JSON object")
    if not isinstance(doc.get("tracr_bench"), dict):
        raise SubmissionError(
            "not a tracr-bench results file: no `tracr_bench` block (write one with "
            "`tracr-bench eval --output FILE`)"
        )
    sub = doc.get("submission")
    if not isinstance(sub, dict):
        raise SubmissionError("no `submission` block (add one with `tracr-bench submit`)")
    version = sub.get("schema_version")
    if version not in SCHEMA_VERSIONS:
        raise SubmissionError(
            f"submission schema version {version!r} is not supported (this tracr-bench reads "
            f"version {', '.join(str(v) for v in SCHEMA_VERSIONS)})"
        )
    # the listed version itself: `true` and `1.0` equal 1 here, and the schema then rejects them
    return SCHEMA_VERSIONS[SCHEMA_VERSIONS.index(version)]


def check_seeds(doc: dict) -> None:
    """The evaluation seed, in both blocks, and the training seed of every trained model."""
    tb, sub = doc["tracr_bench"], doc["submission"]
    if not isinstance(tb.get("seed"), int) or isinstance(tb.get("seed"), bool):
        raise SubmissionError(
            "missing seed: the results record no evaluation seed (tracr_bench.seed); "
            "re-run `tracr-bench eval --seed S --output FILE`"
        )
    seeds = sub.get("seeds") if isinstance(sub.get("seeds"), dict) else {}
    if not isinstance(seeds.get("eval"), int):
        raise SubmissionError("missing seed: submission.seeds.eval is not set")
    if sub.get("method") != "none" and not isinstance(seeds.get("train"), int):
        raise SubmissionError(
            f"missing seed: a {sub.get('method')} run needs its training seed "
            "(the model folder has no injection.json with one; give --seed N)"
        )


def check_results_hash(doc: dict) -> None:
    recorded = doc["submission"]["results_sha256"]
    actual = results_sha256(doc)
    if recorded != actual:
        raise SubmissionError(
            f"hash mismatch: submission.results_sha256 is {recorded[:12]}... but the results in "
            f"the file hash to {actual[:12]}... (the results were edited after submission)"
        )


def check_eval_seed(doc: dict) -> None:
    sub, tb = doc["submission"], doc["tracr_bench"]
    if sub["seeds"]["eval"] != tb["seed"]:
        raise SubmissionError(
            f"submission.seeds.eval ({sub['seeds']['eval']}) differs from the evaluation seed "
            f"of the results (tracr_bench.seed = {tb['seed']})"
        )


# ---------------------------------------------------------------------------- task versions


def stale_tasks(doc: dict) -> dict[str, tuple[int, int]]:
    """Tasks of ``doc`` evaluated at another version than the current one: name -> (theirs,
    current)."""
    tasks = all_tasks()
    return {
        name: (v, tasks[name].version)
        for name, v in sorted(doc["tracr_bench"]["task_versions"].items())
        if name in tasks and v != tasks[name].version
    }


def check_tasks(doc: dict, *, allow_stale: bool = False) -> None:
    """Unknown tasks and splits, and results computed on an older task version."""
    tasks = all_tasks()
    tb = doc["tracr_bench"]
    sub = doc["submission"]
    for name, version in sorted(tb["task_versions"].items()):
        if name not in tasks:
            raise SubmissionError(
                f"unknown task {name!r} in tracr_bench.task_versions; the tasks are: "
                f"{', '.join(sorted(tasks))}"
            )
        current = tasks[name].version
        if version != current and not allow_stale:
            raise SubmissionError(
                f"task {name!r} was evaluated at version {version} but the current version is "
                f"{current}; re-run `tracr-bench eval` with this tracr-bench"
            )
    for row in tb["splits"]:
        name, split = row["task"], row["split"]
        if name not in tasks:
            raise SubmissionError(
                f"unknown task {name!r} in tracr_bench.splits; the tasks are: "
                f"{', '.join(sorted(tasks))}"
            )
        if name not in tb["task_versions"]:
            raise SubmissionError(f"task {name!r} has results but no entry in task_versions")
        if split not in tasks[name].eval_splits:
            raise SubmissionError(
                f"unknown split {split!r} of task {name!r}; its evaluation splits are: "
                f"{', '.join(tasks[name].eval_splits)}"
            )
    pairs = [(r["task"], r["split"]) for r in tb["splits"]]
    if len(set(pairs)) != len(pairs):
        raise SubmissionError("a task/split appears twice in tracr_bench.splits")
    trained = sub.get("task")
    if trained is not None:
        if trained not in tasks:
            raise SubmissionError(
                f"unknown task {trained!r} in submission.task; the tasks are: "
                f"{', '.join(sorted(tasks))}"
            )
        if trained not in tb["task_versions"]:
            raise SubmissionError(
                f"the model was trained on {trained!r} but the results do not evaluate it"
            )
    inj = sub.get("injection") or {}
    inj_task, inj_version = inj.get("task"), inj.get("task_version")
    if (
        not allow_stale
        and inj_task in tasks
        and isinstance(inj_version, int)
        and inj_version != tasks[inj_task].version
    ):
        raise SubmissionError(
            f"the model was injected at version {inj_version} of task {inj_task!r} but the "
            f"current version is {tasks[inj_task].version}; inject it again"
        )


# ---------------------------------------------------------------------------- hashes


@cache
def shipped_retention_sha256() -> str | None:
    from tracr_bench.evaluate.retention import retention_digest
    from tracr_bench.models import heldout_text

    try:
        return retention_digest(heldout_text("retention"))
    except FileNotFoundError:  # pragma: no cover - a broken install
        return None


def check_retention(doc: dict) -> None:
    ret = doc["tracr_bench"]["retention"]
    if ret is None:
        return
    shipped = shipped_retention_sha256()
    if shipped is not None and ret["text_sha256"] != shipped:
        raise SubmissionError(
            f"hash mismatch: retention was measured on a text with sha256 "
            f"{ret['text_sha256'][:12]}..., not the shipped retention shard ({shipped[:12]}...)"
        )


def check_model_files(doc: dict) -> None:
    """The recorded weights hashes against the evaluated model folder, where it exists."""
    from tracr_bench.models import weights_digest

    model = doc["tracr_bench"]["model"]
    recorded = model["weights_sha256"]
    path = Path(model["path"])
    if model.get("requested") == "default" and not path.is_dir():
        from tracr_bench.models import DEFAULT_MODEL_DIR

        path = DEFAULT_MODEL_DIR
    if not path.is_dir():
        return  # evaluated elsewhere: the results hash is all there is to check
    actual = weights_digest(path)
    for name, sha in sorted(recorded.items()):
        if name not in actual:
            raise SubmissionError(
                f"hash mismatch: the results record weights file {name!r} but {path} has none"
            )
        if actual[name] != sha:
            raise SubmissionError(
                f"hash mismatch: {path / name} has sha256 {actual[name][:12]}... but the results "
                f"record {sha[:12]}... (the model changed after it was evaluated)"
            )
