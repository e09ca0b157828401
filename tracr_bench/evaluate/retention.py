"""Retention: the LM's perplexity on held-out natural text (the default LM's retention shard,
never used in any training), as the lm-eval task ``tracr_bench_retention``
(``loglikelihood_rolling``; word and byte perplexity, bits per byte)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from tracr_bench.task import TaskError

RETENTION_TASK = "tracr_bench_retention"
RETENTION_VERSION = 1
RETENTION_DOC_CHARS = 4000  # paragraphs are packed into documents of at least this many chars
RETENTION_ENV = "TRACR_BENCH_RETENTION_TEXT"  # override the shard (tests, other held-out text)


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


def shard_summary() -> dict:
    """The shard's hash, number of documents and length in characters (the results file's
    record of which text retention was measured on); ``TaskError``/``OSError`` if unreadable."""
    text = retention_text()
    return {
        "text_sha256": retention_digest(text),
        "shard_documents": len(retention_docs(text)),
        "shard_chars": len(text),
    }


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
