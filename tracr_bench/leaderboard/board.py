"""The leaderboard's numbers: submissions grouped into rows, and a cell per row and measure.

In: the validated submission entries (:func:`tracr_bench.leaderboard.entries.load_entries`).
Out: a :class:`Board` (:func:`build_board`): rows of submissions with the same base model (by
weights hash), method and its variant (the injection record's ``method_variant``: a variant is
a row of its own, ``tracr (per-variable+spread)``), trained task and name, each member one
training seed, sorted by base model, method, variant and task; the tasks with a current-version
result; each base model's own retention perplexity; and notes on what is left out. A
:class:`Cell` holds a row's values of one measure and shows their mean and, where there are
several, ``± the sample standard deviation`` (n - 1 in the denominator). Accuracies
(:func:`accuracy`, :func:`ood_mean`) and the schema-2 measurements (:func:`mechanism`,
:func:`readout`: the readout and the positions decoded, :func:`frontier`) leave out results on
an older task version; the retention ratio (:meth:`Board.retention_ratio`) is a run's word
perplexity over its base model's on the same shard and number of documents.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tracr_bench.leaderboard.checks import stale_tasks
from tracr_bench.leaderboard.entries import Entry, method_label
from tracr_bench.leaderboard.schema import METHODS, weights_id
from tracr_bench.task import all_tasks

MISSING = "–"


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


def mechanism(e: Entry, task: str, measure: str) -> float | None:
    """The ``decoding`` or ``iia`` accuracy of the row's mechanism entry for ``task``."""
    if task in stale_tasks(e.doc):
        return None
    entry = (e.sub.get("mechanism") or {}).get(task)
    cell = entry[measure] if entry else None
    return cell["accuracy"] if cell else None


def readout(e: Entry, task: str) -> str | None:
    """The readout of the mechanism entry for ``task`` and the positions its figures are over:
    ``adapter`` or ``probe`` (every position where the program defines the variable: the entry's
    ``positions`` is ``all``, or absent as in files before the field), else ``adapter, answer
    positions`` (``decode --positions answer``)."""
    entry = (e.sub.get("mechanism") or {}).get(task)
    if not entry or task in stale_tasks(e.doc):
        return None
    name = entry["decoding"]["readout"]
    return name if entry.get("positions", "all") == "all" else f"{name}, answer positions"


def frontier(e: Entry, task: str) -> float | None:
    """The length frontier for ``task``: the longest input length up to which the search found
    no failure."""
    if task in stale_tasks(e.doc):
        return None
    entry = (e.sub.get("length_frontier") or {}).get(task)
    return entry["frontier"] if entry else None


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


# ---------------------------------------------------------------------------- rows


@dataclass
class Row:
    base_id: str
    base_name: str
    name: str
    method: str
    task: str | None
    entries: list[Entry] = field(default_factory=list)
    variant: str | None = None  # the injection's method_variant (None: the paper's setting)

    @property
    def method_label(self) -> str:
        return method_label(self.method, self.variant)

    def sort_key(self) -> tuple:
        return (
            self.base_name,
            self.base_id,
            METHODS.index(self.method),
            self.variant or "",
            self.task or "",
            self.name,
        )

    @property
    def seeds(self) -> str:
        seeds = sorted(
            e.sub["seeds"]["train"] for e in self.entries if e.sub["seeds"]["train"] is not None
        )
        return ", ".join(str(s) for s in seeds) if seeds else MISSING

    def readouts(self, task: str) -> str:
        """The distinct :func:`readout` labels of the row's seeds, ``; ``-separated (a label
        may hold a comma)."""
        found = sorted({r for e in self.entries if (r := readout(e, task)) is not None})
        return "; ".join(found) if found else MISSING

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

    def counts(self) -> str:
        n, k = len(self.entries), len(self.rows)
        return f"{n} submission{'s' if n != 1 else ''} in {k} row{'s' if k != 1 else ''}."


def build_board(entries: Sequence[Entry]) -> Board:
    base_names, base_ppl = _base_models(entries)
    rows = _group_rows(entries, base_names)
    tasks = sorted({t for e in entries for t in evaluated_tasks(e)})
    board = Board(list(entries), rows, tasks, base_ppl, _stale_notes(entries))
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


def _base_models(
    entries: Sequence[Entry],
) -> tuple[dict[str, str], dict[str, list[tuple[str, int, float]]]]:
    """The base models' own names and retention, from their method-none rows: base id -> name,
    base id -> (text sha, documents, word perplexity) per run."""
    base_names: dict[str, str] = {}
    base_ppl: dict[str, list[tuple[str, int, float]]] = {}
    for e in entries:
        sub = e.sub
        if sub["method"] == "none":
            own = weights_id(e.tb["model"]["weights_sha256"])
            base_names.setdefault(own, sub["base_model"]["name"])
            ret = e.tb["retention"]
            if ret is not None:
                base_ppl.setdefault(own, []).append(
                    (ret["text_sha256"], ret["documents"], ret["word_perplexity"])
                )
    return base_names, base_ppl


def _group_rows(entries: Sequence[Entry], base_names: dict[str, str]) -> list[Row]:
    groups: dict[tuple, Row] = {}
    for e in entries:
        sub = e.sub
        bid = weights_id(sub["base_model"]["weights_sha256"])
        bname = base_names.get(bid, sub["base_model"]["name"])
        key = (bid, sub["method"], e.variant or "", sub["task"] or "", sub["name"])
        row = groups.setdefault(
            key, Row(bid, bname, sub["name"], sub["method"], sub["task"], variant=e.variant)
        )
        row.entries.append(e)
    return sorted(groups.values(), key=Row.sort_key)


def _stale_notes(entries: Sequence[Entry]) -> list[str]:
    return [
        f"`{e.path.name}`: {name} was evaluated at version {theirs} (current {current}); not shown"
        for e in entries
        for name, (theirs, current) in stale_tasks(e.doc).items()
    ]
