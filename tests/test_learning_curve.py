"""``benchmarks/learning_curve.py`` on two tiny runs (tracr and baseline, 4 parity steps of the
default LM, a snapshot every 2): two points per run (the snapshot at step 2, the finished model
at 4), task accuracy and output-variable decoding at each, the JSON and the PNG written; bad
input is one line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from tracr_bench.inject.train import inject

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning_curve.py"
TINY = dict(batch_size=4, kl_batch_size=2, kl_seq_len=32, warmup_steps=0, progress=False)


def _script():
    spec = importlib.util.spec_from_file_location("learning_curve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("curves")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    for method in ("tracr", "baseline"):
        out[method] = root / method
        inject(task="parity", method=method, steps=4, save_every=2, output=out[method], **TINY)
    torch.set_num_threads(before)
    return out


def test_two_points_per_run(runs, tmp_path):
    png = tmp_path / "parity.png"
    args = ["--runs", str(runs["tracr"]), str(runs["baseline"]), "--task", "parity"]
    args += ["--limit", "8", "--train-examples", "20", "--output", str(png)]
    assert _script().main(args) == 0
    result = json.loads(png.with_suffix(".json").read_text())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [r["method"] for r in result["runs"]] == ["tracr", "baseline"]
    for run in result["runs"]:
        assert [p["step"] for p in run["points"]] == [2, 4] and run["finished"]
        assert run["points"][0]["model"].endswith("snapshots/step-000002")
        readout = "adapter" if run["method"] == "tracr" else "probe"
        for point in run["points"]:
            assert 0 <= point["accuracy"]["test"] <= 1
            cell = point["decoding"][readout]
            assert 0 <= cell["accuracy"] <= 1 and cell["positions"] > 0 and cell["layer"] == 2
    assert result["splits"] == ["test"]


def test_bad_input_is_one_line(runs, tmp_path, capsys):
    script = _script()
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["--runs", str(empty), "--task", "parity"], "holds no finished model and no snapshot"),
        (["--runs", str(runs["tracr"]), "--task", "count"], "injected with task ['parity']"),
        (["--runs", str(runs["tracr"]), "--task", "parity", "--limit", "0"], "must be >= 1"),
    ]
    for args, message in cases:
        assert script.main([*args, "--output", str(tmp_path / "c.png")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("tracr-bench: error: ") and message in err[0]
    assert not (tmp_path / "c.png").exists() and not (tmp_path / "c.json").exists()
