"""The leaderboard as Markdown: ``leaderboard/README.md`` and the project README's main table.

In: the validated submission entries, optionally one task.
Out: :func:`render_markdown`, the whole page (counts, the explanation, the main table, a table
per task with every split, the base models, notes), and :func:`main_markdown`, the main table
alone with its explanation; GitHub tables with the best value of a column in bold. A pure
function of the entries: the same files give byte-identical text.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracr_bench.leaderboard.board import Board, build_board
from tracr_bench.leaderboard.entries import SUBMISSIONS, Entry
from tracr_bench.leaderboard.schema import versions_text
from tracr_bench.leaderboard.tables import (
    BASE_HEADERS,
    EMPTY,
    Table,
    base_lines,
    main_table,
    tables,
)


def render_markdown(entries: Sequence[Entry], only: str | None = None) -> str:
    lines = [
        "# Leaderboard",
        "",
        "Written by `tracr-bench leaderboard` from the submission files in "
        f"[`{SUBMISSIONS}/`]({SUBMISSIONS}/) (schema {versions_text()}); do not edit by "
        "hand. Submit a results file with `tracr-bench submit RESULTS.json` (see the project "
        "README); the same tables as a sortable page: [`index.html`](index.html).",
        "",
    ]
    if not entries:
        lines += [EMPTY, ""]
        return "\n".join(lines)
    board = build_board(entries)
    views = tables(board, only)
    lines += [board.counts(), "", views[0].explanation(), ""]
    for t in views:
        title = t.title if t.id == "main" else f"Task `{t.title}`: every split"
        lines += [f"## {title}", "", table_markdown(t), ""]
    lines += ["## Base models", "", base_models_markdown(board), ""]
    if board.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in board.notes] + [""]
    return "\n".join(lines)


def main_markdown(entries: Sequence[Entry]) -> str:
    """The main table alone (for the project README)."""
    if not entries:
        return EMPTY
    main = main_table(build_board(entries))
    return table_markdown(main) + "\n\n" + main.explanation()


def table_markdown(table: Table) -> str:
    from tabulate import tabulate

    body = [
        [f"**{t}**" if best else _md_escape(t) for t, _, best in line] for line in table.cells()
    ]
    headers = [_md_escape(c.header) for c in table.columns]
    align = ["left" if c.kind == "text" else "right" for c in table.columns]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True, colalign=align)


def base_models_markdown(board: Board) -> str:
    from tabulate import tabulate

    return tabulate(
        base_lines(board),
        headers=list(BASE_HEADERS),
        tablefmt="github",
        disable_numparse=True,
    )


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")
