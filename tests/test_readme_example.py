"""The task in README's "Adding a task" section is real: it loads, compiles, and its oracle is
perfect behind the default tokenizer."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from tracr_bench.compiler.oracle import run_oracle
from tracr_bench.task import Task

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_task_module(tmp_path: Path):
    text = README.read_text()
    section = text.split("## Adding a task", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "readme_task.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("readme_task", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_task_works(tmp_path, default_tokenizer):
    task = readme_task_module(tmp_path).TASK
    assert isinstance(task, Task)
    for split in task.eval_splits:
        res = run_oracle(task, split, default_tokenizer, limit=50, cache_dir=tmp_path / "cache")
        assert res.correct == res.n == 50, res.failures
    labels = [ex.target for ex in task.examples("train", size=400)]
    assert 0.4 < labels.count(" yes") / len(labels) < 0.6
