"""``benchmarks/gpu_check.sh``: without CUDA it stops in one line; ``--device cpu --tiny`` runs
its code paths (injector timing, fast engine against generate, a short injection + decode) on
the CPU and writes one JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_no_cuda_is_one_line(tmp_path):
    out = tmp_path / "check.json"
    done = _run("--output", str(out))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"gpu_check: error: no CUDA device (torch {torch.__version__} sees none); this check "
        "needs one GPU (--device cpu --tiny runs its code paths on the CPU)"
    ]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_tiny_run_on_the_cpu(tmp_path):
    out = tmp_path / "check.json"
    done = _run("--device", "cpu", "--tiny", "--output", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["tiny"] is True and report["device"] == "cpu"
    assert set(report["models"]) == {"default_lm", "gpt2_small"}
    assert report["models"]["default_lm"]["params"] == 11_705_856
    for model in ("default_lm", "gpt2_small"):
        timing = report["inject"][model]
        assert timing["tracr_steps_per_s"] > 0 and timing["baseline_tokens_per_s"] > 0
        assert timing["ratio_tracr_over_baseline"] > 0
    for section in ("eval", "eval_gpt2_small"):
        figures = report[section]["default_lm"] if section == "eval" else report[section]
        assert figures["prompts"] == 6 and figures["fast_engine_s"] > 0
        assert figures["speedup"] == pytest.approx(
            figures["generate_per_example_s"] / figures["fast_engine_s"]
        )
    decode = report["decode"]
    assert "error" not in decode and "skipped" not in decode, decode
    assert decode["decode_timings"]["total_s"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["check.json"]


def test_gpt2_small_size():
    """The full check's model: GPT-2 small's configuration has 124M parameters."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=12, n_embd=768, n_head=12, n_positions=1024, vocab_size=50257)
    with torch.device("meta"):
        model = GPT2LMHeadModel(cfg)
    assert sum(p.numel() for p in model.parameters()) == 124_439_808
