"""Submissions that cannot lie: a results file edited consistently in both of its copies (the
``tracr_bench`` rows and lm-eval's blocks) but not in the figures derived from the edited one is
refused, with one line naming the inconsistent figure, and nothing is written; NaN and infinite
metrics are refused; the formulas are those of the real files (the committed submissions and
the ``tracr-bench eval`` output the tests are built from)."""

from __future__ import annotations

import json
import math

import pytest

from tests._leaderboard_data import rejected, run, submit_cli, template, write
from tracr_bench.leaderboard.checks import validate
from tracr_bench.leaderboard.entries import default_dir
from tracr_bench.leaderboard.figures import shard_counts, stderr_of_mean
from tracr_bench.leaderboard.schema import results_sha256


def _committed() -> list[dict]:
    folder = default_dir() / "submissions"
    return [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))]


def _both(data: dict, i: int, **figures) -> dict:
    """Split row ``i`` edited in both copies: the ``tracr_bench`` row and lm-eval's block."""
    row = data["tracr_bench"]["splits"][i]
    block = data["results"][row["lm_eval_task"]]
    for figure, value in figures.items():
        row[figure] = value
        key = {"accuracy": "exact_match,none", "stderr": "exact_match_stderr,none"}[figure]
        block[key] = value
    return data


def _retention(data: dict, **figures) -> dict:
    """The retention block edited in both copies."""
    for figure, value in figures.items():
        data["tracr_bench"]["retention"][figure] = value
        data["results"]["tracr_bench_retention"][f"{figure},none"] = value
    return data


def _submit(tmp_path, board, capsys, data: dict) -> tuple[int, str]:
    text = json.dumps(data, indent=1)  # NaN and Infinity as Python's JSON writes them
    rc, _, err = submit_cli(write(tmp_path / "r.json", json.loads(text)), board, capsys)
    return rc, err


# ---------------------------------------------------------------------------- the real files


def test_formulas_hold_on_the_real_files():
    """lm-eval 0.4's stderr of a mean of 0/1 values, sqrt(p (1 - p) / (n - 1)), the buckets and
    the retention log-likelihood, on every committed submission and the eval output."""
    docs = _committed()
    assert len(docs) >= 19
    for doc in docs:
        validate(doc)  # every committed submission passes every check
    for doc in [*docs, template()]:
        for row in doc["tracr_bench"]["splits"]:
            assert math.isclose(row["stderr"], stderr_of_mean(row["accuracy"], row["n"]))
            buckets = [b for b in row["length_buckets"] if b["n"]]
            if buckets:  # narrow splits have none
                correct = sum(round(b["accuracy"] * b["n"]) for b in buckets)
                assert correct == round(row["accuracy"] * row["n"])
                assert sum(b["n"] for b in buckets) == row["n"]
        ret = doc["tracr_bench"]["retention"]
        words, n_bytes = shard_counts(ret["documents"])
        nll = math.log(ret["word_perplexity"]) * words
        assert math.isclose(nll, ret["bits_per_byte"] * n_bytes * math.log(2), rel_tol=1e-12)
        assert math.isclose(nll, math.log(ret["byte_perplexity"]) * n_bytes, rel_tol=1e-12)


def test_stderr_of_one_example_is_not_reported():
    assert stderr_of_mean(1.0, 1) is None  # lm-eval writes "N/A"
    assert stderr_of_mean(0.5, 5) == math.sqrt(0.25 / 4)


# ---------------------------------------------------------------------------- each inconsistency


def test_reject_stderr_edited_in_both_copies(tmp_path, board, capsys):
    rc, err = _submit(tmp_path, board, capsys, _both(template(), 0, stderr=0.01))
    rejected(rc, err, board, "parity/test", "inconsistent figure: stderr", "n = 5")


def test_reject_accuracy_edited_in_both_copies(tmp_path, board, capsys):
    """1 correct of 5 in both copies, its stderr left as it was (0 for 0 correct)."""
    rc, err = _submit(tmp_path, board, capsys, _both(template(), 0, accuracy=0.2))
    rejected(rc, err, board, "parity/test", "inconsistent figure: stderr", "accuracy 0.2")


def test_reject_accuracy_and_stderr_edited_but_not_the_buckets(tmp_path, board, capsys):
    data = _both(template(), 0, accuracy=0.2, stderr=stderr_of_mean(0.2, 5))
    rc, err = _submit(tmp_path, board, capsys, data)
    rejected(rc, err, board, "parity/test", "inconsistent figure: length_buckets accuracy")


def test_reject_accuracy_that_is_no_count(tmp_path, board, capsys):
    """0.3 of 5 examples is 1.5 correct answers."""
    data = _both(template(), 1, accuracy=0.3, stderr=stderr_of_mean(0.3, 5))
    rc, err = _submit(tmp_path, board, capsys, data)
    rejected(rc, err, board, "parity/length", "inconsistent figure: accuracy", "out of n = 5")


def test_reject_buckets_that_do_not_count_every_example(tmp_path, board, capsys):
    data = template()
    data["tracr_bench"]["splits"][2]["length_buckets"][0]["n"] = 1  # was 0: 6 examples in all
    data["tracr_bench"]["splits"][2]["length_buckets"][0]["accuracy"] = 0.0
    data["results"]["tracr_bench_parity_skewed"]["acc_len_4_5,none"] = 0.0
    rc, err = _submit(tmp_path, board, capsys, data)
    rejected(rc, err, board, "parity/skewed", "inconsistent figure: length_buckets n", "6")


def test_reject_bucket_accuracy_edited_in_both_copies(tmp_path, board, capsys):
    data = template()
    data["tracr_bench"]["splits"][0]["length_buckets"][2]["accuracy"] = 0.5  # 1 of 2
    data["results"]["tracr_bench_parity_test"]["acc_len_9_10,none"] = 0.5
    rc, err = _submit(tmp_path, board, capsys, data)
    rejected(rc, err, board, "parity/test", "inconsistent figure: length_buckets accuracy")


def test_reject_bucket_accuracy_edited_in_one_copy(tmp_path, board, capsys):
    data = template()
    data["tracr_bench"]["splits"][0]["length_buckets"][2]["accuracy"] = 0.5
    rc, err = _submit(tmp_path, board, capsys, data)
    rejected(rc, err, board, "parity/test", "length bucket 9-10", "disagrees with lm-eval")


def test_reject_word_perplexity_edited_in_both_copies(tmp_path, board, capsys):
    data = _retention(template(), word_perplexity=150.0)
    rc, err = _submit(tmp_path, board, capsys, data)
    rejected(rc, err, board, "inconsistent figure: word_perplexity vs bits_per_byte", "3520 words")


def test_reject_byte_perplexity_edited_in_both_copies(tmp_path, board, capsys):
    data = _retention(template(), byte_perplexity=4.0)
    rc, err = _submit(tmp_path, board, capsys, data)
    rejected(rc, err, board, "retention", "inconsistent figure: byte_perplexity")


def test_reject_retention_edited_in_one_copy(tmp_path, board, capsys):
    data = template()
    data["tracr_bench"]["retention"]["bits_per_byte"] = 2.0
    rc, err = _submit(tmp_path, board, capsys, data)
    rejected(rc, err, board, "retention bits per byte 2.0 disagrees with lm-eval")


def test_reject_stderr_edited_in_one_copy(tmp_path, board, capsys):
    data = template()
    data["tracr_bench"]["splits"][1]["stderr"] = 0.1
    rc, err = _submit(tmp_path, board, capsys, data)
    rejected(rc, err, board, "parity/length: stderr 0.1 disagrees with lm-eval")


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: _both(d, 0, accuracy=math.nan), ["tracr_bench.splits[0].accuracy", "nan"]),
        (lambda d: _both(d, 1, stderr=math.inf), ["tracr_bench.splits[1].stderr", "inf"]),
        (
            lambda d: _retention(d, word_perplexity=math.inf),
            ["tracr_bench.retention.word_perplexity", "inf"],
        ),
        (
            lambda d: d["results"]["tracr_bench_parity_test"].update(
                {"acc_len_4_5,none": -math.inf}
            ),
            ["acc_len_4_5,none", "-inf"],
        ),
    ],
    ids=["accuracy-nan", "stderr-inf", "perplexity-inf", "bucket-minus-inf"],
)
def test_reject_non_finite_metrics(tmp_path, board, capsys, edit, words):
    data = template()
    edit(data)
    rc, err = _submit(tmp_path, board, capsys, data)
    rejected(rc, err, board, "not a finite number", "NaN and infinite metrics are refused", *words)


def test_leaderboard_rechecks_derived_figures(tmp_path, board, capsys):
    """A file on the leaderboard edited in both copies, its results hash recomputed: the
    rendering refuses it and names the file and the figure."""
    assert submit_cli(write(tmp_path / "r.json", template()), board, capsys)[0] == 0
    (path,) = (board / "submissions").iterdir()
    doc = _both(json.loads(path.read_text()), 0, accuracy=0.2, stderr=stderr_of_mean(0.2, 5))
    doc["submission"]["results_sha256"] = results_sha256(doc)
    path.write_text(json.dumps(doc, indent=1))
    rc, _, err = run(["leaderboard", "--dir", str(board)], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert path.name in err and "inconsistent figure: length_buckets accuracy" in err
    assert sorted(p.name for p in board.iterdir()) == ["submissions"]  # nothing rendered
