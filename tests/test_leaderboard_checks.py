"""Every rejection of ``tracr-bench submit`` (and of a file edited on the leaderboard): one
line on stderr naming the reason, exit 2, nothing written.

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
    task_version_ahead,
    template,
    write,
)
from tracr_bench.leaderboard.entries import load_entries
from tracr_bench.leaderboard.schema import SCHEMA_VERSIONS, SubmissionError, schema_file
from tracr_bench.task import get_task


@pytest.fixture
def bumped_parity():
    """The registry's parity task one version ahead of the results files."""
    with task_version_ahead("parity") as version:
        yield version


def test_schema_is_valid_json_schema():
    import jsonschema

    for version in SCHEMA_VERSIONS:
        jsonschema.Draft202012Validator.check_schema(json.loads(schema_file(version).read_text()))


def test_reject_older_task_version(tmp_path, board, capsys, bumped_parity):
    src = write(tmp_path / "r.json", template())
    rc, _, err = submit_cli(src, board, capsys)
    rejected(rc, err, board, "'parity' was evaluated at version 1", f"version is {bumped_parity}")


def test_reject_injection_on_older_task_version(tmp_path, board, capsys):
    base = fake_model(tmp_path, "base")
    rec = injection(base, "parity", "tracr", seed=0)
    rec["task_version"] = get_task("parity").version + 1
    model = fake_model(tmp_path, "inj", rec)
    src = write(tmp_path / "r.json", results(model, parity(0.5, 0.5, 0.5)))
    rc, _, err = submit_cli(src, board, capsys)
    rejected(rc, err, board, "injected at version")


def test_reject_unknown_task(tmp_path, board, capsys):
    data = template()
    tb = data["tracr_bench"]
    tb["task_versions"] = {"nosuch": 1}
    for row in tb["splits"]:
        row["task"] = "nosuch"
    rc, _, err = submit_cli(write(tmp_path / "r.json", data), board, capsys)
    rejected(rc, err, board, "unknown task 'nosuch'")


def test_reject_unknown_split(tmp_path, board, capsys):
    data = template()
    data["tracr_bench"]["splits"][1]["split"] = "longer"
    rc, _, err = submit_cli(write(tmp_path / "r.json", data), board, capsys)
    rejected(rc, err, board, "unknown split 'longer' of task 'parity'")


def test_reject_unknown_trained_task(tmp_path, board, capsys):
    base = fake_model(tmp_path, "base")
    rec = injection(base, "parity", "tracr", seed=0) | {"task": "nosuch"}
    model = fake_model(tmp_path, "inj", rec)
    src = write(tmp_path / "r.json", results(model, parity(0.5, 0.5, 0.5)))
    rc, _, err = submit_cli(src, board, capsys)
    rejected(rc, err, board, "unknown task 'nosuch' in submission.task")
    rc, _, err = submit_cli(src, board, capsys, "--task", "count")  # known, but not evaluated
    rejected(rc, err, board, "trained on 'count' but the results do not evaluate it")


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: _set_accuracy(d, 0, 1.5), ["out of range", "parity/test", "accuracy"]),
        (lambda d: _set_accuracy(d, 2, -0.25), ["out of range", "parity/skewed", "accuracy"]),
        (
            lambda d: d["tracr_bench"]["splits"][0].update(oracle_accuracy=2.0),
            ["out of range", "parity/test", "oracle_accuracy"],
        ),
        (
            lambda d: d["tracr_bench"]["retention"].update(word_perplexity=0.5),
            ["out of range", "word_perplexity"],
        ),
        (lambda d: _set_n(d, 0, 9999), ["out of range", "parity/test", "n = 9999"]),
        (lambda d: _set_n(d, 0, -1), ["out of range", "parity/test"]),
    ],
    ids=["accuracy>1", "accuracy<0", "oracle>1", "perplexity<1", "n>split", "n<0"],
)
def test_reject_metric_out_of_range(tmp_path, board, capsys, edit, words):
    data = template()
    edit(data)
    rc, _, err = submit_cli(write(tmp_path / "r.json", data), board, capsys)
    rejected(rc, err, board, *words)


def _set_accuracy(data: dict, i: int, value: float) -> None:
    row = data["tracr_bench"]["splits"][i]
    row["accuracy"] = value
    data["results"][row["lm_eval_task"]]["exact_match,none"] = value


def _set_n(data: dict, i: int, value: int) -> None:
    row = data["tracr_bench"]["splits"][i]
    row["n"] = value
    data["n-samples"][row["lm_eval_task"]]["effective"] = value
    data["tracr_bench"]["limit"] = None


def test_reject_missing_eval_seed(tmp_path, board, capsys):
    data = template()
    del data["tracr_bench"]["seed"]
    rc, _, err = submit_cli(write(tmp_path / "r.json", data), board, capsys)
    rejected(rc, err, board, "missing seed", "evaluation seed")


def test_reject_missing_training_seed(tmp_path, board, capsys):
    base = fake_model(tmp_path, "base")
    model = fake_model(tmp_path, "inj", injection(base, "parity", "baseline", seed=None))
    src = write(tmp_path / "r.json", results(model, parity(0.5, 0.5, 0.5)))
    rc, _, err = submit_cli(src, board, capsys)
    rejected(rc, err, board, "missing seed", "baseline run needs its training seed", "--seed")
    assert submit_cli(src, board, capsys, "--seed", "4")[0] == 0  # given: accepted


def test_reject_accuracy_edited_in_one_place(tmp_path, board, capsys):
    data = template()
    data["tracr_bench"]["splits"][0]["accuracy"] = 0.8  # lm-eval's own block still says 0.0
    rc, _, err = submit_cli(write(tmp_path / "r.json", data), board, capsys)
    rejected(rc, err, board, "parity/test", "disagrees with lm-eval's results")


def test_reject_results_hash_mismatch(tmp_path, board, capsys):
    """A prepared submission whose results were edited (consistently, in both places)."""
    src = write(tmp_path / "r.json", template())
    assert submit_cli(src, board, capsys)[0] == 0
    (path,) = (board / "submissions").iterdir()
    doc = json.loads(path.read_text())
    _set_accuracy(doc, 0, 1.0)
    other = tmp_path / "other"
    other.mkdir()
    rc, _, err = submit_cli(write(tmp_path / "edited.json", doc), other, capsys)
    rejected(rc, err, other, "hash mismatch", "edited after submission")


def test_reject_retention_text_hash(tmp_path, board, capsys):
    data = template()
    data["tracr_bench"]["retention"]["text_sha256"] = "0" * 64
    rc, _, err = submit_cli(write(tmp_path / "r.json", data), board, capsys)
    rejected(rc, err, board, "hash mismatch", "not the shipped retention shard")


def test_reject_weights_hash(tmp_path, board, capsys):
    model = fake_model(tmp_path, "m")
    src = write(tmp_path / "r.json", results(model, parity(0.5, 0.5, 0.5)))
    (model / "model.safetensors").write_bytes(b"retrained")  # changed after the evaluation
    rc, _, err = submit_cli(src, board, capsys)
    rejected(rc, err, board, "hash mismatch", "model.safetensors", "changed after it was evaluated")


def test_reject_edited_file_in_the_leaderboard(tmp_path, board, capsys):
    """Every file under leaderboard/ is re-checked when the tables are rendered."""
    src = write(tmp_path / "r.json", template())
    assert submit_cli(src, board, capsys)[0] == 0
    (path,) = (board / "submissions").iterdir()
    doc = json.loads(path.read_text())
    _set_accuracy(doc, 1, 1.0)
    path.write_text(json.dumps(doc, indent=1))
    rc, _, err = run(["leaderboard", "--dir", str(board)], capsys)
    assert rc == 2 and path.name in err and "hash mismatch" in err, err
    assert len(err.strip().splitlines()) == 1


def test_reject_not_a_results_file(tmp_path, board, capsys):
    rc, _, err = submit_cli(write(tmp_path / "r.json", {"results": {}}), board, capsys)
    rejected(rc, err, board, "no `tracr_bench` block")
    rc, _, err = submit_cli(tmp_path / "missing.json", board, capsys)
    rejected(rc, err, board, "does not exist")


def test_reject_bad_schema_version(tmp_path, board, capsys):
    src = write(tmp_path / "r.json", template())
    assert submit_cli(src, board, capsys)[0] == 0
    (path,) = (board / "submissions").iterdir()
    doc = json.loads(path.read_text())
    doc["submission"]["schema_version"] = max(SCHEMA_VERSIONS) + 1
    path.write_text(json.dumps(doc))
    with pytest.raises(SubmissionError, match=f"schema version {max(SCHEMA_VERSIONS) + 1} is not"):
        load_entries(board)
