"""Data-parallel injection on the CPU: ``torchrun --standalone --nproc_per_node 2 -m tracr_bench
inject`` (gloo) against one process, on a tiny 3-block GPT-2 without dropout.

Tolerance: fp32 (``--precision fp32``), so that the only differences are the order of float sums
(the two shards' losses and gradients are added by an all-reduce instead of inside one batch):
the loss log agrees to a relative 1e-5 and the weights after 4 AdamW steps to 1e-5 (measured
here: 1e-6 and 7e-8). A 2-process run interrupted and resumed under 2 processes is bit-identical
to the uninterrupted one (the same operations in the same order).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.test_inject_stops import tiny_gpt2
from tracr_bench.cli import main
from tracr_bench.inject.config import InjectConfig, InjectError
from tracr_bench.inject.processes import check_divides
from tracr_bench.inject.train import inject

OPTIONS = dict(
    steps=4,
    batch_size=4,
    kl_batch_size=2,
    kl_seq_len=16,
    warmup_steps=0,
    precision="fp32",
    log_every=1,
    checkpoint_every=2,
)
FINISHED = {
    "adapter.safetensors",
    "config.json",
    "generation_config.json",
    "injection.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
}


def _flags(options: dict) -> list[str]:
    return [w for k, v in options.items() for w in ("--" + k.replace("_", "-"), str(v))]


def torchrun(model: Path, output: Path, *extra: str) -> subprocess.CompletedProcess:
    """``tracr-bench inject`` on 2 processes, as a user starts it."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    argv += ["-m", "tracr_bench", "inject", "--model", str(model), "--task", "parity"]
    argv += ["--output", str(output), *_flags(OPTIONS), "--no-progress", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return {
        f"{name}:{k}": v
        for name in ("model.safetensors", "adapter.safetensors")
        for k, v in load_file(str(folder / name)).items()
    }


def _log(folder: Path) -> list[dict]:
    return json.loads((folder / "injection.json").read_text())["losses"]["log"]


def _assert_close_logs(a: list[dict], b: list[dict]) -> None:
    assert [e["step"] for e in a] == [e["step"] for e in b]
    for x, y in zip(a, b, strict=True):
        for k in ("ce", "algorithm", "kl", "loss"):
            assert x[k] == pytest.approx(y[k], rel=1e-5, abs=1e-6), (x, y)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_gpt2(tmp_path_factory.mktemp("tiny_ddp") / "lm")


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, tiny) -> Path:
    out = tmp_path_factory.mktemp("ddp") / "two"
    torchrun(tiny, out)
    return out


def test_two_processes_train_as_one(tmp_path, tiny, two_process_run):
    one = tmp_path / "one"
    inject(task="parity", model=tiny, output=one, progress=False, **OPTIONS)
    _assert_close_logs(_log(two_process_run), _log(one))
    a, b = _weights(two_process_run), _weights(one)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-5, msg=k)
    # one set of output files, written by the main process
    assert {p.name for p in two_process_run.iterdir()} == FINISHED
    record = json.loads((two_process_run / "injection.json").read_text())
    assert record["processes"] == 2 and record["batch_size_per_process"] == 2
    assert record["config"]["batch_size"] == 4  # the global batch


def test_resume_under_two_and_under_one_process(tmp_path, tiny, two_process_run):
    part = tmp_path / "part"
    stopped = torchrun(tiny, part, "--stop-after", "2")
    assert "stopped after step 2 of 4" in stopped.stdout
    assert {p.name for p in part.iterdir()} == {"checkpoints"}
    assert {p.name for p in (part / "checkpoints").iterdir()} == {"latest.json", "step-000002"}
    alone = tmp_path / "alone"
    shutil.copytree(part, alone)

    torchrun(tiny, part, "--resume")  # the same 2 processes: bit for bit the uninterrupted run
    full, resumed = _weights(two_process_run), _weights(part)
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    assert _log(part) == _log(two_process_run)

    # the global checkpoint resumes under 1 process too (the global batch split differently)
    rec = inject(task="parity", model=tiny, output=alone, resume=True, progress=False)
    assert rec["resumed_from_step"] == 2 and rec["processes"] == 1
    _assert_close_logs(_log(alone), _log(two_process_run))
    for k, v in _weights(alone).items():
        torch.testing.assert_close(v, full[k], rtol=0, atol=1e-5, msg=k)


def test_batches_must_divide_among_the_processes():
    cfg = InjectConfig(task="parity", batch_size=6, kl_batch_size=4)
    check_divides(cfg, 2)
    with pytest.raises(InjectError, match=r"^--kl-batch-size 4 does not divide among 3 processes"):
        check_divides(cfg, 3)
    with pytest.raises(InjectError, match=r"^--batch-size 6 does not divide among 4 processes"):
        check_divides(cfg, 4)


def test_only_the_main_process_prints(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    out = tmp_path / "run"
    assert main(["inject", "--task", "parity", "--output", str(out), "--steps", "0"]) == 2
    assert capsys.readouterr().err == "" and not out.exists()
