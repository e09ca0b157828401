"""The HTML page's chart per task: an inline SVG (parsed here as XML) with a bar per row and
split whose height is the row's mean accuracy, a whisker of ± the standard deviation over
seeds, a dash where a row has no result, a title, a description with every number, a tooltip
per bar, a legend; no script or external resource; the same files give the same bytes."""

from __future__ import annotations

import re
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests._leaderboard_data import populate
from tracr_bench.leaderboard.chart import BAR, PLOT_H, TOP
from tracr_bench.leaderboard.entries import load_entries
from tracr_bench.leaderboard.html_page import render_html
from tracr_bench.task import get_task


@pytest.fixture
def page(tmp_path) -> tuple[str, dict]:
    board, numbers = populate(tmp_path)
    return render_html(load_entries(board)), numbers


def _figure(page: str, task: str) -> ET.Element:
    match = re.search(rf'<figure class="chart" id="chart-{task}">.*?</figure>', page, re.S)
    assert match, task
    return ET.fromstring(match.group(0))  # well-formed XML, not only HTML


def _bars(svg: ET.Element) -> dict[tuple[str, str], float]:
    """(row name, split) -> bar height in % of the plot, from each bar's tooltip."""
    out = {}
    for rect in svg.iter("rect"):
        title = rect.find("title")
        if title is None:
            continue  # a legend swatch
        name, split = title.text.split(": ")[0].rsplit(", ", 1)
        out[(name, split)] = 100 * float(rect.get("height")) / PLOT_H
    return out


def test_chart_per_task_with_title_and_description(page):
    html, _ = page
    for task in ("count", "parity"):
        fig = _figure(html, task)
        svg = fig.find("svg")
        assert svg.get("role") == "img"
        ids = svg.get("aria-labelledby").split()
        assert [svg.find(f"*[@id='{i}']").tag for i in ids] == ["title", "desc"]
        assert svg.find("title").text == f"{task}: exact match (%) on every split, per model"
        labels = [t.text for t in svg.iter("text") if t.text]
        for split in get_task(task).eval_splits:
            assert (f"{split} (ID)" if split == "test" else split) in labels
        assert "exact match (%)" in labels and "0" in labels and "100" in labels
        assert fig.find("figcaption") is not None
    # the chart comes before its task's table, and the tables stay sortable
    assert html.index('id="chart-parity"') < html.index('id="task-parity"')
    assert html.count('class="sortable"') == 3


def test_bars_are_the_mean_accuracies(page):
    html, numbers = page
    svg = _figure(html, "parity").find("svg")
    bars = _bars(svg)
    base = numbers["base"]["accs"]
    for split in ("test", "length", "skewed"):
        assert bars[("my base", split)] == pytest.approx(100 * base[("parity", split)], abs=0.06)
    for method in ("baseline", "tracr"):
        rows = numbers[method]
        for i, split in enumerate(("test", "length", "skewed")):
            mean = statistics.fmean(r[i] for r in rows)
            got = bars[(f"base + {method} (parity)", split)]
            assert got == pytest.approx(100 * mean, abs=0.06), (method, split)
    assert all(
        float(r.get("width")) == BAR for r in svg.iter("rect") if r.find("title") is not None
    )
    # several seeds: a whisker per bar whose seeds differ (baseline's skewed are all 0.6); the
    # base has one seed
    spread = [
        statistics.stdev(r[i] for r in numbers[m]) for m in ("baseline", "tracr") for i in range(3)
    ]
    assert len(list(svg.iter("path"))) == sum(1 for sd in spread if sd > 0) == 5


def test_description_lists_every_number(page):
    html, numbers = page
    desc = _figure(html, "parity").find("svg").find("desc").text
    assert "test (ID): my base 50.00%" in desc
    tests = [r[0] for r in numbers["tracr"]]
    sd = statistics.stdev(tests)
    assert f"base + tracr (parity) {100 * statistics.fmean(tests):.2f} ± {100 * sd:.2f}%" in desc


def test_missing_result_is_a_dash(page):
    """The parity-trained rows did not evaluate count: a dash, not a bar, in count's chart."""
    html, _ = page
    svg = _figure(html, "count").find("svg")
    rows = {n for n, _ in _bars(svg)}
    assert rows == {"my base"}  # only the base evaluated count
    titles = [t.find("title").text for t in svg.iter("text") if t.find("title") is not None]
    assert titles == []  # the count table holds only rows that evaluated count


def test_zero_accuracy_still_shows(tmp_path):
    board, _ = populate(tmp_path)
    svg = _figure(render_html(load_entries(board)), "count").find("svg")
    heights = [float(r.get("height")) for r in svg.iter("rect") if r.find("title") is not None]
    assert min(heights) >= 1.0  # count/replace_y is 0 %: a 1 px bar on the axis
    tops = [float(r.get("y")) + float(r.get("height")) for r in svg.iter("rect")]
    assert max(tops) > TOP + PLOT_H - 1  # bars stand on the axis


def test_chart_of_the_committed_leaderboard_parses():
    from tracr_bench.leaderboard.entries import default_dir

    html = (default_dir() / "index.html").read_text("utf-8")
    for task in ("count", "int_sum", "shuffle_dyck"):
        bars = _bars(_figure(html, task).find("svg"))
        rows = {name for name, _ in bars}
        # one bar per row and split: the base, its baseline and every injected method on the task
        assert len(bars) == len(rows) * len(get_task(task).eval_splits), task
        assert "default LM" in rows and any("baseline" in r for r in rows), rows
        assert any("tracr" in r for r in rows), rows
    assert "<script" in html and html.count("<svg") == 3


def test_chart_without_page_script(page, tmp_path: Path):
    """The charts are plain markup: present in the page before any script runs."""
    html, _ = page
    body_before_script = html.split("<script>")[0]
    assert body_before_script.count("<svg") == 2
