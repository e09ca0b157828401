"""The leaderboard's tables: ``tracr-bench leaderboard [--format md|html] [--task T]``.

Rows are groups of submissions with the same base model (by weights hash), method, trained task
and name; each member is one training seed, and a cell shows the mean over the members and, where
there are several, ``± the sample standard deviation`` (n - 1 in the denominator). Accuracies are
exact-match percentages; ``ID`` is the ``test`` split, ``OOD`` the mean over the task's
out-of-distribution splits (shown only when every one of them was evaluated); retention is the
ratio of the row's word perplexity on the retention shard to its base model's (same shard, same
number of documents; lower is better, 1 = unchanged). The best value of every numeric column is
marked (bold); the retention column compares the trained models only, since a base model's own
ratio is 1 by definition.

Rendering is a pure function of the submission files (file-name order, fixed number formats, no
clock): the same files give byte-identical output.
"""

from __future__ import annotations

import html
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tracr_bench.leaderboard.submissions import (
    METHODS,
    SCHEMA_VERSION,
    SUBMISSIONS,
    Entry,
    SubmissionError,
    default_dir,
    load_entries,
    stale_tasks,
    weights_id,
    weights_key,
)
from tracr_bench.task import all_tasks

MISSING = "–"
README_BEGIN = "<!-- leaderboard:main:begin (written by `tracr-bench leaderboard`) -->"
README_END = "<!-- leaderboard:main:end -->"
MARKDOWN_FILE = "README.md"
HTML_FILE = "index.html"


# ---------------------------------------------------------------------------- numbers


def accuracy(e: Entry, task: str, split: str) -> float | None:
    if task in stale_tasks(e.doc):
        return None
    for r in e.tb["splits"]:
        if r["task"] == task and r["split"] == split:
            return r["accuracy"]
    return None


def ood_mean(e: Entry, task: str) -> float | None:
    splits = [s for s in all_tasks()[task].eval_splits if s != "test"]
    values = [accuracy(e, task, s) for s in splits]
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)  # type: ignore[arg-type]


def evaluated_tasks(e: Entry) -> list[str]:
    stale = stale_tasks(e.doc)
    return sorted({r["task"] for r in e.tb["splits"] if r["task"] not in stale})


@dataclass
class Cell:
    values: list[float]
    scale: float = 100.0
    digits: int = 2

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) >= 2 else None

    def key(self) -> float | None:
        """The displayed mean, for comparing cells (ties in the display are ties)."""
        m = self.mean
        return None if m is None else round(m * self.scale, self.digits)

    def text(self) -> str:
        m = self.mean
        if m is None:
            return MISSING
        out = f"{m * self.scale:.{self.digits}f}"
        if self.std is not None:
            out += f" ± {self.std * self.scale:.{self.digits}f}"
        return out

    def sort_value(self) -> str:
        m = self.mean
        return "" if m is None else repr(m)


@dataclass
class Row:
    base_id: str
    base_name: str
    name: str
    method: str
    task: str | None
    entries: list[Entry] = field(default_factory=list)

    def sort_key(self) -> tuple:
        return (
            self.base_name,
            self.base_id,
            METHODS.index(self.method),
            self.task or "",
            self.name,
        )

    @property
    def seeds(self) -> str:
        seeds = sorted(
            e.sub["seeds"]["train"] for e in self.entries if e.sub["seeds"]["train"] is not None
        )
        return ", ".join(str(s) for s in seeds) if seeds else MISSING

    @property
    def limits(self) -> str:
        limits = sorted({e.tb["limit"] for e in self.entries}, key=lambda x: (x is None, x or 0))
        return ", ".join("all" if x is None else str(x) for x in limits)

    def cell(self, fn: Callable[[Entry], float | None], scale=100.0, digits=2) -> Cell:
        values = [v for v in (fn(e) for e in self.entries) if v is not None]
        return Cell([float(v) for v in values if math.isfinite(v)], scale, digits)


@dataclass
class Board:
    entries: list[Entry]
    rows: list[Row]
    tasks: list[str]  # tasks with at least one (current-version) result
    base_ppl: dict[str, list[tuple[str, int, float]]]  # base id -> (text sha, docs, word ppl)
    notes: list[str]

    def retention_ratio(self, e: Entry) -> float | None:
        ret = e.tb["retention"]
        if ret is None:
            return None
        base = weights_id(e.sub["base_model"]["weights_sha256"])
        refs = [
            ppl
            for sha, docs, ppl in self.base_ppl.get(base, [])
            if sha == ret["text_sha256"] and docs == ret["documents"]
        ]
        if not refs:
            return None
        return ret["word_perplexity"] / statistics.fmean(refs)


def build_board(entries: Sequence[Entry]) -> Board:
    groups: dict[tuple, Row] = {}
    base_names: dict[str, str] = {}
    base_ppl: dict[str, list[tuple[str, int, float]]] = {}
    for e in entries:  # the base models' own names and retention, from their method-none rows
        sub = e.sub
        if sub["method"] == "none":
            own = weights_id(e.tb["model"]["weights_sha256"])
            base_names.setdefault(own, sub["base_model"]["name"])
            ret = e.tb["retention"]
            if ret is not None:
                base_ppl.setdefault(own, []).append(
                    (ret["text_sha256"], ret["documents"], ret["word_perplexity"])
                )
    for e in entries:
        sub = e.sub
        bid = weights_id(sub["base_model"]["weights_sha256"])
        bname = base_names.get(bid, sub["base_model"]["name"])
        key = (bid, sub["method"], sub["task"] or "", sub["name"])
        row = groups.setdefault(key, Row(bid, bname, sub["name"], sub["method"], sub["task"]))
        row.entries.append(e)
    rows = sorted(groups.values(), key=Row.sort_key)
    tasks = sorted({t for e in entries for t in evaluated_tasks(e)})
    notes = []
    for e in entries:
        for name, (theirs, current) in stale_tasks(e.doc).items():
            notes.append(
                f"`{e.path.name}`: {name} was evaluated at version {theirs} (current {current}); "
                "not shown"
            )
    board = Board(list(entries), rows, tasks, base_ppl, notes)
    missing = sorted(
        {
            r.base_name
            for r in rows
            for e in r.entries
            if e.tb["retention"] is not None and board.retention_ratio(e) is None
        }
    )
    for name in missing:
        board.notes.append(
            f"retention ratio missing for some runs on {name}: no base-model submission with "
            "retention on the same shard and number of documents"
        )
    return board


# ---------------------------------------------------------------------------- tables


@dataclass
class Column:
    header: str
    kind: str  # "text" or "num"
    get: Callable[[Row], object]  # str for text, Cell for num
    higher_is_better: bool = True
    best_among: Callable[[Row], bool] = lambda row: True


@dataclass
class Table:
    id: str
    title: str
    columns: list[Column]
    rows: list[Row]

    def best(self) -> dict[int, float]:
        """Column index -> the best displayed value."""
        out = {}
        for i, col in enumerate(self.columns):
            if col.kind != "num":
                continue
            keys = [
                k
                for r in self.rows
                if col.best_among(r) and (k := col.get(r).key()) is not None  # type: ignore[union-attr]
            ]
            if len(keys) >= 2:  # a lone value is not "best" of anything
                out[i] = max(keys) if col.higher_is_better else min(keys)
        return out

    def cells(self) -> list[list[tuple[str, str, bool]]]:
        """Per row, per column: (text, sort value, is best)."""
        best = self.best()
        out = []
        for r in self.rows:
            line = []
            for i, col in enumerate(self.columns):
                v = col.get(r)
                if isinstance(v, Cell):
                    is_best = (
                        i in best
                        and col.best_among(r)
                        and v.key() is not None
                        and v.key() == best[i]
                    )
                    line.append((v.text(), v.sort_value(), is_best))
                else:
                    line.append((str(v), str(v), False))
            out.append(line)
        return out


def _id_columns() -> list[Column]:
    return [
        Column("base model", "text", lambda r: f"{r.base_name} ({r.base_id})"),
        Column("model", "text", lambda r: r.name),
        Column("method", "text", lambda r: r.method),
        Column("trained on", "text", lambda r: r.task or MISSING),
        Column("seeds", "text", lambda r: r.seeds),
        Column("examples/split", "text", lambda r: r.limits),
    ]


def main_table(board: Board, only: str | None = None) -> Table:
    tasks = [t for t in board.tasks if only is None or t == only]
    cols = _id_columns()
    for t in tasks:
        cols.append(
            Column(f"{t} ID", "num", lambda r, t=t: r.cell(lambda e: accuracy(e, t, "test")))
        )
        cols.append(Column(f"{t} OOD", "num", lambda r, t=t: r.cell(lambda e: ood_mean(e, t))))
    cols.append(
        Column(
            "retention (ppl ratio)",
            "num",
            lambda r: r.cell(board.retention_ratio, scale=1.0, digits=3),
            higher_is_better=False,
            best_among=lambda r: r.method != "none",
        )
    )
    rows = [
        r for r in board.rows if only is None or any(only in evaluated_tasks(e) for e in r.entries)
    ]
    return Table("main", "Main table", cols, rows)


def task_table(board: Board, task: str) -> Table:
    cols = _id_columns()
    for s in all_tasks()[task].eval_splits:
        head = f"{s} (ID)" if s == "test" else s
        cols.append(Column(head, "num", lambda r, s=s: r.cell(lambda e: accuracy(e, task, s))))
    cols.append(Column("mean OOD", "num", lambda r: r.cell(lambda e: ood_mean(e, task))))
    rows = [r for r in board.rows if any(task in evaluated_tasks(e) for e in r.entries)]
    return Table(f"task-{task}", task, cols, rows)


def tables(board: Board, only: str | None = None) -> list[Table]:
    if only is not None and only not in all_tasks():
        from tracr_bench.task import get_task

        get_task(only)  # the one-line unknown-task error
    out = [main_table(board, only)]
    out += [task_table(board, t) for t in board.tasks if only is None or t == only]
    return out


EXPLAIN = (
    "Accuracy: exact match, %. ID = the `test` split; OOD = the mean over the task's "
    "out-of-distribution splits (blank unless every one was evaluated). Several training seeds "
    "of one model form one row: mean ± sample standard deviation (n − 1) over the seeds. "
    "Retention: the row's word perplexity on the retention shard divided by its base model's "
    "(same shard and documents; lower is better, 1 = unchanged). Bold: the best value of a "
    "column where two or more rows have one (retention: among trained models, a base model's "
    "own ratio being 1 by definition)."
)


def base_lines(board: Board) -> list[list[str]]:
    """Base models: id, name, weights sha256 and their own retention perplexity."""
    seen: dict[str, list[str]] = {}
    for r in board.rows:
        if r.base_id in seen:
            continue
        sha = weights_key(r.entries[0].sub["base_model"]["weights_sha256"])
        ppl = ", ".join(
            f"{p:.2f} ({docs} documents)"
            for _, docs, p in sorted(board.base_ppl.get(r.base_id, []))
        )
        seen[r.base_id] = [
            r.base_id,
            r.base_name,
            "; ".join(f"{k} {v}" for k, v in sorted(sha.items())),
            ppl or MISSING,
        ]
    return list(seen.values())


# ---------------------------------------------------------------------------- markdown


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def table_markdown(table: Table) -> str:
    from tabulate import tabulate

    body = [
        [f"**{t}**" if best else _md_escape(t) for t, _, best in line] for line in table.cells()
    ]
    headers = [_md_escape(c.header) for c in table.columns]
    align = ["left" if c.kind == "text" else "right" for c in table.columns]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True, colalign=align)


def main_markdown(entries: Sequence[Entry]) -> str:
    """The main table alone (for the project README)."""
    if not entries:
        return "No submissions yet: the leaderboard is empty."
    board = build_board(entries)
    return table_markdown(main_table(board)) + "\n\n" + EXPLAIN


def _counts(entries: Sequence[Entry], board: Board) -> str:
    n, k = len(entries), len(board.rows)
    return f"{n} submission{'s' if n != 1 else ''} in {k} row{'s' if k != 1 else ''}."


def render_markdown(entries: Sequence[Entry], only: str | None = None) -> str:
    lines = [
        "# Leaderboard",
        "",
        "Written by `tracr-bench leaderboard` from the submission files in "
        f"[`{SUBMISSIONS}/`]({SUBMISSIONS}/) (schema version {SCHEMA_VERSION}); do not edit by "
        "hand. Submit a results file with `tracr-bench submit RESULTS.json` (see the project "
        "README); the same tables as a sortable page: [`index.html`](index.html).",
        "",
    ]
    if not entries:
        lines += ["No submissions yet: the leaderboard is empty.", ""]
        return "\n".join(lines)
    board = build_board(entries)
    lines += [_counts(entries, board), "", EXPLAIN, ""]
    for t in tables(board, only):
        title = t.title if t.id == "main" else f"Task `{t.title}`: every split"
        lines += [f"## {title}", "", table_markdown(t), ""]
    lines += ["## Base models", ""]
    from tabulate import tabulate

    lines.append(
        tabulate(
            base_lines(board),
            headers=["id", "name", "weights sha256", "retention word perplexity"],
            tablefmt="github",
            disable_numparse=True,
        )
    )
    lines.append("")
    if board.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in board.notes] + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- html

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


def render_html(entries: Sequence[Entry], only: str | None = None) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>tracr-bench leaderboard</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<h1>tracr-bench leaderboard</h1>",
        '<p class="note">Written by <code>tracr-bench leaderboard</code> from the submission '
        f"files in <code>{SUBMISSIONS}/</code> (schema version {SCHEMA_VERSION}). Click a column "
        "header to sort by it; click again to reverse.</p>",
    ]
    if not entries:
        parts.append("<p>No submissions yet: the leaderboard is empty.</p>")
    else:
        board = build_board(entries)
        explain = EXPLAIN.replace("`", "")
        parts.append(f'<p class="note">{e(_counts(entries, board))} {e(explain)}</p>')
        for t in tables(board, only):
            title = t.title if t.id == "main" else f"Task {t.title}: every split"
            parts += [f"<h2>{e(title)}</h2>", table_html(t)]
        parts.append("<h2>Base models</h2>")
        parts.append("<table><thead><tr>")
        for h in ("id", "name", "weights sha256", "retention word perplexity"):
            parts.append(f"<th>{h}</th>")
        parts.append("</tr></thead><tbody>")
        for line in base_lines(board):
            parts.append("<tr>" + "".join(f"<td>{e(x)}</td>" for x in line) + "</tr>")
        parts.append("</tbody></table>")
        if board.notes:
            parts.append("<h2>Notes</h2><ul>")
            parts += [f"<li>{e(n)}</li>" for n in board.notes]
            parts.append("</ul>")
    parts += [f"<script>{JS}</script>", "</body>", "</html>", ""]
    return "\n".join(parts)


# ---------------------------------------------------------------------------- files


def readme_section(text: str, main: str) -> str | None:
    """``text`` with the main table between the README markers replaced, or None if ``text``
    has no markers."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        return None
    return text[: start + len(README_BEGIN)] + "\n\n" + main + "\n\n" + text[end:]


def outputs(
    directory: Path | None = None, formats: Sequence[str] = ("md", "html"), readme: bool = True
) -> dict[Path, str]:
    """Every file ``tracr-bench leaderboard`` writes, with its content."""
    root = default_dir() if directory is None else Path(directory)
    entries = load_entries(root)
    out: dict[Path, str] = {}
    if "md" in formats:
        out[root / MARKDOWN_FILE] = render_markdown(entries)
        project_readme = root.resolve().parent / "README.md"
        if readme and project_readme.is_file():
            new = readme_section(project_readme.read_text("utf-8"), main_markdown(entries))
            if new is not None:
                out[project_readme] = new
    if "html" in formats:
        out[root / HTML_FILE] = render_html(entries)
    return out


def stale_outputs(directory: Path | None = None, formats=("md", "html")) -> list[Path]:
    return [
        p
        for p, text in outputs(directory, formats).items()
        if not p.is_file() or p.read_text("utf-8") != text
    ]


def write_outputs(directory: Path | None = None, formats=("md", "html")) -> list[Path]:
    from tracr_bench.files import write_text_atomic

    written = []
    for path, text in outputs(directory, formats).items():
        if path.is_file() and path.read_text("utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
        written.append(path)
    return written


__all__ = [
    "SubmissionError",
    "build_board",
    "main_markdown",
    "outputs",
    "render_html",
    "render_markdown",
    "stale_outputs",
    "write_outputs",
]
