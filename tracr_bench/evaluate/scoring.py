"""How a generation is scored: exact match, overall and per input-length bucket.

Greedy generation up to the first newline, then exact match against ``Example.target`` with
surrounding whitespace removed on both sides (the target's leading space is part of the
prompt/answer convention, but SentencePiece tokenizers drop it when a continuation is decoded on
its own, so it must not decide the score). Splits that span at least ``MIN_BUCKET_SPAN`` input
lengths also report ``acc_len_<lo>_<hi>``: the exact match on inputs of length in [lo, hi].

Every document reports every metric of its split (``process_results``): a bucket metric is the
exact match for the documents in the bucket and None for the others, and ``bucket_accuracy``
averages the documents that are in it. So lm-eval counts every metric over the same documents:
it has no reason to warn that the buckets were scored on fewer documents than ``exact_match``,
and its size-weighted group figure (``exact_match`` only, see ``lm_eval_configs``) weighs each
split by the number of documents it scored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tracr_bench.task import Task, get_task

MIN_BUCKET_SPAN = 8  # splits spanning fewer input lengths get no per-length metrics
N_BUCKETS = 6


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


def score(prediction: str, target: str) -> bool:
    """Exact match of a generation (already cut at the stop sequence) against a target."""
    return prediction.split("\n", 1)[0].strip() == target.strip()


def process_results(doc: dict, results: list[str]) -> dict[str, float | None]:
    """lm-eval ``process_results``: exact match, the same under the doc's length bucket and
    None under the split's other buckets (``bucket_accuracy`` leaves those out)."""
    correct = float(score(results[0], doc["target"]))
    out: dict[str, float | None] = {"exact_match": correct}
    for bucket in length_buckets(get_task(doc["task"]), doc["split"]):
        out[bucket.metric] = correct if bucket.lo <= doc["length"] <= bucket.hi else None
    return out


def bucket_accuracy(items: list[float | None]) -> float | None:
    """lm-eval aggregation of a bucket metric: the mean over the documents in the bucket (the
    values that are not None); None when the evaluated documents have none in it."""
    inside = [x for x in items if x is not None]
    return sum(inside) / len(inside) if inside else None
