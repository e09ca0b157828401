"""What a submission may say about a model beyond its accuracy (schema version 2): how it
computes (``mechanism``, from a ``tracr-bench decode`` JSON) and how far it generalises in input
length (``length_frontier``, from a ``tracr-bench search --json`` file), per task the model was
trained on.

In: the file given to ``submit --mechanism`` or ``--search`` and the submission being built.
Out: the entry the ``submission`` block keeps (:func:`attach_measurements`), with the file's name
and sha256; and :func:`check_measurements`, the checks of these entries that a submission file
must pass whenever it is read again (the trained task, its version, ranges, a frontier inside
the searched lengths). Each rejection is a one-line :class:`SubmissionError`.

The files are read by :mod:`tracr_bench.leaderboard.sources`. Here they must be about the model
that was evaluated and its trained task: the decode JSON always records the model's weights,
which must match; a search file is checked likewise where it records them (``weights_checked``
says whether it did); the decode run's task version must be the results' and the search's
training lengths the task's.
"""

from __future__ import annotations

from pathlib import Path

from tracr_bench.leaderboard.schema import SubmissionError, weights_key
from tracr_bench.leaderboard.sources import (
    frontier_from_search,
    mechanism_from_decode,
    read_source,
)
from tracr_bench.task import all_tasks

# ---------------------------------------------------------------------------- the entries


def attach_measurements(
    doc: dict, *, mechanism: str | Path | None = None, search: str | Path | None = None
) -> None:
    """Read the ``--mechanism`` (decode JSON) and ``--search`` files, check that they are about
    the evaluated model and its trained task, and add their entries to ``doc``'s submission
    block (which then is of schema version 2)."""
    from tracr_bench.leaderboard.schema import SCHEMA_VERSION

    sub = doc["submission"]
    for key, path, read in (
        ("mechanism", mechanism, mechanism_entry),
        ("length_frontier", search, frontier_entry),
    ):
        if path is None:
            continue
        task, entry = read(path, doc)
        sub[key] = {**(sub.get(key) or {}), task: entry}
        sub["schema_version"] = SCHEMA_VERSION


def mechanism_entry(path: str | Path, doc: dict) -> tuple[str, dict]:
    """(trained task, the submission's mechanism entry) from a decode JSON."""
    data, source = read_source(path, "--mechanism")
    m = mechanism_from_decode(data)
    task = _trained_task(doc, "--mechanism", m["task"])
    evaluated = doc["tracr_bench"]["task_versions"].get(task)
    if m["task_version"] != evaluated:
        raise SubmissionError(
            f"--mechanism: the decode run used version {m['task_version']} of task {task!r} but "
            f"the results evaluate version {evaluated}"
        )
    _check_weights(doc, m["weights_sha256"], "--mechanism", "decoded")
    entry = {
        "task_version": m["task_version"],
        "variable": m["variable"],
        "layer": m["layer"],
        "positions": m["positions"],
        "decoding": m["decoding"],
        "iia": m["iia"],
        "source": {**source, "format": m["format"]},
    }
    return task, entry


def frontier_entry(path: str | Path, doc: dict) -> tuple[str, dict]:
    """(trained task, the submission's length-frontier entry) from a search JSON."""
    data, source = read_source(path, "--search")
    f = frontier_from_search(data)
    task = _trained_task(doc, "--search", f["task"])
    from tracr_bench.task.strategies import DOMAIN

    spec = all_tasks()[task]
    if f["domain"] != DOMAIN and f["domain"] not in spec.splits:
        raise SubmissionError(
            f"--search: domain {f['domain']!r} is neither {DOMAIN} nor a split of {task!r}"
        )
    train = spec.splits["train"]
    if f["train_lengths"] != [train.min_length, train.max_length]:
        raise SubmissionError(
            f"--search: the search used training lengths {f['train_lengths']} but {task!r} "
            f"trains on {train.min_length}-{train.max_length} (another version of the task?)"
        )
    if f["weights_sha256"] is not None:
        _check_weights(doc, f["weights_sha256"], "--search", "searched")
    entry = {k: f[k] for k in ("frontier", "domain", "lengths", "train_lengths")}
    entry |= {k: f[k] for k in ("max_examples", "seed", "tried", "failures")}
    entry |= {"weights_checked": f["weights_sha256"] is not None, "source": source}
    return task, entry


def _trained_task(doc: dict, option: str, task: object) -> str:
    sub = doc["submission"]
    trained = sub["task"]
    if trained is None:
        raise SubmissionError(
            f"{option}: a {sub['method']} model was trained on no task; the file is for the "
            "task a model was trained on"
        )
    if task != trained:
        raise SubmissionError(
            f"{option}: the file is about task {task!r} but the model was trained on {trained!r}"
        )
    return trained


def _check_weights(doc: dict, theirs: dict, option: str, verb: str) -> None:
    ours = doc["tracr_bench"]["model"]["weights_sha256"]
    if weights_key(theirs) != weights_key(ours):
        names = ", ".join(sorted(weights_key(theirs)))
        raise SubmissionError(
            f"hash mismatch: {option}: the {verb} model's weights ({names}) are not the evaluated "
            "model's"
        )


def check_measurements(doc: dict, *, allow_stale: bool = False) -> None:
    """The mechanism and length-frontier entries of a submission block (schema version 2):
    for the trained task, on the task version of the results, a frontier inside the searched
    lengths. The schema has checked their types and ranges."""
    sub, tb = doc["submission"], doc["tracr_bench"]
    for key in ("mechanism", "length_frontier"):
        for task in sorted(sub.get(key) or {}):
            if task != sub["task"]:
                raise SubmissionError(
                    f"submission.{key} has an entry for {task!r} but the model was trained on "
                    f"{sub['task']!r}"
                )
    for task, m in sorted((sub.get("mechanism") or {}).items()):
        if m["task_version"] != tb["task_versions"][task]:
            raise SubmissionError(
                f"submission.mechanism.{task}: decoded at version {m['task_version']} of the "
                f"task but the results evaluate version {tb['task_versions'][task]}"
            )
    for task, f in sorted((sub.get("length_frontier") or {}).items()):
        lo, hi = f["lengths"]
        where = f"submission.length_frontier.{task}"
        if lo > hi or f["train_lengths"][0] > f["train_lengths"][1]:
            raise SubmissionError(f"out of range: {where}: a length range runs backwards")
        if f["frontier"] is not None and not lo - 1 <= f["frontier"] <= hi:
            raise SubmissionError(
                f"out of range: {where}: frontier {f['frontier']} lies outside the searched "
                f"lengths {lo}-{hi}"
            )
        if f["failures"] > f["tried"]:
            raise SubmissionError(f"out of range: {where}: more failures than inputs tried")
        train = all_tasks()[task].splits["train"]
        current = [train.min_length, train.max_length]
        if not allow_stale and f["train_lengths"] != current:
            raise SubmissionError(
                f"{where}: searched with training lengths {f['train_lengths']}, but the task "
                f"trains on {current[0]}-{current[1]}"
            )
