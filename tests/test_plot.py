"""``tracr-bench eval --plot out.png``: accuracy against input length for the length splits."""

from __future__ import annotations

import struct

import pytest

from tests._tiny_lm import shared_tiny_lm
from tracr_bench.cli import main
from tracr_bench.evaluate.plot import length_curves, plot_length_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _row(task, split, buckets):
    return {
        "task": task,
        "split": split,
        "length_buckets": [
            {"min_length": lo, "max_length": hi, "n": 5, "accuracy": acc} for lo, hi, acc in buckets
        ],
    }


RESULTS = {
    "tracr_bench": {
        "model": {"requested": "/models/some_lm"},
        "splits": [
            _row("parity", "test", [(4, 8, 1.0), (9, 12, 0.8), (13, 16, 0.6)]),
            _row("parity", "length", [(17, 24, 0.5), (25, 32, 0.4), (33, 40, None)]),
            _row("count", "length", [(5, 40, 0.9), (41, 80, 0.3), (81, 120, 0.0)]),
            _row("count", "x_only", [(1, 40, 0.2)]),
        ],
    }
}


def test_curves_from_results():
    curves = length_curves(RESULTS)
    assert set(curves) == {"parity", "count"}
    # parity: the test buckets below the length split's start, then the length buckets (the
    # bucket without accuracy left out)
    assert [x for x, _, _ in curves["parity"]] == [6, 10.5, 14.5, 20.5, 28.5]
    assert [a for _, a, _ in curves["count"]] == [0.9, 0.3, 0.0]


def test_png_written(tmp_path):
    out = plot_length_curves(RESULTS, tmp_path / "curves.png")
    width, height = _png_size(out)
    assert width >= 600 and height >= 300
    assert out.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


@pytest.fixture(scope="module")
def tiny_parity_lm(tmp_path_factory):
    return shared_tiny_lm(tmp_path_factory)


def test_eval_plot_cli(tiny_parity_lm, tmp_path, capsys):
    png = tmp_path / "acc.png"
    argv = ["eval", "--model", str(tiny_parity_lm), "--tasks", "parity", "--limit", "6"]
    argv += ["--no-oracle", "--no-retention", "--no-progress", "--plot", str(png)]
    assert main(argv) == 0
    assert "plot written to" in capsys.readouterr().err
    _png_size(png)
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize(
    "args, message",
    [
        (["--plot", "{tmp}/acc.txt"], "give a file name ending in .png"),
        (["--plot", "{tmp}/missing/acc.png"], "is missing"),
        (["--splits", "test", "--plot", "{tmp}/acc.png"], "needs a 'length' split"),
    ],
)
def test_eval_plot_bad_input(args, message, tmp_path, capsys):
    argv = ["eval", "--model", "/nonexistent/model", "--tasks", "parity", "--no-progress"]
    argv += [a.format(tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracr-bench: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
