"""General-ability tasks in ``tracr-bench eval`` (``--general``, ``--include-path``): a local
lm-eval task folder whose data the test writes itself lands in the same results file beside the
tracr-bench splits, with lm-eval's own figures; a stock task whose dataset cannot be loaded
offline stops the run with one line, before any work; bad options are one line too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._tiny_lm import shared_tiny_lm
from tracr_bench.cli import main
from tracr_bench.evaluate.report import format_table

REPO = Path(__file__).resolve().parent.parent
LIMIT = 4  # --limit: of each tracr-bench split and of each general task
QUESTIONS = [
    ("Is 2 even?", 0),
    ("Is 3 even?", 1),
    ("Is 10 even?", 0),
    ("Is 7 even?", 1),
    ("Is 4 odd?", 1),
    ("Is 5 odd?", 0),
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return shared_tiny_lm(tmp_path_factory)


@pytest.fixture(scope="module")
def task_folder(tmp_path_factory) -> Path:
    """Two local lm-eval tasks over a JSON Lines file written here: a multiple-choice one
    (log-likelihoods) and a generation one (answered by lm-eval's ``HFLM``)."""
    folder = tmp_path_factory.mktemp("general_tasks")
    data = folder / "questions.jsonl"
    rows = [{"question": q, "label": y, "answer": ["yes", "no"][y]} for q, y in QUESTIONS]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    common = (
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
        "test_split: test\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\n'
    )
    (folder / "my_choice.yaml").write_text(
        "task: my_choice\n" + common + "output_type: multiple_choice\n"
        'doc_to_choice: ["yes", "no"]\ndoc_to_target: label\n'
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
    )
    (folder / "my_generate.yaml").write_text(
        "task: my_generate\n" + common + "output_type: generate_until\n"
        'doc_to_target: " {{answer}}"\n'
        'generation_kwargs:\n  until: ["\\n"]\n  do_sample: false\n  max_gen_toks: 4\n'
        "metric_list:\n  - metric: exact_match\n    aggregation: mean\n"
        "    higher_is_better: true\n"
    )
    return folder


def _eval_args(model: Path, *extra: str) -> list[str]:
    return [
        "eval",
        "--model",
        str(model),
        "--tasks",
        "parity",
        "--splits",
        "test",
        "--limit",
        str(LIMIT),
        "--batch-size",
        "4",
        "--no-retention",
        "--no-oracle",
        "--no-progress",
        *extra,
    ]


def _stock(model: Path, folder: Path, names: list[str]) -> dict:
    """lm-eval's own ``HFLM`` on the local tasks alone."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from tracr_bench.models import load_model

    lm, tok = load_model(model)
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    return lm_eval.simple_evaluate(
        model=HFLM(pretrained=lm, tokenizer=tok, batch_size=4),
        tasks=names,
        limit=LIMIT,
        task_manager=manager,
        log_samples=False,
    )["results"]


def test_local_general_tasks_land_beside_the_splits(tiny_model, task_folder, tmp_path, capsys):
    out = tmp_path / "results.json"
    general = ["--general", "my_choice,my_generate", "--include-path", str(task_folder)]
    assert main(_eval_args(tiny_model, *general, "--output", str(out))) == 0
    table = capsys.readouterr().out
    data = json.loads(out.read_text())
    results = data["results"]
    assert results["tracr_bench_parity_test"]["exact_match,none"] is not None
    stock = _stock(tiny_model, task_folder, ["my_choice", "my_generate"])
    for name, metric in [("my_choice", "acc,none"), ("my_generate", "exact_match,none")]:
        assert data["n-samples"][name] == {"original": len(QUESTIONS), "effective": LIMIT}
        assert results[name][metric] == stock[name][metric], name
        assert (
            results[name][metric.replace(",", "_stderr,")]
            == stock[name][metric.replace(",", "_stderr,")]
        )
    tb = data["tracr_bench"]
    assert tb["general"]["tasks"] == tb["general"]["local_tasks"] == ["my_choice", "my_generate"]
    assert tb["general"]["include_paths"] == [str(task_folder.resolve())]
    assert tb["general"]["results"] == ["my_choice", "my_generate"]
    assert tb["fast_path"]["lm_eval"] == LIMIT  # generation went to lm-eval's HFLM
    assert "my_choice" not in tb["lm_eval_command"]  # local tasks: not in the stock command
    assert "general task" in table and "my_choice" in table and "exact_match" in table
    assert table == format_table(data) + "\n"


def _one_line_error(argv: list[str], capsys) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("tracr-bench: error: ") and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--include-path", "/nonexistent/tasks"], "is not a folder"),
        (["--include-path", "."], "--include-path adds task folders for --general"),
        (["--general", "tracr_bench_parity_test"], "is a tracr-bench task"),
        (["--general", "my_choice,nosuchtask"], "unknown general task 'nosuchtask'"),
    ],
)
def test_bad_general_options(extra, message, tiny_model, task_folder, tmp_path, capsys):
    if "nosuchtask" in extra[-1]:
        extra = [*extra, "--include-path", str(task_folder)]
    out = tmp_path / "r.json"
    err = _one_line_error(_eval_args(tiny_model, *extra, "--output", str(out)), capsys)
    assert message in err
    assert not list(tmp_path.iterdir())


def test_stock_task_without_its_dataset_is_one_line(tiny_model, tmp_path):
    """Offline, with empty Hugging Face caches: lambada_openai cannot load its dataset."""
    out = tmp_path / "r.json"
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_DATASETS_OFFLINE="1")
    env["HF_DATASETS_CACHE"] = str(tmp_path / "hf" / "datasets")
    argv = _eval_args(tiny_model, "--general", "lambada_openai", "--output", str(out))
    cmd = [sys.executable, "-m", "tracr_bench", *argv]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        "tracr-bench: error: general task 'lambada_openai' needs its dataset"
    )
    assert "--include-path" in lines[0]
    assert not out.exists() and proc.stdout == ""
