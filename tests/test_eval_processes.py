"""``tracr-bench eval`` in two processes (``torchrun``, gloo on the CPU) against one process: the
same results file (accuracies, stderr, length buckets, retention, oracle, fast-path counts),
written once, by the main process, and the table printed once.

``accelerate launch --cpu --num_processes 2`` starts one process on this kind of machine, so the
test launches with ``torchrun -m tracr_bench``, which ``accelerate launch -m tracr_bench`` matches
on GPUs. The model is the shared tiny GPT-2 trained a few seconds on parity."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests._tiny_lm import shared_tiny_lm
from tests.conftest import short_retention_shard
from tracr_bench.evaluate.processes import Processes
from tracr_bench.evaluate.retention import RETENTION_ENV

REPO = Path(__file__).resolve().parent.parent
LIMIT = 9  # odd: the two processes get 5 and 4 documents of each split
BATCH = 4


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return shared_tiny_lm(tmp_path_factory)


@pytest.fixture(scope="module")
def retention_text(tmp_path_factory):
    """The first 12,000 characters of the real retention shard (3 documents)."""
    with short_retention_shard(tmp_path_factory.mktemp("retention_procs"), 12_000) as path:
        yield path


@pytest.fixture(scope="module")
def one_and_two(tiny_model, retention_text, tmp_path_factory):
    """(results of one process, results file of two processes, their stdout, the folder)."""
    from tracr_bench.evaluate.run import evaluate

    kwargs = dict(tasks="parity", splits="test,length", limit=LIMIT, batch_size=BATCH)
    one = evaluate(tiny_model, progress=False, **kwargs)
    folder = tmp_path_factory.mktemp("two_processes")
    out = folder / "results.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "tracr_bench", "eval", "--model", str(tiny_model), "--output", str(out)]
    cmd += ["--tasks", "parity", "--splits", "test,length", "--limit", str(LIMIT)]
    cmd += ["--batch-size", str(BATCH), "--no-progress"]
    env = dict(os.environ, **{RETENTION_ENV: str(retention_text)})
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return one, json.loads(out.read_text()), proc, folder


def test_two_processes_give_the_results_of_one(one_and_two):
    one, two, _, _ = one_and_two
    t1, t2 = one["tracr_bench"], two["tracr_bench"]
    assert (t1["processes"], t2["processes"]) == (1, 2)
    names = [r["lm_eval_task"] for r in t1["splits"]]
    for name in names:  # lm-eval's figures: exact match, its stderr, every length bucket
        r1, r2 = one["results"][name], two["results"][name]
        assert set(r1) == set(r2), name
        for key, value in r1.items():
            if isinstance(value, float):
                assert math.isclose(value, r2[key], rel_tol=1e-12), (name, key)
            else:
                assert value == r2[key], (name, key)
    assert one["n-samples"] == two["n-samples"]
    for a, b in zip(t1["splits"], t2["splits"], strict=True):
        assert (a["n"], a["accuracy"], a["length_buckets"]) == (
            b["n"],
            b["accuracy"],
            b["length_buckets"],
        )
        assert (a["oracle_accuracy"], a["oracle_note"]) == (b["oracle_accuracy"], b["oracle_note"])
        assert math.isclose(a["stderr"], b["stderr"], rel_tol=1e-12)
    assert any(0 < r["accuracy"] < 1 for r in t1["splits"]), "a vacuous comparison"
    assert [r["oracle_accuracy"] for r in t2["splits"]] == [1.0, 1.0]
    r1, r2 = t1["retention"], t2["retention"]
    assert r1["documents"] == r2["documents"] == 3
    for key in ("word_perplexity", "byte_perplexity", "bits_per_byte"):
        assert math.isclose(r1[key], r2[key], rel_tol=1e-6), key
    # every request settled once, the same way (how the answers were read, at once or after
    # a pass over the prompts alone, depends on the batches each process forms)
    settled = ("stopped", "ended", "impossible", "fallback_examples")
    assert [t1["fast_path"].get(k) for k in settled] == [t2["fast_path"].get(k) for k in settled]
    assert sum(t2["fast_path"].get(k, 0) for k in settled) == 2 * LIMIT


def test_written_once_and_printed_once(one_and_two):
    _, _, proc, folder = one_and_two
    assert [p.name for p in folder.iterdir()] == ["results.json"]
    assert proc.stdout.count("accuracy %") == 1, proc.stdout
    assert proc.stdout.count("retention (3 documents)") == 1
    assert proc.stderr.count("results written to") == 1


def test_one_process_is_the_identity():
    procs = Processes()
    assert (procs.rank, procs.count, procs.is_main) == (0, 1, True)
    assert procs.share(["a", "b", "c"]) == [0, 1, 2]
    assert procs.gather([1, 2]) == [1, 2]
    assert procs.sum_counts(Counter(x=2)) == Counter(x=2)
    assert procs.from_main({"a": 1}) == {"a": 1}
    assert procs.device("cpu") == "cpu"
