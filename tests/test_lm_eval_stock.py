"""Stock ``lm_eval`` on the generated configs of ``tasks/lm_eval``: no warning that the
per-length-bucket metrics were scored on fewer documents than ``exact_match``, and a group
figure that is the exact match over all the group's documents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._tiny_lm import shared_tiny_lm
from tracr_bench.evaluate.lm_eval_data import group_name, task_name
from tracr_bench.evaluate.scoring import bucket_accuracy, length_buckets, process_results
from tracr_bench.task import get_task

REPO = Path(__file__).resolve().parent.parent
LIMIT = 5


def test_every_document_reports_every_bucket():
    task = get_task("parity")
    buckets = length_buckets(task, "length")
    assert len(buckets) > 1
    doc = {"task": "parity", "split": "length", "length": buckets[1].lo, "target": " odd"}
    got = process_results(doc, [" odd\n"])
    assert set(got) == {"exact_match"} | {b.metric for b in buckets}
    assert got["exact_match"] == 1.0 and got[buckets[1].metric] == 1.0
    assert [got[b.metric] for b in buckets if b != buckets[1]] == [None] * (len(buckets) - 1)


def test_bucket_accuracy_counts_only_its_documents():
    assert bucket_accuracy([None, 1.0, 0.0, None, 1.0]) == pytest.approx(2 / 3)
    assert bucket_accuracy([None, None]) is None


def test_stock_lm_eval_group_without_count_warning(tmp_path_factory, tmp_path):
    model = shared_tiny_lm(tmp_path_factory)
    group = group_name("parity")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf"]
    cmd += ["--model_args", f"pretrained={model}", "--include_path", "tasks/lm_eval"]
    cmd += ["--tasks", group, "--limit", str(LIMIT), "--batch_size", "4", "--device", "cpu"]
    cmd += ["--output_path", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "not scored on the same number" not in proc.stderr, proc.stderr[-3000:]
    assert "No aggregation function" not in proc.stderr
    assert "is missing in" not in proc.stderr  # a group metric some splits lack
    (results_file,) = tmp_path.rglob("results_*.json")
    data = json.loads(results_file.read_text())
    splits = [task_name("parity", s) for s in get_task("parity").eval_splits]
    sizes = [data["n-samples"][s]["effective"] for s in splits]
    assert sizes == [LIMIT] * len(splits)
    accs = [data["results"][s]["exact_match,none"] for s in splits]
    pooled = sum(a * n for a, n in zip(accs, sizes, strict=True)) / sum(sizes)
    assert data["results"][group]["exact_match,none"] == pytest.approx(pooled)
    for s in splits:  # every bucket metric counted over the split's documents
        split = s.removeprefix(task_name("parity", ""))
        for b in length_buckets(get_task("parity"), split):
            assert f"{b.metric},none" in data["results"][s]
