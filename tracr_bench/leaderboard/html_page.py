"""The leaderboard as one self-contained HTML page: ``leaderboard/index.html``.

In: the validated submission entries, optionally one task.
Out: :func:`render_html`, the same tables as the Markdown page (counts, explanation, main table,
a table per task, base models, notes) with the style and the sorting script inline, no external
resource: a click on a header sorts the table by that column (numbers by value, empty cells
last), a second click reverses it; the best value of a column is highlighted. Above each task's
table, a bar chart of every row's accuracy on every split (:mod:`tracr_bench.leaderboard.chart`:
inline SVG, readable without the script). A pure function
of the entries: the same files give byte-identical text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from tracr_bench.leaderboard.board import Board, build_board
from tracr_bench.leaderboard.chart import CHART_CSS, chart_svg
from tracr_bench.leaderboard.entries import SUBMISSIONS, Entry
from tracr_bench.leaderboard.schema import versions_text
from tracr_bench.leaderboard.tables import (
    BASE_HEADERS,
    EMPTY,
    Table,
    base_lines,
    tables,
)

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0 2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; }
th { background: #f0f0f0; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { font-weight: bold; background: #e8f5e9; }
p.note { max-width: 60em; }
"""

# Sorts a table by the clicked header: numbers by their data-v value (empty cells last in both
# directions), text by its content; first click ascending, then it alternates. Ties keep the
# previous order (the sort is stable).
JS = """
(function () {
  function value(row, col) { return row.cells[col].getAttribute('data-v'); }
  function sortTable(table, col, th) {
    var dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
    var sign = dir === 'ascending' ? 1 : -1;
    var numeric = th.getAttribute('data-type') === 'num';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var indexed = rows.map(function (row, i) { return [row, i]; });
    indexed.sort(function (a, b) {
      var x = value(a[0], col), y = value(b[0], col);
      if (x === '' && y === '') { return a[1] - b[1]; }
      if (x === '') { return 1; }
      if (y === '') { return -1; }
      var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return c !== 0 ? sign * c : a[1] - b[1];
    });
    indexed.forEach(function (pair) { body.appendChild(pair[0]); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute('aria-sort');
    });
    th.setAttribute('aria-sort', dir);
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener('click', function () { sortTable(table, col, th); });
      th.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          sortTable(table, col, th);
        }
      });
    });
  });
})();
"""


def render_html(entries: Sequence[Entry], only: str | None = None) -> str:
    parts = _head()
    if not entries:
        parts.append(f"<p>{EMPTY}</p>")
    else:
        parts += _body(build_board(entries), only)
    parts += [f"<script>{JS}</script>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _head() -> list[str]:
    """From the doctype to the page's title and its note on where it comes from."""
    return [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>tracr-bench leaderboard</title>",
        f"<style>{CSS}{CHART_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>tracr-bench leaderboard</h1>",
        '<p class="note">Written by <code>tracr-bench leaderboard</code> from the submission '
        f"files in <code>{SUBMISSIONS}/</code> (schema {versions_text()}). Click a column "
        "header to sort by it; click again to reverse.</p>",
    ]


def _body(board: Board, only: str | None) -> list[str]:
    """The counts, the explanation, the tables, the base models and the notes."""
    e = html.escape
    views = tables(board, only)
    explain = views[0].explanation().replace("`", "")
    parts = [f'<p class="note">{e(board.counts())} {e(explain)}</p>']
    for t in views:
        title = t.title if t.id == "main" else f"Task {t.title}: every split"
        parts.append(f"<h2>{e(title)}</h2>")
        if t.id != "main":  # the task's accuracies at a glance, then the numbers
            parts.append(chart_svg(t.title, t.rows))
        parts.append(table_html(t))
    parts += base_models_html(board)
    if board.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{e(n)}</li>" for n in board.notes]
        parts.append("</ul>")
    return parts


def table_html(table: Table) -> str:
    e = html.escape
    out = [f'<table class="sortable" id="{e(table.id)}">', "<thead><tr>"]
    for c in table.columns:
        out.append(f'<th data-type="{c.kind}" title="click to sort">{e(c.header)}</th>')
    out.append("</tr></thead>")
    out.append("<tbody>")
    for line in table.cells():
        tds = []
        for col, (text, sort, best) in zip(table.columns, line, strict=True):
            cls = "num" + (" best" if best else "") if col.kind == "num" else "text"
            tds.append(f'<td class="{cls}" data-v="{e(sort)}">{e(text)}</td>')
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def base_models_html(board: Board) -> list[str]:
    e = html.escape
    parts = ["<h2>Base models</h2>", "<table><thead><tr>"]
    parts += [f"<th>{h}</th>" for h in BASE_HEADERS]
    parts.append("</tr></thead><tbody>")
    for line in base_lines(board):
        parts.append("<tr>" + "".join(f"<td>{e(x)}</td>" for x in line) + "</tr>")
    parts.append("</tbody></table>")
    return parts
