"""Schema version 2: a submission keeps the mechanism (from a ``tracr-bench decode`` JSON) and
the length frontier (from ``tracr-bench search --json``) of the model on its trained task, with
the sha256 of each file; what it reads is checked (the model's weights, the task, ranges, the
search's own counts), and version-1 files stay valid. The main table shows the new columns only
where some row has them."""

from __future__ import annotations

import hashlib
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
    run,
    search_json,
    submit_cli,
    template,
    write,
)
from tracr_bench.leaderboard.entries import default_dir, load_entries
from tracr_bench.leaderboard.markdown_page import render_markdown
from tracr_bench.leaderboard.schema import SCHEMA_VERSION, SubmissionError


@pytest.fixture
def injected(tmp_path) -> tuple[Path, Path]:
    """A tracr model injected on parity (seed 0) and its results file."""
    base = fake_model(tmp_path / "models", "base")
    model = fake_model(tmp_path / "models", "inj", injection(base, "parity", "tracr", 0))
    src = write(tmp_path / "r.json", results(model, parity(0.9, 0.5, 0.6)))
    return model, src


def _files(tmp_path: Path, decode: dict | None = None, search: dict | None = None) -> list[str]:
    args = []
    if decode is not None:
        args += ["--mechanism", str(write(tmp_path / "decode.json", decode))]
    if search is not None:
        args += ["--search", str(write(tmp_path / "search.json", search))]
    return args


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- accepted


def test_submission_keeps_mechanism_and_frontier(tmp_path, board, capsys, injected):
    model, src = injected
    files = _files(tmp_path, decode_json(model, accuracy=0.95, iia=0.875), search_json())
    rc, _, err = submit_cli(src, board, capsys, *files)
    assert rc == 0, err
    (path,) = (board / "submissions").iterdir()
    sub = json.loads(path.read_text())["submission"]
    assert sub["schema_version"] == SCHEMA_VERSION == 2
    mech = sub["mechanism"]["parity"]
    assert mech["variable"] == "final_result" and mech["layer"] == 2
    assert mech["decoding"] == {"accuracy": 0.95, "readout": "adapter", "split": "test", "n": 120}
    assert mech["iia"] == {"accuracy": 0.875, "readout": "adapter", "split": "test", "n": 64}
    assert mech["source"] == {
        "file": "decode.json",
        "sha256": _sha(tmp_path / "decode.json"),
        "format": "tracr-bench-decode/1",
    }
    front = sub["length_frontier"]["parity"]
    assert (front["frontier"], front["tried"], front["failures"]) == (19, 15, 2)
    assert front["weights_checked"] is False  # the search output records no model
    assert front["source"] == {"file": "search.json", "sha256": _sha(tmp_path / "search.json")}
    load_entries(board)  # and it passes the re-check


def test_mechanism_is_read_at_the_hidden_state_aligned_with_layer_L(
    tmp_path, board, capsys, injected
):
    """program.aligned_hidden_states [0, 2, 3] (program of 2 layers): the cells of hidden
    state 3 are the output variable's at layer L."""
    model, src = injected
    data = decode_json(model, accuracy=0.95, iia=0.875, layers=3)
    data["program"] |= {"layers": 2, "aligned_hidden_states": [0, 2, 3]}
    rc, _, err = submit_cli(src, board, capsys, *_files(tmp_path, data))
    assert rc == 0, err
    (path,) = (board / "submissions").iterdir()
    mech = json.loads(path.read_text())["submission"]["mechanism"]["parity"]
    assert mech["layer"] == 3 and mech["decoding"]["accuracy"] == 0.95
    assert mech["iia"]["accuracy"] == 0.875


def test_probe_readout_without_adapter_and_without_iia(tmp_path, board, capsys, injected):
    model, src = injected
    decode = decode_json(model, readouts=("probe",), iia=None)
    rc, _, err = submit_cli(src, board, capsys, *_files(tmp_path, decode))
    assert rc == 0, err
    (path,) = (board / "submissions").iterdir()
    mech = json.loads(path.read_text())["submission"]["mechanism"]["parity"]
    assert mech["decoding"] == {
        "accuracy": 0.95,
        "readout": "probe",
        "split": "test",
        "n": 120,
        "control_accuracy": 0.5,  # a probe's accuracy is kept with its control's
    }
    assert mech["iia"] is None


def test_search_with_model_weights_is_checked(tmp_path, board, capsys, injected):
    model, src = injected
    weights = json.loads(src.read_text())["tracr_bench"]["model"]["weights_sha256"]
    search = search_json() | {"model": {"weights_sha256": weights}}
    assert submit_cli(src, board, capsys, *_files(tmp_path, search=search))[0] == 0
    (path,) = (board / "submissions").iterdir()
    assert json.loads(path.read_text())["submission"]["length_frontier"]["parity"][
        "weights_checked"
    ]


def test_version_1_files_stay_valid():
    """The committed submissions, version 1 and version 2 side by side, pass every check of
    this tracr-bench (load_entries checks each file)."""
    entries = load_entries(default_dir())
    versions = [e.sub["schema_version"] for e in entries]
    assert versions.count(1) >= 1 and versions.count(2) >= 1 and set(versions) == {1, 2}


def test_columns_only_where_some_row_has_them(tmp_path, board, capsys, injected):
    model, src = injected
    assert submit_cli(write(tmp_path / "base.json", template()), board, capsys)[0] == 0
    md = render_markdown(load_entries(board))
    assert "parity decode" not in md and "frontier" not in md.lower()
    files = _files(tmp_path, decode_json(model, accuracy=0.95, iia=0.875), search_json())
    assert submit_cli(src, board, capsys, *files)[0] == 0
    md = render_markdown(load_entries(board))
    header = next(ln for ln in md.splitlines() if ln.startswith("| base model"))
    for column in ("parity readout", "parity decode", "parity IIA", "parity frontier"):
        assert column in header, column
    row = next(ln for ln in md.splitlines() if "tracr (parity)" in ln and ln.startswith("|"))
    cells = [c.strip() for c in row.split("|")]
    heads = [c.strip() for c in header.split("|")]
    got = {h: cells[i] for i, h in enumerate(heads) if h.startswith("parity ")}
    assert got["parity readout"] == "adapter"
    assert (got["parity decode"], got["parity IIA"], got["parity frontier"]) == (
        "95.00",
        "87.50",
        "19.0",
    )
    assert "Frontier (where submitted)" in md and "Readout, decode, IIA" in md


# ---------------------------------------------------------------------------- refused


def _decode_edit(model: Path, **changes) -> dict:
    data = decode_json(model)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = data
        for key in path:
            target = target[key]
        target[last] = value
    return data


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m: _decode_edit(m, format="decode/9"), ["--mechanism", "format 'decode/9'"]),
        (lambda m: decode_json(m, task="count"), ["about task 'count'", "trained on 'parity'"]),
        (lambda m: _decode_edit(m, task__version=99), ["version 99", "results evaluate"]),
        (
            lambda m: _decode_edit(m, model__weights_sha256={"model.safetensors": "0" * 64}),
            ["hash mismatch", "--mechanism", "not the evaluated model's"],
        ),
        (
            lambda m: decode_json(m, accuracy=1.5),
            ["decoding.adapter.test.final_result.2", "[0, 1]"],
        ),
        (lambda m: decode_json(m, iia=float("nan")), ["iia.final_result.2.iia", "[0, 1]"]),
        (lambda m: _decode_edit(m, program__layers=3), ["no field decoding.adapter.test"]),
        (lambda m: _decode_edit(m, decoding={}), ["no adapter or probe readout"]),
        (
            lambda m: _decode_edit(m, options__positions="first"),
            ["options.positions is 'first'", "--positions all or --positions answer"],
        ),
        (
            lambda m: _decode_edit(m, program__aligned_hidden_states=[0, 2]),
            ["aligned_hidden_states must list 3"],
        ),
    ],
    ids=[
        "format",
        "task",
        "version",
        "weights",
        "range",
        "nan",
        "layer",
        "readout",
        "positions",
        "aligned",
    ],  # fmt: skip
)
def test_reject_decode_json(tmp_path, board, capsys, injected, edit, words):
    model, src = injected
    rc, _, err = submit_cli(src, board, capsys, *_files(tmp_path, edit(model)))
    rejected(rc, err, board, *words)


def _search_edit(**changes) -> dict:
    return search_json() | changes


@pytest.mark.parametrize(
    "search, words",
    [
        (_search_edit(frontier=30), ["inconsistent figure: frontier"]),
        (_search_edit(tried=100), ["per_length adds up to 15 and 2", "tried/failures"]),
        (_search_edit(failure_rate=0.5), ["inconsistent figure: failure_rate"]),
        (_search_edit(train_lengths=[1, 99]), ["training lengths [1, 99]"]),
        (_search_edit(per_length={"4": [5, 0], "99": [1, 0]}), ["length '99' outside 4-20"]),
        (_search_edit(domain="nosuch"), ["domain 'nosuch'"]),
        (_search_edit(task="count"), ["about task 'count'"]),
        (
            _search_edit(model={"weights_sha256": {"model.safetensors": "0" * 64}}),
            ["hash mismatch", "--search"],
        ),
        (_search_edit(max_examples=0), ["max_examples must be an integer >= 1"]),
    ],
    ids=["frontier", "tried", "rate", "train", "length", "domain", "task", "weights", "max"],
)
def test_reject_search_json(tmp_path, board, capsys, injected, search, words):
    _, src = injected
    rc, _, err = submit_cli(src, board, capsys, *_files(tmp_path, search=search))
    rejected(rc, err, board, "--search", *words)


def test_reject_unreadable_or_missing_files(tmp_path, board, capsys, injected):
    _, src = injected
    rc, _, err = submit_cli(src, board, capsys, "--mechanism", str(tmp_path / "none.json"))
    rejected(rc, err, board, "--mechanism", "does not exist")
    (tmp_path / "bad.json").write_text("{not json")
    rc, _, err = submit_cli(src, board, capsys, "--search", str(tmp_path / "bad.json"))
    rejected(rc, err, board, "--search", "not readable JSON")


def test_reject_mechanism_of_an_untrained_model(tmp_path, board, capsys):
    from tracr_bench.models import DEFAULT_MODEL_DIR

    src = write(tmp_path / "r.json", template())
    rc, _, err = submit_cli(src, board, capsys, *_files(tmp_path, decode_json(DEFAULT_MODEL_DIR)))
    rejected(rc, err, board, "--mechanism", "none model was trained on no task")


def test_recheck_of_edited_entries(tmp_path, board, capsys, injected):
    """The entries are checked again whenever the leaderboard is read."""
    model, src = injected
    files = _files(tmp_path, decode_json(model), search_json())
    assert submit_cli(src, board, capsys, *files)[0] == 0
    (path,) = (board / "submissions").iterdir()
    good = json.loads(path.read_text())
    for edit, words in [
        (lambda s: s["mechanism"].update(count=s["mechanism"]["parity"]), "entry for 'count'"),
        (lambda s: s["length_frontier"]["parity"].update(frontier=99), "outside the searched"),
        (lambda s: s["mechanism"]["parity"]["decoding"].update(accuracy=2.0), "out of range"),
        (lambda s: s["mechanism"]["parity"].update(task_version=7), "decoded at version 7"),
        (lambda s: s.update(schema_version=1), "schema violation"),  # v1 has no such fields
    ]:
        doc = json.loads(json.dumps(good))
        edit(doc["submission"])
        path.write_text(json.dumps(doc))
        with pytest.raises(SubmissionError, match=words):
            load_entries(board)
    rc, _, err = run(["leaderboard", "--dir", str(board)], capsys)
    assert rc == 2 and path.name in err and len(err.strip().splitlines()) == 1


def test_prepared_version_2_file_is_resubmitted_unchanged(tmp_path, board, capsys, injected):
    model, src = injected
    files = _files(tmp_path, decode_json(model), search_json())
    assert submit_cli(src, board, capsys, *files)[0] == 0
    (path,) = (board / "submissions").iterdir()
    other = tmp_path / "other"
    rc, _, err = submit_cli(path, other, capsys, "--init")
    assert rc == 0, err
    (copy,) = (other / "submissions").iterdir()
    assert copy.read_bytes() == path.read_bytes()
