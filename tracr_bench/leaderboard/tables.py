"""The leaderboard's tables, before any format: which columns, which rows, which cell is best.

In: a :class:`tracr_bench.leaderboard.board.Board`.
Out: :class:`Table` objects (:func:`tables`: the main table, then one per task with every split)
whose :meth:`Table.cells` give each cell's text, sort value and whether it is the column's best,
the base-model lines (:func:`base_lines`) and the texts around them (:data:`EXPLAIN`,
:data:`EMPTY`); the Markdown and HTML pages lay these out. Accuracies are exact-match
percentages; ``ID`` is the ``test`` split, ``OOD`` the mean over the task's out-of-distribution
splits (shown only when every one of them was evaluated); where some row has them (schema
version 2), per task the mechanism (readout and the positions decoded, decoding accuracy and
IIA of the program's output variable) and the length frontier; retention is the ratio of the
row's word perplexity on the retention shard to its base model's (lower is better, 1 =
unchanged). The best value of every numeric column is marked; the retention column compares the
trained models only, since a base model's own ratio is 1 by definition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tracr_bench.leaderboard.board import (
    MISSING,
    Board,
    Cell,
    Row,
    accuracy,
    evaluated_tasks,
    frontier,
    mechanism,
    ood_mean,
)
from tracr_bench.leaderboard.schema import weights_key
from tracr_bench.task import all_tasks

EXPLAIN = (
    "Accuracy: exact match, %. ID = the `test` split; OOD = the mean over the task's "
    "out-of-distribution splits (blank unless every one was evaluated). Several training seeds "
    "of one model form one row: mean ± sample standard deviation (n − 1) over the seeds. "
    "Retention: the row's word perplexity on the retention shard divided by its base model's "
    "(same shard and documents; lower is better, 1 = unchanged). Bold: the best value of a "
    "column where two or more rows have one (retention: among trained models, a base model's "
    "own ratio being 1 by definition)."
)
EMPTY = "No submissions yet: the leaderboard is empty."
BASE_HEADERS = ("id", "name", "weights sha256", "retention word perplexity")


@dataclass
class Column:
    header: str
    kind: str  # "text" or "num"
    get: Callable[[Row], object]  # str for text, Cell for num
    higher_is_better: bool = True
    best_among: Callable[[Row], bool] = lambda row: True
    note: str | None = None  # what the column holds, said under the table where it appears


@dataclass
class Table:
    id: str
    title: str
    columns: list[Column]
    rows: list[Row]

    def explanation(self) -> str:
        """:data:`EXPLAIN`, then the notes of the columns that carry one."""
        notes = dict.fromkeys(c.note for c in self.columns if c.note)
        return " ".join([EXPLAIN, *notes])

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
        Column("method", "text", lambda r: r.method_label),
        Column("trained on", "text", lambda r: r.task or MISSING),
        Column("seeds", "text", lambda r: r.seeds),
        Column("examples/split", "text", lambda r: r.limits),
    ]


MECHANISM_NOTE = (
    "Readout, decode, IIA (where submitted, schema version 2): from `tracr-bench decode` on the "
    "trained task's `test` split: the accuracy, %, with which the readout (the injected "
    "adapter, else a linear probe) decodes the program's output variable at the last layer "
    "aligned with the program, and the interchange-intervention accuracy there. The decoding "
    "accuracy counts every position where the program defines the variable or, where the "
    "readout says `answer positions` (`decode --positions answer`), the answer positions only; "
    "read it against the variable's majority floor (in the decode JSON)."
)
FRONTIER_NOTE = (
    "Frontier (where submitted): the longest input length up to which `tracr-bench search` "
    "(hypothesis, derandomized) found no wrong answer on the trained task."
)


def _measurement_columns(rows: list[Row], task: str) -> list[Column]:
    """The mechanism and frontier columns of ``task``, only where some row has them."""
    cols = []
    if any(mechanism(e, task, "decoding") is not None for r in rows for e in r.entries):
        cols += [
            Column(f"{task} readout", "text", lambda r: r.readouts(task), note=MECHANISM_NOTE),
            Column(
                f"{task} decode",
                "num",
                lambda r: r.cell(lambda e: mechanism(e, task, "decoding")),
            ),
            Column(f"{task} IIA", "num", lambda r: r.cell(lambda e: mechanism(e, task, "iia"))),
        ]
    if any(frontier(e, task) is not None for r in rows for e in r.entries):
        cols.append(
            Column(
                f"{task} frontier",
                "num",
                lambda r: r.cell(lambda e: frontier(e, task), scale=1.0, digits=1),
                note=FRONTIER_NOTE,
            )
        )
    return cols


def main_table(board: Board, only: str | None = None) -> Table:
    tasks = [t for t in board.tasks if only is None or t == only]
    rows = [
        r for r in board.rows if only is None or any(only in evaluated_tasks(e) for e in r.entries)
    ]
    cols = _id_columns()
    for t in tasks:
        cols.append(
            Column(f"{t} ID", "num", lambda r, t=t: r.cell(lambda e: accuracy(e, t, "test")))
        )
        cols.append(Column(f"{t} OOD", "num", lambda r, t=t: r.cell(lambda e: ood_mean(e, t))))
        cols += _measurement_columns(rows, t)
    cols.append(
        Column(
            "retention (ppl ratio)",
            "num",
            lambda r: r.cell(board.retention_ratio, scale=1.0, digits=3),
            higher_is_better=False,
            best_among=lambda r: r.method != "none",
        )
    )
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


def base_lines(board: Board) -> list[list[str]]:
    """Base models (:data:`BASE_HEADERS`): id, name, weights sha256 and their own retention
    perplexity."""
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
