"""``tracr-bench submit`` and ``tracr-bench leaderboard``: every rejection, the no-overwrite rule,
defaults from ``injection.json``, and tables that hold the submitted numbers, deterministically.

The results files are built from a real ``tracr-bench eval`` output
(``tests/_leaderboard_data``)."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

from tests._leaderboard_data import (
    fake_model,
    injection,
    parity,
    populate,
    results,
    template,
    write,
)
from tracr_bench.cli import main
from tracr_bench.leaderboard.render import (
    README_BEGIN,
    README_END,
    render_html,
    render_markdown,
    stale_outputs,
)
from tracr_bench.leaderboard.submissions import (
    SCHEMA_FILE,
    SubmissionError,
    default_dir,
    load_entries,
    results_sha256,
    submit,
    write_new,
)
from tracr_bench.models import DEFAULT_MODEL_DIR
from tracr_bench.task import get_task

PARITY = ["test", "length", "skewed"]
BY = ["--by", "tester", "--date", "2026-01-02"]


@pytest.fixture
def board(tmp_path) -> Path:
    return tmp_path / "leaderboard"


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def submit_cli(path: Path, board: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run(["submit", str(path), "--dir", str(board), *BY, *extra], capsys)


def rejected(rc: int, err: str, board: Path, *words: str) -> None:
    """A rejection: exit 2, one line on stderr naming the reason, nothing written."""
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tracr-bench: error: "), err
    for w in words:
        assert w in lines[0], lines[0]
    folder = board / "submissions"
    assert not folder.exists() or not any(folder.iterdir())


# ---------------------------------------------------------------------------- accepted


def test_schema_is_valid_json_schema():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


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
    rc, _, err = submit_cli(path, other, capsys)
    assert rc == 0, err
    (copy,) = (other / "submissions").iterdir()
    assert copy.read_bytes() == path.read_bytes()


# ---------------------------------------------------------------------------- rejections


@pytest.fixture
def bumped_parity():
    """The registry's parity task one version ahead of the results files."""
    task = get_task("parity")
    old = task.version
    object.__setattr__(task, "version", old + 1)
    yield old + 1
    object.__setattr__(task, "version", old)


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


def test_reject_results_hash_mismatch(tmp_path, board, capsys):
    """A prepared submission whose results were edited (consistently, in both places)."""
    src = write(tmp_path / "r.json", template())
    assert submit_cli(src, board, capsys)[0] == 0
    (path,) = (board / "submissions").iterdir()
    doc = json.loads(path.read_text())
    _set_accuracy(doc, 0, 1.0)
    rc, _, err = submit_cli(write(tmp_path / "edited.json", doc), tmp_path / "other", capsys)
    rejected(rc, err, tmp_path / "other", "hash mismatch", "edited after submission")


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
    doc["submission"]["schema_version"] = 2
    path.write_text(json.dumps(doc))
    with pytest.raises(SubmissionError, match="schema version 2 is not supported"):
        load_entries(board)


# ---------------------------------------------------------------------------- no overwrite


def test_never_overwrites(tmp_path, board, capsys, monkeypatch):
    """A second submission that would land on an existing name is refused even when nothing
    else catches it (duplicate checks switched off), and the existing file is untouched."""
    src = write(tmp_path / "r.json", template())
    assert submit_cli(src, board, capsys)[0] == 0
    (path,) = (board / "submissions").iterdir()
    before = path.read_bytes()
    monkeypatch.setattr(
        "tracr_bench.leaderboard.submissions.find_duplicate", lambda doc, entries: None
    )
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


# ---------------------------------------------------------------------------- tables


@pytest.fixture
def populated(tmp_path) -> tuple[Path, dict]:
    return populate(tmp_path)


def _pm(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    mean = statistics.fmean(values) * scale
    std = statistics.stdev(values) * scale
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def test_tables_hold_the_submitted_numbers(populated):
    board, numbers = populated
    md = render_markdown(load_entries(board))
    html = render_html(load_entries(board))
    for text in (md, html):
        # the base row: its own numbers, and its retention ratio of 1
        for (task, split), acc in numbers["base"]["accs"].items():
            assert f"{100 * acc:.2f}" in text, (task, split)
        assert "1.000" in text
        for method in ("baseline", "tracr"):
            rows = numbers[method]
            tests = [r[0] for r in rows]
            oods = [(r[1] + r[2]) / 2 for r in rows]
            ratios = [r[3] / numbers["base"]["ppl"] for r in rows]
            assert _pm(tests) in text, (method, _pm(tests))
            assert _pm(oods) in text
            assert _pm([r[1] for r in rows]) in text  # per-split table
            assert _pm([r[2] for r in rows]) in text
            assert _pm(ratios, 1.0, 3) in text
            assert "0, 1, 2" in text  # the seeds of the row
    # grouped by base: base, baseline, injected; best marked; count only where evaluated
    main = md.split("## Main table")[1].split("## Task")[0]
    lines = [ln for ln in main.splitlines() if ln.startswith("| my base (")]
    assert [ln.split("|")[3].strip() for ln in lines] == ["none", "baseline", "tracr"]
    assert f"**{_pm([1.0, 1.0, 0.8])}**" in lines[2]  # tracr's parity ID is the best
    assert f"**{_pm([1.04, 1.06, 1.02], 1.0, 3)}**" in lines[1]  # baseline retains best
    assert "**1.000**" not in main  # the base's own ratio is not a competitor
    assert "## Task `count`: every split" in md and "## Task `parity`: every split" in md


def test_rendering_is_deterministic(populated, tmp_path):
    board, _ = populated
    md, html = render_markdown(load_entries(board)), render_html(load_entries(board))
    assert md == render_markdown(load_entries(board))
    assert html == render_html(load_entries(board))
    # the same files copied in another order, with other timestamps: identical bytes
    other = tmp_path / "copy"
    (other / "submissions").mkdir(parents=True)
    for p in sorted((board / "submissions").iterdir(), reverse=True):
        shutil.copy(p, other / "submissions" / p.name)
    assert render_markdown(load_entries(other)).encode() == md.encode()
    assert render_html(load_entries(other)).encode() == html.encode()


def test_leaderboard_command_writes_and_checks(populated, capsys):
    board, _ = populated
    rc, out, _ = run(["leaderboard", "--dir", str(board), "--check"], capsys)
    assert rc == 1
    rc, out, _ = run(["leaderboard", "--dir", str(board)], capsys)
    assert rc == 0 and "README.md" in out and "index.html" in out
    first = (board / "README.md").read_bytes(), (board / "index.html").read_bytes()
    rc, out, _ = run(["leaderboard", "--dir", str(board)], capsys)
    assert rc == 0 and "up to date" in out
    assert ((board / "README.md").read_bytes(), (board / "index.html").read_bytes()) == first
    assert run(["leaderboard", "--dir", str(board), "--check"], capsys)[0] == 0
    rc, out, _ = run(["leaderboard", "--dir", str(board), "--task", "count"], capsys)
    assert rc == 0 and "## Task `count`" in out and "parity" not in out
    rc, _, err = run(["leaderboard", "--dir", str(board), "--task", "nosuch"], capsys)
    assert rc == 2 and "unknown task 'nosuch'" in err


def test_html_is_self_contained(populated):
    board, _ = populated
    page = render_html(load_entries(board))
    assert page.startswith("<!DOCTYPE html>")
    for external in ("src=", "href=", "@import", "url(", "http://", "https://"):
        assert external not in page, external
    assert page.count('class="sortable"') == 3  # main, count, parity


def test_older_task_versions_are_left_out_of_the_tables(populated, bumped_parity):
    board, _ = populated
    md = render_markdown(load_entries(board))
    assert "## Task `parity`" not in md and "## Task `count`" in md
    assert "parity was evaluated at version 1 (current 2); not shown" in md


def test_empty_leaderboard(tmp_path):
    assert "No submissions yet" in render_markdown(load_entries(tmp_path / "none"))
    assert "No submissions yet" in render_html(load_entries(tmp_path / "none"))


def test_committed_leaderboard_is_up_to_date():
    """leaderboard/README.md, leaderboard/index.html and the README's main table are what
    `tracr-bench leaderboard` renders from the committed submissions."""
    root = default_dir()
    assert root.is_dir()
    readme = (root.parent / "README.md").read_text("utf-8")
    assert README_BEGIN in readme and README_END in readme
    stale = stale_outputs(root)
    assert not stale, f"run `tracr-bench leaderboard`: stale {stale}"


def test_default_lm_path_independent(tmp_path, board, capsys):
    """The shipped LM is recognised by its weights, wherever the checkout is."""
    data = template()
    data["tracr_bench"]["model"]["path"] = str(tmp_path / "elsewhere" / "default_lm")
    rc, _, err = submit_cli(write(tmp_path / "r.json", data), board, capsys)
    assert rc == 0, err
    (path,) = (board / "submissions").iterdir()
    assert json.loads(path.read_text())["submission"]["base_model"]["name"] == "default LM"
    assert DEFAULT_MODEL_DIR.is_dir()
