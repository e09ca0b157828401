"""Shared fixtures: the default LM's tokenizer and the registered tasks."""

from __future__ import annotations

import pytest

from tracr_bench.models import DEFAULT_MODEL_DIR
from tracr_bench.task import all_tasks


@pytest.fixture(scope="session")
def default_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR)


def task_names() -> list[str]:
    return sorted(all_tasks())
