"""A mechanism entry records which positions its decoding accuracy counts: a decode JSON of
``tracr-bench decode --positions answer`` is accepted as well as one over all positions (or an
older one, without ``options.positions``), any other value is refused in one line; the readout
column says ``answer positions`` where the figures are over the answer positions only, and an
entry without the field (the files before it) renders as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._leaderboard_data import (
    decode_json,
    fake_model,
    injection,
    parity,
    rejected,
    results,
    submit_cli,
    write,
)
from tracr_bench.leaderboard.board import build_board, readout
from tracr_bench.leaderboard.entries import default_dir, load_entries
from tracr_bench.leaderboard.html_page import render_html
from tracr_bench.leaderboard.markdown_page import render_markdown
from tracr_bench.leaderboard.schema import SubmissionError


def _model(root: Path, seed: int) -> tuple[Path, Path]:
    """A tracr model injected on parity with ``seed`` (one row for every seed) and its results
    file."""
    models = root / "models"
    base = models / "base" if (models / "base").exists() else fake_model(models, "base")
    model = fake_model(models, f"inj{seed}", injection(base, "parity", "tracr", seed))
    src = write(root / f"r{seed}.json", results(model, parity(0.9, 0.5, 0.6), seed=seed))
    return model, src


def _decode(root: Path, model: Path, positions: object, name: str = "decode.json") -> Path:
    """A decode JSON of ``model``; ``positions`` None: no ``options.positions`` (older files)."""
    data = decode_json(model, accuracy=0.29, iia=0.07)
    if positions is not None:
        data["options"]["positions"] = positions
    return write(root / name, data)


def _submit(root: Path, board: Path, capsys, seed: int, positions: object) -> dict:
    """Submit the seed's model with a decode JSON; its mechanism entry as written."""
    model, src = _model(root, seed)
    decode = _decode(root, model, positions, f"decode{seed}.json")
    rc, _, err = submit_cli(src, board, capsys, "--mechanism", str(decode))
    assert rc == 0, err
    (path,) = [p for p in (board / "submissions").iterdir() if f"seed-{seed}__" in p.name]
    return json.loads(path.read_text())["submission"]["mechanism"]["parity"]


def _readout_cell(text: str) -> str:
    """The ``parity readout`` cell of the tracr row of a Markdown page's main table."""
    lines = text.splitlines()
    header = next(ln for ln in lines if ln.startswith("| base model"))
    row = next(ln for ln in lines if ln.startswith("|") and "tracr (parity)" in ln)
    heads = [c.strip() for c in header.split("|")]
    return [c.strip() for c in row.split("|")][heads.index("parity readout")]


# ---------------------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    "positions, recorded", [("answer", "answer"), ("all", "all"), (None, "all")]
)
def test_positions_are_recorded(tmp_path, board, capsys, positions, recorded):
    """``answer`` and ``all`` are kept as they are; a file without the option means ``all``."""
    mech = _submit(tmp_path, board, capsys, 0, positions)
    assert mech["positions"] == recorded
    assert mech["decoding"] == {"accuracy": 0.29, "readout": "adapter", "split": "test", "n": 120}
    assert mech["iia"] == {"accuracy": 0.07, "readout": "adapter", "split": "test", "n": 64}
    load_entries(board)  # and it passes the re-check


def test_answer_positions_are_shown_in_the_readout_column(tmp_path, board, capsys):
    _submit(tmp_path, board, capsys, 0, "answer")
    entries = load_entries(board)
    md, html = render_markdown(entries), render_html(entries)
    assert _readout_cell(md) == "adapter, answer positions"
    assert ">adapter, answer positions</td>" in html
    assert "29.00" in md and "7.00" in md  # the figures themselves are unchanged
    for page in (md, html):
        assert "answer positions only" in page  # the note says what the label means


def test_a_row_of_mixed_positions_lists_both(tmp_path, board, capsys):
    """Two seeds of one row decoded over different positions: both labels, `;`-separated."""
    _submit(tmp_path, board, capsys, 0, "all")
    _submit(tmp_path, board, capsys, 1, "answer")
    (row,) = [r for r in build_board(load_entries(board)).rows if r.method == "tracr"]
    assert row.readouts("parity") == "adapter; adapter, answer positions"


# ---------------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    "positions, shown",
    [("first", "'first'"), ("ALL", "'ALL'"), (["answer"], "['answer']"), (1, "1")],
    ids=["word", "case", "list", "number"],
)
def test_unknown_positions_are_refused(tmp_path, board, capsys, positions, shown):
    model, src = _model(tmp_path, 0)
    decode = _decode(tmp_path, model, positions)
    rc, _, err = submit_cli(src, board, capsys, "--mechanism", str(decode))
    rejected(
        rc,
        err,
        board,
        "--mechanism",
        f"options.positions is {shown}, not one of all, answer",
        "decode again with --positions all or --positions answer",
    )


def test_schema_refuses_other_positions_in_a_submission_file(tmp_path, board, capsys):
    _submit(tmp_path, board, capsys, 0, "answer")
    (path,) = (board / "submissions").iterdir()
    doc = json.loads(path.read_text())
    doc["submission"]["mechanism"]["parity"]["positions"] = "middle"
    path.write_text(json.dumps(doc))
    with pytest.raises(SubmissionError, match="schema violation"):
        load_entries(board)


# ---------------------------------------------------------------------------- older files


def test_entry_without_positions_renders_as_all_positions(tmp_path, board, capsys):
    """An entry without the field (written before it) is valid, and renders byte for byte as
    the same entry with ``positions: all``."""
    _submit(tmp_path, board, capsys, 0, "all")
    (path,) = (board / "submissions").iterdir()
    pages = render_markdown(load_entries(board)), render_html(load_entries(board))
    assert _readout_cell(pages[0]) == "adapter"
    doc = json.loads(path.read_text())
    del doc["submission"]["mechanism"]["parity"]["positions"]
    path.write_text(json.dumps(doc, indent=1))
    entries = load_entries(board)  # still valid
    assert (render_markdown(entries), render_html(entries)) == pages


def test_committed_entries_without_positions_read_as_all_positions():
    """The committed version-2 submissions without the field (written before it) are valid and
    shown as `adapter` or `probe` only."""
    entries = load_entries(default_dir())  # checks every file
    shown = {
        readout(e, task)
        for e in entries
        for task, m in (e.sub.get("mechanism") or {}).items()
        if "positions" not in m
    }
    assert shown <= {"adapter", "probe"}, shown
