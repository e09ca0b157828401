"""The task in README's "Adding a task" section is real: it loads, compiles with computed lengths
and exactness, its splits draw as declared, and both programs are perfect behind the default
tokenizer."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from tracr_bench.compiler.oracle import run_oracle
from tracr_bench.compiler.task_programs import program_settings
from tracr_bench.task import Task
from tracr_bench.task.survey import warnings

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
    cache = tmp_path / "cache"
    for split, which in [("train", "injection")] + [(s, "oracle") for s in task.eval_splits]:
        res = run_oracle(task, split, default_tokenizer, limit=50, cache_dir=cache, which=which)
        assert res.correct == res.n == 50, (res.diagnosis, res.failures)
    assert warnings(task) == []
    for which in ("injection", "oracle"):  # nothing hand-counted: lengths and exactness computed
        settings = program_settings(task, which, cache_dir=cache)
        assert not settings.max_seq_len_declared and not settings.mlp_exactness_declared
    labels = [ex.target for ex in task.examples("train", size=400)]
    assert 0.4 < labels.count(" yes") / len(labels) < 0.6
