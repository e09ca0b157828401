"""The numbers of a results file: every one finite, every copy the same, every derived figure
what its inputs give.

In: a submission document that fits its schema. Out: nothing, or a one-line
:class:`SubmissionError` naming the figure that does not agree. A file edited by hand, even in
both of its copies (the ``tracr_bench`` rows and lm-eval's ``results``), fails here unless every
figure derived from the edited one was recomputed too:

- :func:`check_finite`: no NaN or infinity anywhere in the blocks the leaderboard reads (Python's
  JSON reader accepts them, and JSON Schema's ranges let NaN through);
- :func:`check_copies`: each ``tracr_bench`` row (accuracy, n, stderr, per-length-bucket
  accuracy) and the retention block against lm-eval's own ``results`` and ``n-samples``;
- :func:`check_derived`, per split: the accuracy is a whole number of correct answers out of
  ``n``; its stderr is lm-eval 0.4's ``mean_stderr`` of ``n`` values of 0 or 1,
  ``sqrt(p (1 - p) / (n - 1))`` (``"N/A"``, here null, for n = 1); the length buckets count
  every example once and their correct answers add up to the split's. For retention, where the
  text is the shipped shard: the words and bytes of its first ``documents`` documents are
  counted again, and ``word_perplexity = exp(-ll / words)``, ``byte_perplexity =
  exp(-ll / bytes)`` and ``bits_per_byte = -ll / (bytes ln 2)`` must give one log-likelihood
  ``ll`` (``evaluate.retention.process_retention``, lm-eval's ``weighted_perplexity`` and
  ``bits_per_byte``).

:data:`REL_TOL` is the tolerance of a recomputed float; the committed submissions agree to
within 2e-14.
"""

from __future__ import annotations

import math
import re
from functools import cache

from tracr_bench.leaderboard.schema import SubmissionError
from tracr_bench.task import all_tasks

REL_TOL = 1e-9  # relative tolerance of a recomputed figure
ABS_TOL = 1e-12  # and absolute, for figures at or near 0
FINITE_BLOCKS = ("tracr_bench", "submission", "results", "n-samples")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _inconsistent(where: str, text: str, figure: str) -> SubmissionError:
    return SubmissionError(f"{where}: {text} (inconsistent figure: {figure})")


# ---------------------------------------------------------------------------- finite


def check_finite(doc: dict) -> None:
    """No NaN or infinite number in the blocks the leaderboard reads."""
    for block in FINITE_BLOCKS:
        bad = _first_non_finite(doc.get(block), block)
        if bad is not None:
            path, value = bad
            raise SubmissionError(
                f"not a finite number: {path} is {value} (NaN and infinite metrics are refused)"
            )


def _first_non_finite(value: object, path: str) -> tuple[str, float] | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    if not isinstance(value, (dict, list)):
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found = _first_non_finite(
            item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
        )
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------------- copies


def check_copies(doc: dict) -> None:
    """The ``tracr_bench`` rows agree with lm-eval's own blocks, and no count is out of range."""
    tb = doc["tracr_bench"]
    if not any(r["accuracy"] is not None for r in tb["splits"]):
        raise SubmissionError("the results hold no accuracy for any split")
    for row in tb["splits"]:
        _check_split_copies(doc, row)
    if tb["retention"] is not None:
        _check_retention_copies(doc)


def _check_split_copies(doc: dict, row: dict) -> None:
    """One ``tracr_bench.splits`` row: its lm-eval task, n, accuracy, stderr and buckets."""
    from tracr_bench.evaluate.lm_eval_data import task_name

    tb = doc["tracr_bench"]
    where = f"{row['task']}/{row['split']}"
    if row["lm_eval_task"] != task_name(row["task"], row["split"]):
        raise SubmissionError(f"{where}: lm_eval_task {row['lm_eval_task']!r} is not its own")
    if row["accuracy"] is None:
        return
    size = all_tasks()[row["task"]].split(row["split"]).size
    n = row["n"]
    if n is None or not 1 <= n <= size:
        raise SubmissionError(f"out of range: {where}: n = {n} examples, the split has 1 to {size}")
    limit = tb["limit"]
    if limit is not None and n > limit:
        raise SubmissionError(f"out of range: {where}: n = {n} exceeds the limit {limit}")
    block = doc["results"].get(row["lm_eval_task"])
    block = block if isinstance(block, dict) else {}
    theirs = block.get("exact_match,none")
    if theirs != row["accuracy"]:
        raise SubmissionError(
            f"{where}: accuracy {row['accuracy']} disagrees with lm-eval's results "
            f"({theirs}) in the same file"
        )
    effective = doc["n-samples"].get(row["lm_eval_task"], {}).get("effective")
    if effective != n:
        raise SubmissionError(f"{where}: n = {n} disagrees with lm-eval's n-samples ({effective})")
    stderr = block.get("exact_match_stderr,none")
    stderr = stderr if isinstance(stderr, (int, float)) else None  # lm-eval writes "N/A"
    if stderr != row["stderr"]:
        raise SubmissionError(
            f"{where}: stderr {row['stderr']} disagrees with lm-eval's results ({stderr}) in the "
            "same file"
        )
    for b in row.get("length_buckets") or []:
        key = f"acc_len_{b['min_length']}_{b['max_length']},none"
        if b["n"] and block.get(key) != b["accuracy"]:
            raise SubmissionError(
                f"{where}: length bucket {b['min_length']}-{b['max_length']} accuracy "
                f"{b['accuracy']} disagrees with lm-eval's results ({block.get(key)}) in the "
                "same file"
            )


def _check_retention_copies(doc: dict) -> None:
    """``tracr_bench.retention`` against lm-eval's retention block and the current version."""
    from tracr_bench.evaluate.retention import RETENTION_TASK, RETENTION_VERSION

    ret = doc["tracr_bench"]["retention"]
    block = doc["results"].get(RETENTION_TASK)
    block = block if isinstance(block, dict) else {}
    for figure, text in (
        ("word_perplexity", "word perplexity"),
        ("byte_perplexity", "byte perplexity"),
        ("bits_per_byte", "bits per byte"),
    ):
        theirs = block.get(f"{figure},none")
        if theirs != ret[figure]:
            raise SubmissionError(
                f"retention {text} {ret[figure]} disagrees with lm-eval's results ({theirs}) in "
                "the same file"
            )
    effective = doc["n-samples"].get(RETENTION_TASK, {}).get("effective")
    if effective != ret["documents"]:
        raise SubmissionError(
            f"retention: documents = {ret['documents']} disagrees with lm-eval's n-samples "
            f"({effective})"
        )
    version = doc["versions"].get(RETENTION_TASK)
    if version is not None and version != RETENTION_VERSION:
        raise SubmissionError(
            f"retention was measured at version {version} of {RETENTION_TASK} but the "
            f"current version is {RETENTION_VERSION}; re-run `tracr-bench eval`"
        )


# ---------------------------------------------------------------------------- derived


def check_derived(doc: dict, shipped_sha256: str | None) -> None:
    """Each split's accuracy, stderr and length buckets against each other, and the retention
    figures against the shard (``shipped_sha256``: the shipped shard's hash, None if missing)."""
    for row in doc["tracr_bench"]["splits"]:
        if row["accuracy"] is not None:
            where = f"{row['task']}/{row['split']}"
            correct = _correct_count(where, row["accuracy"], row["n"], "accuracy")
            _check_stderr(where, row)
            _check_buckets(where, row, correct)
    ret = doc["tracr_bench"]["retention"]
    if ret is not None:
        _check_retention_figures(ret, shipped_sha256)


def _correct_count(where: str, accuracy: float, n: int, figure: str) -> int:
    """The number of correct answers ``accuracy`` stands for out of ``n``; it must be whole."""
    correct = round(accuracy * n)
    if not _close(correct / n, accuracy):
        raise _inconsistent(
            where,
            f"{figure} {accuracy} is no whole number of correct answers out of n = {n}",
            figure,
        )
    return correct


def stderr_of_mean(accuracy: float, n: int) -> float | None:
    """lm-eval 0.4's ``mean_stderr`` of ``n`` values of 0 or 1 with mean ``accuracy``: the
    sample standard deviation over sqrt(n), i.e. sqrt(p (1 - p) / (n - 1)); None for n = 1."""
    if n < 2:
        return None
    return math.sqrt(accuracy * (1 - accuracy) / (n - 1))


def _check_stderr(where: str, row: dict) -> None:
    expected = stderr_of_mean(row["accuracy"], row["n"])
    stderr = row["stderr"]
    if expected is None and stderr is None:
        return
    if expected is None or stderr is None or not _close(stderr, expected):
        shown = "none (lm-eval reports N/A for n = 1)" if expected is None else f"{expected:.6g}"
        raise _inconsistent(
            where,
            f"stderr {stderr} is not sqrt(p (1 - p) / (n - 1)) = {shown} for accuracy "
            f"{row['accuracy']} and n = {row['n']}",
            "stderr",
        )


def _check_buckets(where: str, row: dict, correct: int) -> None:
    """Buckets in order, each a whole number of correct answers; together every example once,
    and as many correct answers as the split's accuracy says."""
    buckets = row.get("length_buckets") or []
    if not buckets:
        return
    last = -1
    total_n = total_correct = 0
    for b in buckets:
        span = f"{b['min_length']}-{b['max_length']}"
        if b["min_length"] > b["max_length"] or b["min_length"] <= last:
            raise _inconsistent(
                where, f"length bucket {span} overlaps or is out of order", "length_buckets"
            )
        last = b["max_length"]
        if (b["n"] == 0) != (b["accuracy"] is None):
            raise _inconsistent(
                where,
                f"length bucket {span} has n = {b['n']} and accuracy {b['accuracy']} "
                "(an accuracy exactly where there are examples)",
                "length_buckets accuracy",
            )
        if b["n"]:
            total_correct += _correct_count(
                f"{where} length bucket {span}", b["accuracy"], b["n"], "length_buckets accuracy"
            )
        total_n += b["n"]
    if total_n != row["n"]:
        raise _inconsistent(
            where,
            f"the length buckets hold {total_n} examples but n = {row['n']}",
            "length_buckets n",
        )
    if total_correct != correct:
        raise _inconsistent(
            where,
            f"the length buckets' accuracies average to {total_correct / total_n:.6g} "
            f"({total_correct} of {total_n} correct) but the accuracy is {row['accuracy']}",
            "length_buckets accuracy",
        )


@cache
def shard_counts(documents: int) -> tuple[int, int] | None:
    """(words, UTF-8 bytes) of the first ``documents`` documents of the shipped retention shard,
    counted as ``evaluate.retention.process_retention`` counts them; None if the shard is
    missing or has fewer documents."""
    from tracr_bench.evaluate.retention import retention_docs
    from tracr_bench.models import heldout_text

    try:
        docs = retention_docs(heldout_text("retention"))
    except FileNotFoundError:  # pragma: no cover - a broken install
        return None
    if documents > len(docs):
        return None
    chosen = [d["text"] for d in docs[:documents]]
    words = sum(len(re.split(r"\s+", t.strip())) for t in chosen)
    return words, sum(len(t.encode("utf-8")) for t in chosen)


def _check_retention_figures(ret: dict, shipped_sha256: str | None) -> None:
    """Word perplexity, byte perplexity and bits per byte give one log-likelihood."""
    bpb = ret["bits_per_byte"]
    if not _close(ret["byte_perplexity"], math.exp(bpb * math.log(2))):
        raise _inconsistent(
            "retention",
            f"byte perplexity {ret['byte_perplexity']} is not 2 ** bits_per_byte = {2**bpb:.10g}",
            "byte_perplexity",
        )
    if shipped_sha256 is None or ret["text_sha256"] != shipped_sha256:
        return  # the words and bytes can only be counted on the shipped shard
    counts = shard_counts(ret["documents"])
    if counts is None:
        raise SubmissionError(
            f"out of range: retention: documents = {ret['documents']}, more than the shipped "
            "shard holds"
        )
    words, n_bytes = counts
    nll_words = math.log(ret["word_perplexity"]) * words
    nll_bytes = bpb * n_bytes * math.log(2)
    if not _close(nll_words, nll_bytes):
        raise _inconsistent(
            "retention",
            f"word perplexity {ret['word_perplexity']} over the {words} words of the first "
            f"{ret['documents']} documents gives a log-likelihood of {-nll_words:.10g} nats, but "
            f"bits per byte {bpb} over their {n_bytes} bytes gives {-nll_bytes:.10g}",
            "word_perplexity vs bits_per_byte",
        )
