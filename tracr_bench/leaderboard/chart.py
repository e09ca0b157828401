"""A task's accuracies as a picture: the bar chart above each task's table on the HTML page.

In: a task and the leaderboard rows that evaluated it (:class:`tracr_bench.leaderboard.board.Row`:
the base model, its baselines, its injected models). Out: :func:`chart_svg`, a ``<figure>`` with
an inline SVG (no script, no external resource) and a caption: per split of the task (``test``,
then the out-of-distribution splits) a group of bars, one per row in the tables' order, coloured
by method (each row of a method its own shade); the height is the row's mean exact match in %,
with a whisker of ± the sample standard deviation over its training seeds where it has several;
a row without a result on a split gets a dash. A y axis in %, a legend, and for assistive
technology a ``<title>``, a ``<desc>`` that lists every number, and a ``<title>`` per bar (also
the tooltip). Coordinates have one decimal: the same rows give the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from tracr_bench.leaderboard.board import Row, accuracy
from tracr_bench.task import all_tasks

CHART_CSS = """
figure.chart { margin: 0.5em 0 0; }
figure.chart svg { max-width: 100%; height: auto; }
figure.chart figcaption { font-size: 0.85em; color: #555; max-width: 60em; }
"""

# Okabe-Ito colours, by method; a method's further rows take its further shades
PALETTE = {
    "none": ("#7f7f7f", "#b3b3b3", "#4d4d4d"),
    "baseline": ("#0072b2", "#56b4e9", "#00466e"),
    "tracr": ("#e69f00", "#d55e00", "#f0c75e"),
    "other": ("#009e73", "#66c2a5", "#00664d"),
}
BAR, BAR_GAP, GROUP_GAP = 14, 2, 28  # px
CHAR_W = 6.6  # px: the width of a character of the 11 px labels, generously
PLOT_H, LEFT, RIGHT, TOP = 180, 56, 16, 16  # px: plot height and margins
X_LABELS_H, LEGEND_LINE, MIN_WIDTH = 34, 18, 360  # px
TICKS = (0, 25, 50, 75, 100)


def _f(x: float) -> str:
    return f"{x:.1f}"


def _y(percent: float) -> float:
    return TOP + PLOT_H * (1 - min(max(percent, 0.0), 100.0) / 100)


def colours(rows: Sequence[Row]) -> list[str]:
    """One colour per row: its method's first shade, then the next for the next such row."""
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        shades = PALETTE.get(r.method, PALETTE["other"])
        i = seen.get(r.method, 0)
        seen[r.method] = i + 1
        out.append(shades[i % len(shades)])
    return out


def split_label(split: str) -> str:
    return f"{split} (ID)" if split == "test" else split


def chart_svg(task: str, rows: Sequence[Row]) -> str:
    """The figure for ``task``: a bar per row and split (see the module docstring)."""
    e = html.escape
    splits = list(all_tasks()[task].eval_splits)
    group_w = len(rows) * BAR + max(len(rows) - 1, 0) * BAR_GAP
    longest = max(len(split_label(s)) for s in splits)
    slot = max(group_w + GROUP_GAP, longest * CHAR_W + 12)  # a split's share of the x axis
    plot_w = len(splits) * slot
    legend_w = 16 + max((len(legend_label(r)) for r in rows), default=0) * CHAR_W
    width = round(max(LEFT + max(plot_w, legend_w) + RIGHT, MIN_WIDTH))
    legend_top = TOP + PLOT_H + X_LABELS_H
    height = legend_top + len(rows) * LEGEND_LINE + 4
    cid = f"chart-{task}"
    title = f"{task}: exact match (%) on every split, per model"
    parts = [
        f'<figure class="chart" id="{e(cid)}">',
        f'<svg role="img" aria-labelledby="{e(cid)}-title {e(cid)}-desc" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" '
        'font-size="11">',
        f'<title id="{e(cid)}-title">{e(title)}</title>',
        f'<desc id="{e(cid)}-desc">{e(describe(task, splits, rows))}</desc>',
    ]
    parts += _axes(plot_w)
    colour = colours(rows)
    for i, split in enumerate(splits):
        x0 = LEFT + i * slot + (slot - group_w) / 2
        parts.append(
            f'<text x="{_f(LEFT + (i + 0.5) * slot)}" y="{_f(TOP + PLOT_H + 16)}" '
            f'text-anchor="middle">{e(split_label(split))}</text>'
        )
        for j, row in enumerate(rows):
            parts += _bar(task, split, row, x0 + j * (BAR + BAR_GAP), colour[j])
    parts += _legend(rows, colour, legend_top)
    parts += [
        "</svg>",
        f"<figcaption>Exact match on every split of {e(task)}, %: the height of a bar is the "
        "row's mean over its training seeds, the whisker ± their sample standard deviation; a "
        "dash: no result. The numbers are in the table below.</figcaption>",
        "</figure>",
    ]
    return "\n".join(parts)


def describe(task: str, splits: Sequence[str], rows: Sequence[Row]) -> str:
    """Every number of the chart in words, split by split."""
    per_split = []
    for split in splits:
        values = []
        for r in rows:
            cell = r.cell(lambda e, s=split: accuracy(e, task, s))
            values.append(f"{r.name} {cell.text()}%" if cell.mean is not None else f"{r.name} –")
        per_split.append(f"{split_label(split)}: " + ", ".join(values))
    return "; ".join(per_split) + "."


def _axes(plot_w: float) -> list[str]:
    """Grid lines and labels of the y axis (exact match, %), and the baseline."""
    out = []
    for tick in TICKS:
        y = _f(_y(tick))
        stroke = "#888888" if tick == 0 else "#dddddd"
        out.append(
            f'<line x1="{LEFT}" x2="{_f(LEFT + plot_w)}" y1="{y}" y2="{y}" stroke="{stroke}" '
            'stroke-width="1"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{_f(_y(tick) + 4)}" text-anchor="end">{tick}</text>')
    mid = _f(TOP + PLOT_H / 2)
    out.append(
        f'<text x="14" y="{mid}" transform="rotate(-90 14 {mid})" text-anchor="middle">'
        "exact match (%)</text>"
    )
    return out


def _bar(task: str, split: str, row: Row, x: float, colour: str) -> list[str]:
    """One row's bar on one split: the rectangle (at least 1 px, so that 0 % shows), its
    tooltip, and the whisker of several seeds; a dash where there is no result."""
    e = html.escape
    cell = row.cell(lambda en: accuracy(en, task, split))
    mean = cell.mean
    centre = x + BAR / 2
    base = TOP + PLOT_H
    if mean is None:
        return [
            f'<text x="{_f(centre)}" y="{_f(base - 3)}" text-anchor="middle" fill="#555555">'
            f"–<title>{e(row.name)}, {e(split)}: no result</title></text>"
        ]
    top = min(_y(100 * mean), base - 1)
    out = [
        f'<rect x="{_f(x)}" y="{_f(top)}" width="{BAR}" height="{_f(base - top)}" '
        f'fill="{colour}"><title>{e(row.name)}, {e(split)}: {e(cell.text())}%</title></rect>'
    ]
    std = cell.std
    if std:
        lo, hi = _f(_y(100 * (mean - std))), _f(_y(100 * (mean + std)))
        out.append(
            f'<path d="M{_f(centre)} {lo}V{hi}M{_f(centre - 3)} {lo}H{_f(centre + 3)}'
            f'M{_f(centre - 3)} {hi}H{_f(centre + 3)}" stroke="#222222" stroke-width="1" '
            'fill="none"/>'
        )
    return out


def _legend(rows: Sequence[Row], colour: Sequence[str], top: float) -> list[str]:
    e = html.escape
    out = []
    for j, row in enumerate(rows):
        y = top + j * LEGEND_LINE
        out.append(
            f'<rect x="{LEFT}" y="{_f(y)}" width="10" height="10" fill="{colour[j]}"/>'
            f'<text x="{LEFT + 16}" y="{_f(y + 9)}">{e(legend_label(row))}</text>'
        )
    return out


def legend_label(row: Row) -> str:
    """The row's name, what it is where the name does not say, and its seeds."""
    what = "base model, " if row.method == "none" else ""
    if row.method not in ("none", "other") and row.method_label not in row.name:
        what = f"{row.method_label}, "
    seeds = f"seed {row.seeds}" if "," not in row.seeds else f"seeds {row.seeds}"
    return f"{row.name} ({what}{seeds})"
