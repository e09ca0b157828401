"""Shared fixtures: the default LM's tokenizer and the registered tasks."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracr_bench.models import DEFAULT_MODEL_DIR
from tracr_bench.task import all_tasks


@pytest.fixture(scope="session")
def default_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR)


def task_names() -> list[str]:
    return sorted(all_tasks())


@contextlib.contextmanager
def short_retention_shard(folder: Path, chars: int) -> Iterator[Path]:
    """Point the retention task at the first ``chars`` characters of the real shard."""
    from tracr_bench.evaluate.retention import RETENTION_ENV
    from tracr_bench.models import heldout_text

    path = folder / "retention.txt"
    path.write_text(heldout_text("retention")[:chars], "utf-8")
    old = os.environ.get(RETENTION_ENV)
    os.environ[RETENTION_ENV] = str(path)
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop(RETENTION_ENV, None)
        else:
            os.environ[RETENTION_ENV] = old


@pytest.fixture
def board(tmp_path):
    """An existing, empty leaderboard folder (the leaderboard tests)."""
    path = tmp_path / "leaderboard"
    path.mkdir()
    return path
