"""``tracr-bench submit``: a real eval output accepted as it is, defaults from
``injection.json`` and their overrides, duplicates refused, the no-overwrite rule, and a
leaderboard folder that must exist unless ``--init`` asks for a new one.

The results files are built from a real ``tracr-bench eval`` output
(``tests/_leaderboard_data``)."""

from __future__ import annotations

import json

import pytest

from tests._leaderboard_data import (
    fake_model,
    injection,
    parity,
    rejected,
    results,
    run,
    submit_cli,
    template,
    write,
)
from tracr_bench.leaderboard.entries import LEADERBOARD_ENV, write_new
from tracr_bench.leaderboard.schema import SubmissionError, results_sha256
from tracr_bench.leaderboard.submit import submit
from tracr_bench.models import DEFAULT_MODEL_DIR

# ---------------------------------------------------------------------------- accepted


def test_submit_real_eval_output(tmp_path, board, capsys):
    """The file of `tracr-bench eval --model default` is accepted as it is: method none, its own
    base, the pretraining seed, a stable name; the results are kept byte for byte."""
    src = write(tmp_path / "r.json", template())
    rc, out, err = submit_cli(src, board, capsys)
    assert rc == 0, err
    (path,) = (board / "submissions").iterdir()
    assert path.name == f"default-lm__seed-1234__{results_sha256(template())[:12]}.json"
    doc = json.loads(path.read_text())
    assert {k: v for k, v in doc.items() if k != "submission"} == template()
    sub = doc["submission"]
    assert sub["method"] == "none" and sub["task"] is None and sub["name"] == "default LM"
    assert sub["seeds"] == {"train": 1234, "eval": 0}
    assert sub["submitted_by"] == "tester" and sub["date"] == "2026-01-02"
    assert sub["base_model"]["weights_sha256"] == doc["tracr_bench"]["model"]["weights_sha256"]
    assert sub["results_sha256"] == results_sha256(doc)
    assert str(path) in out


def test_defaults_from_injection_json_and_overrides(tmp_path, board, capsys):
    base = fake_model(tmp_path, "base")
    model = fake_model(tmp_path, "inj", injection(base, "parity", "tracr", seed=3))
    src = write(tmp_path / "r.json", results(model, parity(0.8, 0.4, 0.6)))
    _, doc = submit(src, directory=board, dry_run=True, submitted_by="me")
    sub = doc["submission"]
    assert (sub["method"], sub["task"], sub["seeds"]["train"]) == ("tracr", "parity", 3)
    assert sub["base_model"] == {
        "name": "base",
        "weights_sha256": {
            "model.safetensors": injection(base, "parity", "tracr", 0)["base_model"][
                "weights_sha256"
            ]["model.safetensors"]
        },
    }
    assert sub["name"] == "base + tracr (parity)"
    assert "log" not in sub["injection"]["losses"]  # the per-step loss log is not copied
    assert not (board / "submissions").exists()  # dry run
    rc, out, err = submit_cli(
        src, board, capsys, "--name", "mine", "--method", "other", "--seed", "9"
    )
    assert rc == 0, err
    (path,) = (board / "submissions").iterdir()
    sub = json.loads(path.read_text())["submission"]
    assert (sub["name"], sub["method"], sub["seeds"]["train"]) == ("mine", "other", 9)


def test_resubmitting_a_prepared_file_elsewhere(tmp_path, board, capsys):
    """A submission file (with its block) can be submitted to another leaderboard unchanged."""
    src = write(tmp_path / "r.json", template())
    assert submit_cli(src, board, capsys)[0] == 0
    (path,) = (board / "submissions").iterdir()
    other = tmp_path / "other"
    other.mkdir()
    rc, _, err = submit_cli(path, other, capsys)
    assert rc == 0, err
    (copy,) = (other / "submissions").iterdir()
    assert copy.read_bytes() == path.read_bytes()


def test_default_lm_path_independent(tmp_path, board, capsys):
    """The shipped LM is recognised by its weights, wherever the checkout is."""
    data = template()
    data["tracr_bench"]["model"]["path"] = str(tmp_path / "elsewhere" / "default_lm")
    rc, _, err = submit_cli(write(tmp_path / "r.json", data), board, capsys)
    assert rc == 0, err
    (path,) = (board / "submissions").iterdir()
    assert json.loads(path.read_text())["submission"]["base_model"]["name"] == "default LM"
    assert DEFAULT_MODEL_DIR.is_dir()


# ---------------------------------------------------------------------------- duplicates


def test_reject_duplicates(tmp_path, board, capsys):
    src = write(tmp_path / "r.json", template())
    assert submit_cli(src, board, capsys)[0] == 0
    (first,) = (board / "submissions").iterdir()
    before = first.read_bytes()

    # 1. the very same results
    rc, _, err = submit_cli(src, board, capsys)
    assert rc == 2 and "duplicate: the same results are already submitted" in err
    # 2. the same model, seed, limit and splits evaluated again (other timings, other hash)
    data = template()
    data["tracr_bench"]["timings"]["total_s"] += 1.0
    rc, _, err = submit_cli(write(tmp_path / "again.json", data), board, capsys)
    assert rc == 2 and "was already evaluated with seed 0 and limit 5" in err, err
    # 3. another run under the same name, base, method and training seed
    rc, _, err = submit_cli(
        write(tmp_path / "other.json", template() | {"date": 1.0}),
        board,
        capsys,
        "--seed",
        "1234",
    )
    assert rc == 2 and "duplicate" in err, err
    assert len(err.strip().splitlines()) == 1
    assert [p.name for p in (board / "submissions").iterdir()] == [first.name]
    assert first.read_bytes() == before


def test_reject_same_name_and_seed_from_other_weights(tmp_path, board, capsys):
    base = fake_model(tmp_path, "base")
    a = fake_model(tmp_path, "a", injection(base, "parity", "tracr", seed=1))
    b = fake_model(tmp_path, "b", injection(base, "parity", "tracr", seed=1))
    assert (
        submit_cli(write(tmp_path / "a.json", results(a, parity(1, 1, 1))), board, capsys)[0] == 0
    )
    rc, _, err = submit_cli(write(tmp_path / "b.json", results(b, parity(1, 1, 1))), board, capsys)
    assert rc == 2 and "with training seed 1 is already submitted" in err, err


# ---------------------------------------------------------------------------- no overwrite


def test_never_overwrites(tmp_path, board, capsys, monkeypatch):
    """A second submission that would land on an existing name is refused even when nothing
    else catches it (duplicate checks switched off), and the existing file is untouched."""
    src = write(tmp_path / "r.json", template())
    assert submit_cli(src, board, capsys)[0] == 0
    (path,) = (board / "submissions").iterdir()
    before = path.read_bytes()
    monkeypatch.setattr("tracr_bench.leaderboard.submit.find_duplicate", lambda doc, entries: None)
    rc, _, err = submit_cli(src, board, capsys, "--notes", "second try")
    assert rc == 2 and "already exists; a submission is never overwritten" in err, err
    assert path.read_bytes() == before
    assert [p.name for p in (board / "submissions").iterdir()] == [path.name]


def test_writer_never_replaces_a_file(tmp_path):
    """The writer itself refuses an existing name (a file that appeared after the checks), and
    leaves no temporary file behind."""
    target = tmp_path / "x.json"
    target.write_text("late arrival")
    with pytest.raises(SubmissionError, match="never overwritten"):
        write_new(target, "new")
    assert target.read_text() == "late arrival"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    write_new(tmp_path / "y.json", "new")
    assert (tmp_path / "y.json").read_text() == "new"


# ---------------------------------------------------------------------------- the folder


def test_missing_folder_is_an_error(tmp_path, capsys, monkeypatch):
    """A typo in --dir or $TRACR_BENCH_LEADERBOARD does not start a new, empty leaderboard:
    one line names the folder and how to create it, and nothing is created."""
    src = write(tmp_path / "r.json", template())
    typo = tmp_path / "leaderbord"
    rc, _, err = submit_cli(src, typo, capsys)
    rejected(rc, err, typo, f"leaderboard folder {typo} (from --dir) does not exist", "--init")
    rc, _, err = run(["leaderboard", "--dir", str(typo)], capsys)
    rejected(rc, err, typo, f"{typo} (from --dir) does not exist", "--init")
    rc, _, err = run(["leaderboard", "--dir", str(typo), "--check"], capsys)
    rejected(rc, err, typo, "does not exist")
    monkeypatch.setenv(LEADERBOARD_ENV, str(typo))
    rc, _, err = run(["submit", str(src), "--by", "t"], capsys)
    rejected(rc, err, typo, f"{typo} (from ${LEADERBOARD_ENV}) does not exist")
    rc, _, err = run(["leaderboard"], capsys)
    rejected(rc, err, typo, f"{typo} (from ${LEADERBOARD_ENV}) does not exist")
    assert not typo.exists()


def test_folder_that_is_a_file(tmp_path, capsys):
    src = write(tmp_path / "r.json", template())
    rc, _, err = submit_cli(src, src, capsys, "--init")
    assert rc == 2 and "is not a folder" in err and len(err.strip().splitlines()) == 1


def test_init_starts_a_new_leaderboard(tmp_path, capsys):
    src = write(tmp_path / "r.json", template())
    new = tmp_path / "new" / "leaderboard"
    rc, out, err = submit_cli(src, new, capsys, "--init", "--dry-run")
    assert rc == 0 and "valid" in out, err
    assert not new.exists()  # a dry run creates nothing
    rc, _, err = submit_cli(write(tmp_path / "bad.json", {"results": {}}), new, capsys, "--init")
    rejected(rc, err, new, "no `tracr_bench` block")  # refused: the folder is not created
    assert not new.exists()
    rc, _, err = submit_cli(src, new, capsys, "--init")
    assert rc == 0, err
    assert len(list((new / "submissions").iterdir())) == 1
    assert run(["leaderboard", "--dir", str(new)], capsys)[0] == 0
    assert (new / "README.md").is_file() and (new / "index.html").is_file()
