"""``tracr-bench leaderboard``: tables that hold the submitted numbers (mean ± sd over seeds,
best values marked), deterministically, as Markdown and as a self-contained HTML page; the
command writes and checks the rendered files, and the committed ones are up to date.

The submissions are built from a real ``tracr-bench eval`` output (``tests/_leaderboard_data``)."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import pytest

from tests._leaderboard_data import populate, run, task_version_ahead
from tracr_bench.leaderboard.entries import default_dir, load_entries
from tracr_bench.leaderboard.html_page import render_html
from tracr_bench.leaderboard.markdown_page import render_markdown
from tracr_bench.leaderboard.outputs import README_BEGIN, README_END, stale_outputs


@pytest.fixture
def bumped_parity():
    """The registry's parity task one version ahead of the results files."""
    with task_version_ahead("parity") as version:
        yield version


@pytest.fixture
def populated(tmp_path) -> tuple[Path, dict]:
    return populate(tmp_path)


def _pm(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    mean = statistics.fmean(values) * scale
    std = statistics.stdev(values) * scale
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def test_tables_hold_the_submitted_numbers(populated):
    board, numbers = populated
    md = render_markdown(load_entries(board))
    html = render_html(load_entries(board))
    for text in (md, html):
        # the base row: its own numbers, and its retention ratio of 1
        for (task, split), acc in numbers["base"]["accs"].items():
            assert f"{100 * acc:.2f}" in text, (task, split)
        assert "1.000" in text
        for method in ("baseline", "tracr"):
            rows = numbers[method]
            tests = [r[0] for r in rows]
            oods = [(r[1] + r[2]) / 2 for r in rows]
            ratios = [r[3] / numbers["base"]["ppl"] for r in rows]
            assert _pm(tests) in text, (method, _pm(tests))
            assert _pm(oods) in text
            assert _pm([r[1] for r in rows]) in text  # per-split table
            assert _pm([r[2] for r in rows]) in text
            assert _pm(ratios, 1.0, 3) in text
            assert "0, 1, 2" in text  # the seeds of the row
    # grouped by base: base, baseline, injected; best marked; count only where evaluated
    main = md.split("## Main table")[1].split("## Task")[0]
    lines = [ln for ln in main.splitlines() if ln.startswith("| my base (")]
    assert [ln.split("|")[3].strip() for ln in lines] == ["none", "baseline", "tracr"]
    assert f"**{_pm([1.0, 1.0, 0.8])}**" in lines[2]  # tracr's parity ID is the best
    assert f"**{_pm([1.04, 1.06, 1.02], 1.0, 3)}**" in lines[1]  # baseline retains best
    assert "**1.000**" not in main  # the base's own ratio is not a competitor
    assert "## Task `count`: every split" in md and "## Task `parity`: every split" in md


def test_rendering_is_deterministic(populated, tmp_path):
    board, _ = populated
    md, html = render_markdown(load_entries(board)), render_html(load_entries(board))
    assert md == render_markdown(load_entries(board))
    assert html == render_html(load_entries(board))
    # the same files copied in another order, with other timestamps: identical bytes
    other = tmp_path / "copy"
    (other / "submissions").mkdir(parents=True)
    for p in sorted((board / "submissions").iterdir(), reverse=True):
        shutil.copy(p, other / "submissions" / p.name)
    assert render_markdown(load_entries(other)).encode() == md.encode()
    assert render_html(load_entries(other)).encode() == html.encode()


def test_leaderboard_command_writes_and_checks(populated, capsys):
    board, _ = populated
    rc, out, _ = run(["leaderboard", "--dir", str(board), "--check"], capsys)
    assert rc == 1
    rc, out, _ = run(["leaderboard", "--dir", str(board)], capsys)
    assert rc == 0 and "README.md" in out and "index.html" in out
    first = (board / "README.md").read_bytes(), (board / "index.html").read_bytes()
    rc, out, _ = run(["leaderboard", "--dir", str(board)], capsys)
    assert rc == 0 and "up to date" in out
    assert ((board / "README.md").read_bytes(), (board / "index.html").read_bytes()) == first
    assert run(["leaderboard", "--dir", str(board), "--check"], capsys)[0] == 0
    rc, out, _ = run(["leaderboard", "--dir", str(board), "--task", "count"], capsys)
    assert rc == 0 and "## Task `count`" in out and "parity" not in out
    rc, _, err = run(["leaderboard", "--dir", str(board), "--task", "nosuch"], capsys)
    assert rc == 2 and "unknown task 'nosuch'" in err


def test_html_is_self_contained(populated):
    board, _ = populated
    page = render_html(load_entries(board))
    assert page.startswith("<!DOCTYPE html>")
    for external in ("src=", "href=", "@import", "url(", "http://", "https://"):
        assert external not in page, external
    assert page.count('class="sortable"') == 3  # main, count, parity


def test_older_task_versions_are_left_out_of_the_tables(populated, bumped_parity):
    board, _ = populated
    md = render_markdown(load_entries(board))
    assert "## Task `parity`" not in md and "## Task `count`" in md
    assert "parity was evaluated at version 1 (current 2); not shown" in md


def test_empty_leaderboard(tmp_path):
    assert "No submissions yet" in render_markdown(load_entries(tmp_path / "none"))
    assert "No submissions yet" in render_html(load_entries(tmp_path / "none"))


def test_committed_leaderboard_is_up_to_date():
    """leaderboard/README.md, leaderboard/index.html and the README's main table are what
    `tracr-bench leaderboard` renders from the committed submissions."""
    root = default_dir()
    assert root.is_dir()
    readme = (root.parent / "README.md").read_text("utf-8")
    assert README_BEGIN in readme and README_END in readme
    stale = stale_outputs(root)
    assert not stale, f"run `tracr-bench leaderboard`: stale {stale}"


def test_method_variants_are_rows_of_their_own(populated, tmp_path):
    """A run whose injection.json names a ``method_variant`` is its own row, shown as
    ``tracr (variant)``; the paper's runs (null variant, or none recorded) stay one row."""
    from tests._leaderboard_data import fake_model, injection, parity, results, write
    from tracr_bench.leaderboard.board import build_board
    from tracr_bench.leaderboard.submit import submit

    board, _ = populated
    base = tmp_path / "models" / "base"
    for seed, variant in ((0, "per-variable+spread"), (1, "per-variable+spread"), (2, None)):
        record = injection(base, "parity", "tracr", seed) | {"method_variant": variant}
        model = fake_model(tmp_path / "models", f"v{seed}", record)
        path = write(tmp_path / f"v{seed}.json", results(model, parity(0.9, 0.5, 0.5)))
        if variant is None:  # the paper's setting under another name: a row of its own name
            submit(path, directory=board, name="null variant", submitted_by="t", date="2026-01-01")
        else:
            submit(path, directory=board, submitted_by="t", date="2026-01-01")
    rows = build_board(load_entries(board)).rows
    labels = {(r.name, r.method_label): len(r.entries) for r in rows}
    assert labels[("base + tracr (parity)", "tracr")] == 3  # version-1/2 files as they were
    variant_name = "base + tracr (per-variable+spread) (parity)"
    assert labels[(variant_name, "tracr (per-variable+spread)")] == 2
    assert labels[("null variant", "tracr")] == 1
    md = render_markdown(load_entries(board))
    assert "| tracr (per-variable+spread) |" in md
