"""The command line as a whole: every subcommand has a description and every option a help text
with its default; a bare ``tracr-bench`` shows what it would run and runs nothing; the README's
main command still runs directly; the weights are hashed once per eval run; the search JSON
records the weights' sha256."""

from __future__ import annotations

import argparse
import json

import pytest

from tracr_bench import models
from tracr_bench.cli import build_parser, main, subparsers
from tracr_bench.task import all_tasks


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)
    ]


def test_every_option_of_every_subcommand_has_help():
    parser = build_parser()
    commands = {"(top level)": (parser, "")} | subparsers(parser)
    assert {"eval", "search", "probe", "decode", "inject", "submit", "pretrain"} <= set(commands)
    missing = [
        f"{name} {a.option_strings[0]}"
        for name, (sub, _) in commands.items()
        for a in _options(sub)
        if not (a.help or "").strip()
    ]
    assert missing == []
    no_description = [name for name, (sub, _) in commands.items() if not sub.description]
    assert no_description == []


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "prompts per forward pass (default: 16)" in text
    assert "(default: cpu)" in text and "seed of the examples drawn (default: 0)" in text
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.parametrize(
    "argv, dest, value",
    [
        (["eval", "--task", "parity"], "tasks", "parity"),
        (["eval", "--split", "test"], "splits", "test"),
        (["--task", "parity"], "tasks", "parity"),
        (["oracle", "--tasks", "parity,count"], "task", "parity,count"),
        (["tasks", "--task", "parity"], "tasks", "parity"),
        (["decode", "--task", "parity", "--splits", "test"], "split", "test"),
        (["submit", "r.json", "--training-seed", "3"], "seed", 3),
    ],
)
def test_both_spellings_are_accepted(argv, dest, value):
    assert getattr(build_parser().parse_args(argv), dest) == value


def test_bare_command_shows_the_plan_and_runs_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = []
    monkeypatch.setattr("tracr_bench.evaluate.cli._eval", lambda args: ran.append(args) or 0)
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert ran == [] and list(tmp_path.iterdir()) == []
    assert f"tasks:     {len(all_tasks())} (" in out and "--limit 50" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--yes" in lines[0] and lines[0].startswith("tracr-bench: error:")
    # an explicit go, or any argument (the README's `tracr-bench --limit 50`), runs eval
    assert main(["--yes"]) == 0 and ran[-1].limit is None
    assert main(["--limit", "50"]) == 0 and ran[-1].limit == 50


def test_weights_hashed_once_per_process(tmp_path, monkeypatch):
    calls = []
    real = models._sha256
    monkeypatch.setattr(models, "_sha256", lambda p: calls.append(p) or real(p))
    monkeypatch.setattr(models, "_DIGESTS", {})
    models.check_default_model()
    digest = models.weights_digest(models.DEFAULT_MODEL_DIR)
    assert calls == [models.DEFAULT_MODEL_DIR / "model.safetensors"]
    record = json.loads((models.DEFAULT_MODEL_DIR / "pretraining.json").read_text())
    assert digest["model.safetensors"] == record["weights_sha256"]
    copy = tmp_path / "w.safetensors"
    copy.write_bytes(b"abc")
    first = models.file_sha256(copy)
    copy.write_bytes(b"abcd")  # changed: hashed again
    assert models.file_sha256(copy) != first


def test_search_json_records_the_weights_sha256(capsys):
    argv = ["search", "--model", "default", "--task", "parity", "--max-examples", "2", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["weights_sha256"] == models.weights_digest(models.DEFAULT_MODEL_DIR)
