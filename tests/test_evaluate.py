"""``tracr-bench eval`` and the lm-eval task configs: parity with the stock ``lm_eval`` command
line, the results file, bad inputs, and the generated configs being up to date.

The model is a tiny GPT-2 with the default LM's tokenizer, trained for a few seconds on the
parity task so that it answers in the right format and gets some examples right (a random model
scores 0 everywhere, which would make the parity check vacuous)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._tiny_lm import save_tiny_lm, shared_tiny_lm
from tests.conftest import short_retention_shard
from tracr_bench.cli import main
from tracr_bench.evaluate.lm_eval_configs import render_configs, stale_configs
from tracr_bench.evaluate.lm_eval_data import group_name, task_name
from tracr_bench.evaluate.retention import RETENTION_ENV, RETENTION_TASK
from tracr_bench.evaluate.scoring import length_buckets, score
from tracr_bench.models import DEFAULT_MODEL_DIR, file_sha256
from tracr_bench.task import all_tasks, get_task

REPO = Path(__file__).resolve().parent.parent
LIMIT = 5
BATCH = 4


@pytest.fixture(scope="module")
def retention_text(tmp_path_factory) -> Path:
    """The first 40,000 characters of the real retention shard, to keep lm-eval runs short."""
    with short_retention_shard(tmp_path_factory.mktemp("retention"), 40_000) as path:
        yield path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return shared_tiny_lm(tmp_path_factory)


@pytest.fixture(scope="module")
def ours(tiny_model, retention_text, tmp_path_factory) -> tuple[dict, Path]:
    from tracr_bench.evaluate.run import evaluate

    out = tmp_path_factory.mktemp("ours") / "results.json"
    data = evaluate(
        tiny_model,
        tasks="parity",
        splits="test,length",
        limit=LIMIT,
        batch_size=BATCH,
        output=out,
        progress=False,
    )
    return data, out


def test_configs_up_to_date():
    stale = stale_configs()
    assert not stale, f"run `tracr-bench lm-eval-configs`: stale {stale}"


def test_every_split_has_a_config_and_buckets_cover_lengths():
    files = render_configs()
    for task in all_tasks().values():
        assert f"_{group_name(task.name)}.yaml" in files
        for split in task.eval_splits:
            assert f"{task_name(task.name, split)}.yaml" in files
            sp = task.split(split)
            buckets = length_buckets(task, split)
            if buckets:
                for n in range(sp.min_length, sp.max_length + 1):
                    assert sum(b.lo <= n <= b.hi for b in buckets) == 1, (task.name, split, n)


def test_score_space_and_stop():
    assert score(" 12", " 12")
    assert score("12", " 12")  # SentencePiece decoders drop the leading space
    assert score(" 12\nAnswer: 3", " 12")
    assert score(" yes ", " yes")
    assert not score(" 123", " 12")
    assert not score(" 1 2", " 12")
    assert not score("", " 0")


def test_same_numbers_as_stock_lm_eval(ours, tiny_model, retention_text, tmp_path):
    data, _ = ours
    names = ["tracr_bench_parity_test", "tracr_bench_parity_length", RETENTION_TASK]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env[RETENTION_ENV] = str(retention_text)
    cmd = [
        sys.executable,
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_model}",
        "--include_path",
        "tasks/lm_eval",
        "--tasks",
        ",".join(names),
        "--limit",
        str(LIMIT),
        "--batch_size",
        str(BATCH),
        "--device",
        "cpu",
        "--output_path",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (stock_file,) = tmp_path.rglob("results_*.json")
    stock = json.loads(stock_file.read_text())
    for name in names:
        assert stock["results"][name] == data["results"][name], name
        assert stock["n-samples"][name] == data["n-samples"][name]
    accs = [data["results"][n]["exact_match,none"] for n in names[:2]]
    assert any(a > 0 for a in accs), "the tiny model should get some parity answers right"


def test_results_json(ours, tiny_model, retention_text):
    data, path = ours
    on_disk = json.loads(path.read_text())
    assert on_disk["results"] == json.loads(json.dumps(data["results"]))
    tb = on_disk["tracr_bench"]
    assert tb["package_version"]
    assert tb["seed"] == 0 and tb["limit"] == LIMIT
    assert tb["task_versions"] == {"parity": get_task("parity").version}
    weights = tiny_model / "model.safetensors"
    assert tb["model"]["weights_sha256"] == {"model.safetensors": file_sha256(weights)}
    rows = {r["split"]: r for r in tb["splits"]}
    assert set(rows) == {"test", "length"}
    for split, row in rows.items():
        r = on_disk["results"][task_name("parity", split)]
        assert row["n"] == LIMIT
        assert row["accuracy"] == r["exact_match,none"]
        assert row["oracle_accuracy"] == 1.0
        assert sum(b["n"] for b in row["length_buckets"]) == LIMIT
        for b in row["length_buckets"]:
            assert (b["accuracy"] is None) == (b["n"] == 0)
    ret = tb["retention"]
    assert ret["documents"] >= 1 and ret["word_perplexity"] > 1 and ret["bits_per_byte"] > 0
    assert set(tb["timings"]) >= {"load_model_s", "oracle_s", "lm_eval_s", "total_s"}
    # lm-eval's environment record, collected while the model loaded
    assert on_disk["pretty_env_info"].startswith("PyTorch version")
    assert not list(path.parent.glob("*.tmp"))


def test_one_draw_per_split_and_one_tokenizer(tiny_model, monkeypatch):
    """One evaluation draws each split once (the context check, the per-length counts,
    ``max_gen_toks``, lm-eval's dataset and the oracle column all read that draw) and loads
    the tokenizer once."""
    from transformers import AutoTokenizer

    from tracr_bench.evaluate import lm_eval_configs, lm_eval_data
    from tracr_bench.evaluate.run import evaluate
    from tracr_bench.task import Task

    lm_eval_data._drawn.cache_clear()  # as in a fresh process
    lm_eval_configs.max_gen_toks.cache_clear()
    draws: list[tuple[str, str, int | None, str]] = []
    examples = Task.examples

    def counted_examples(self, split, size=None, seed=0):
        draws.append((self.name, split, size, sys._getframe(1).f_globals["__name__"]))
        return examples(self, split, size, seed)

    loads: list[str] = []
    from_pretrained = AutoTokenizer.from_pretrained

    def counted_load(path, *args, **kwargs):
        loads.append(str(path))
        return from_pretrained(path, *args, **kwargs)

    monkeypatch.setattr(Task, "examples", counted_examples)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", counted_load)
    data = evaluate(
        tiny_model,
        tasks="parity",
        splits="test,length",
        limit=LIMIT,
        batch_size=BATCH,
        retention=False,
        progress=False,
    )
    assert [r["n"] for r in data["tracr_bench"]["splits"]] == [LIMIT, LIMIT]
    assert [r["oracle_accuracy"] for r in data["tracr_bench"]["splits"]] == [1.0, 1.0]
    assert sorted(d[:3] for d in draws) == [("parity", "length", None), ("parity", "test", None)]
    assert not [d for d in draws if d[3] == "tracr_bench.compiler.oracle"], draws
    assert loads == [str(tiny_model)]


def _cli(args: list[str], capsys) -> tuple[int, str]:
    rc = main(args)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "/nonexistent/model"], "does not exist"),
        (["--tasks", "nosuchtask"], "unknown task 'nosuchtask'"),
        (["--tasks", "parity", "--splits", "nosplit"], "unknown evaluation split 'nosplit'"),
        (["--tasks", "parity", "--splits", "train"], "unknown evaluation split 'train'"),
        (["--limit", "0"], "--limit must be a positive"),
    ],
)
def test_bad_input(args, message, tiny_model, tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["eval", "--model", str(tiny_model), "--output", str(out), *args]
    rc, err = _cli(argv, capsys)
    assert rc == 2
    assert err.startswith("tracr-bench: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_not_a_causal_lm(tmp_path, capsys):
    from transformers import AutoTokenizer, ViTConfig

    folder = tmp_path / "vit"
    ViTConfig().save_pretrained(folder)
    AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR).save_pretrained(folder)
    out = tmp_path / "r.json"
    rc, err = _cli(["--model", str(folder), "--output", str(out)], capsys)
    assert rc == 2 and "has no causal-LM architecture" in err
    assert not out.exists()
    rc, err = _cli(["--model", str(tmp_path), "--output", str(out)], capsys)
    assert rc == 2 and "no config.json" in err


def test_short_context_is_reported_per_split(tmp_path, capsys):
    model = save_tiny_lm(tmp_path / "short", train_steps=0, n_positions=40)
    out = tmp_path / "r.json"
    argv = [
        "--model",
        str(model),
        "--tasks",
        "parity",
        "--limit",
        "3",
        "--no-retention",
        "--no-oracle",
        "--no-progress",
        "--output",
        str(out),
    ]
    assert main(argv) == 0
    table = capsys.readouterr().out
    rows = {r["split"]: r for r in json.loads(out.read_text())["tracr_bench"]["splits"]}
    assert rows["length"]["skipped"] and "context of 40 tokens" in rows["length"]["skipped"]
    assert rows["length"]["n"] is None
    assert rows["test"]["skipped"] is None and rows["test"]["n"] == 3
    assert "skipped: prompts up to" in table
