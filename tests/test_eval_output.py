"""What ``tracr-bench eval`` prints: nothing on stderr but the run's own labelled bars (none with
``--no-progress`` or a stderr that is not a terminal; no lm-eval bar, no ``fatal: not a git
repository``, no third-party warning), and one line, exit 2 and no results file for a model
whose logits are not finite."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests._tiny_lm import shared_tiny_lm, untrained_gpt2
from tests.conftest import short_retention_shard
from tracr_bench.cli import main

LIMIT = "3"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return shared_tiny_lm(tmp_path_factory)


@pytest.fixture(scope="module")
def retention_text(tmp_path_factory) -> Path:
    with short_retention_shard(tmp_path_factory.mktemp("retention"), 8_000) as path:
        yield path


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory) -> Path:
    """A tiny GPT-2 whose weights are all NaN (what a diverged training run leaves)."""
    import torch

    model, tok = untrained_gpt2(1, 16)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    out = tmp_path_factory.mktemp("nan_lm")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_no_progress_prints_nothing_on_stderr(
    tiny_model, retention_text, tmp_path, capfd, monkeypatch
):
    """The whole run, oracle and retention included, outside a git checkout (lm-eval's git
    lookup): stdout has the table, stderr only the line naming the results file, which is the
    checked path (a quoted ``~`` expanded, as the shell would)."""
    out = tmp_path / "results.json"
    monkeypatch.setenv("HOME", str(tmp_path))
    cwd = os.getcwd()
    os.chdir(tmp_path)  # not a git checkout
    try:
        args = ["eval", "--model", str(tiny_model), "--tasks", "parity", "--limit", LIMIT]
        rc = main([*args, "--no-progress", "--output", "~/results.json"])
    finally:
        os.chdir(cwd)
    captured = capfd.readouterr()
    assert rc == 0
    assert captured.err.splitlines() == [f"results written to {out}"], captured.err
    assert "parity" in captured.out and "retention" in captured.out
    assert out.is_file()


def test_no_terminal_no_bars(tiny_model, capfd, monkeypatch):
    """Progress asked for, but stderr is not a terminal (a log file): still no bar. The run is
    offline while it lasts and leaves the caller's environment as it was."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    seen = {}

    def spy(*args, **kwargs):
        seen["offline"] = os.environ.get("HF_HUB_OFFLINE")
        return real(*args, **kwargs)

    import tracr_bench.evaluate.run as run_module

    real = run_module.run_lm_eval
    monkeypatch.setattr(run_module, "run_lm_eval", spy)
    environment = dict(os.environ)
    args = ["eval", "--model", str(tiny_model), "--tasks", "parity", "--splits", "test"]
    rc = main([*args, "--limit", LIMIT, "--no-retention", "--no-oracle"])
    captured = capfd.readouterr()
    assert rc == 0
    assert captured.err == "", captured.err
    assert seen == {"offline": "1"} and dict(os.environ) == environment


def _run_on_terminal(cmd: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``cmd`` with stdout and stderr on a pseudo-terminal 120 columns wide."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(cmd, stdout=follower, stderr=follower, stdin=follower, cwd=cwd)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=600), b"".join(chunks).decode(errors="replace")


def test_bars_on_a_terminal_are_labelled(tiny_model, retention_text, tmp_path):
    """On a terminal: one labelled bar per stage (generation, retention, oracle), none of
    lm-eval's unlabelled per-split bars, no git complaint."""
    cmd = [sys.executable, "-m", "tracr_bench", "eval", "--model", str(tiny_model)]
    cmd += ["--tasks", "parity", "--splits", "test,length", "--limit", LIMIT]
    rc, text = _run_on_terminal(cmd, tmp_path)
    assert rc == 0, text[-2000:]
    frames = [f.strip() for f in re.split(r"[\r\n]+", text) if "%|" in f or "it/s]" in f]
    labels = {f.split(":", 1)[0] for f in frames}
    assert labels == {
        "Running generate_until (fast)",
        "Running loglikelihood_rolling (fast)",
        "oracle",
    }, frames
    assert "fatal" not in text and "Warning" not in text and "WARNING" not in text, text


def test_non_finite_logits_are_one_line(nan_model, tmp_path, capfd):
    out = tmp_path / "results.json"
    args = ["eval", "--model", str(nan_model), "--tasks", "parity", "--splits", "test"]
    rc = main([*args, "--limit", LIMIT, "--no-progress", "--output", str(out)])
    err = capfd.readouterr().err
    assert rc == 2
    (line,) = err.splitlines()
    assert line.startswith("tracr-bench: error: the model's logits are not finite"), line
    assert "tracr_bench_parity_test" in line and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_non_finite_logits_reference_engine(nan_model, retention_text, tmp_path, capfd):
    """lm-eval's own engine: the retention forward passes are checked."""
    out = tmp_path / "results.json"
    args = ["eval", "--model", str(nan_model), "--tasks", "parity", "--splits", "test"]
    args += ["--limit", LIMIT, "--no-progress", "--no-oracle", "--engine", "lm-eval"]
    rc = main([*args, "--output", str(out)])
    err = capfd.readouterr().err
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    assert "logits are not finite" in err and "tracr_bench_retention" in err, err
    assert not out.exists()
