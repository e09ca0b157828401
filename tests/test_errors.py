"""Every bad input and fault ends in one clear line (issue 14): bad outputs, caches, devices and
model folders refused before any forward pass, corrupt checkpoints and the shipped LM named with
what to do, submissions and leaderboards refused, and Ctrl-C in every command (exit 130).

Each case runs ``tracr_bench.cli.main`` in this process and asserts: the exit status, exactly one
line on stderr (with the case's words) and no traceback, and the files under the test's folder
(and the shared tiny model) unchanged: no partial output, no new folder, no overwritten file.
Models are made on the fly (a 3-block GPT-2 of width 32, a tiny BERT, a GPT-2 whose embedding
is smaller than the tokenizer).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._faults import (
    World,
    bert,
    interrupt,
    no_cuda,
    no_tokenizer,
    outcome,
    run_folder,
    small_vocab_gpt2,
    snapshot,
    split_in_two_shards,
    truncate,
)
from tests._leaderboard_data import BY, template, write
from tests._tiny_lm import untrained_gpt2
from tracr_bench.cli import main
from tracr_bench.models import DEFAULT_MODEL_DIR

EVAL = ["--tasks", "parity", "--splits", "test", "--limit", "2", "--no-oracle", "--no-retention"]
EVAL += ["--no-progress"]
SEARCH = ["--task", "parity", "--max-examples", "2"]
DECODE = ["--task", "parity", "--limit", "4", "--train-examples", "10", "--no-progress"]


@pytest.fixture(scope="module")
def good_model(tmp_path_factory) -> Path:
    model, tok = untrained_gpt2(3, 32, n_positions=256)
    path = tmp_path_factory.mktemp("errors") / "lm"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


CASES: dict[str, tuple[Callable[[World, pytest.MonkeyPatch], list[str]], int, tuple]] = {}


def case(name: str, code: int, *words: str):
    """Register a case: its function prepares the world and returns the command line."""

    def register(fn):
        CASES[name] = (fn, code, words)
        return fn

    return register


# ---------------------------------------------------------------------- 14.1 output, cache, device


@case("eval-output-is-a-folder", 2, "is a folder")
def _(w, mp):
    (w.root / "out").mkdir()
    return ["eval", "--model", str(w.good), *EVAL, "--output", str(w.root / "out")]


@case("eval-output-exists", 2, "exists", "--overwrite")
def _(w, mp):
    (w.root / "old.json").write_text("{}")
    return ["eval", "--model", str(w.good), *EVAL, "--output", str(w.root / "old.json")]


@case("eval-output-folder-missing", 2, "is missing")
def _(w, mp):
    return ["eval", "--model", str(w.good), *EVAL, "--output", str(w.root / "no" / "r.json")]


@case("eval-output-unwritable", 2, "cannot write")
def _(w, mp):
    return ["eval", "--model", str(w.good), *EVAL, "--output", "/proc/tracr-bench-results.json"]


@case("eval-plot-is-a-folder", 2, "is a folder")
def _(w, mp):
    (w.root / "curves.png").mkdir()
    return ["eval", "--model", str(w.good), *EVAL, "--plot", str(w.root / "curves.png")]


@case("eval-cache-is-a-file", 2, "cache", "--cache-dir", "TRACR_BENCH_CACHE")
def _(w, mp):
    (w.root / "cache").write_text("not a folder")
    argv = [a for a in EVAL if a != "--no-oracle"]
    return ["--cache-dir", str(w.root / "cache"), "eval", "--model", str(w.good), *argv]


@case("eval-device-cuda-without-cuda", 2, "CUDA", "--device cpu")
def _(w, mp):
    no_cuda(mp)
    return ["eval", "--model", str(w.good), *EVAL, "--device", "cuda"]


@case("search-device-cuda-without-cuda", 2, "CUDA", "--device cpu")
def _(w, mp):
    no_cuda(mp)
    return ["search", "--model", str(w.good), *SEARCH, "--device", "cuda"]


@case("decode-device-cuda-without-cuda", 2, "CUDA", "--device cpu")
def _(w, mp):
    no_cuda(mp)
    return ["decode", "--model", str(w.good), *DECODE, "--device", "cuda"]


@case("decode-output-exists", 2, "exists", "--overwrite")
def _(w, mp):
    (w.root / "old.json").write_text("{}")
    return ["decode", "--model", str(w.good), *DECODE, "--output", str(w.root / "old.json")]


@case("search-output-folder-missing", 2, "is missing")
def _(w, mp):
    return ["search", "--model", str(w.good), *SEARCH, "--output", str(w.root / "no" / "s.json")]


@case("compile-cache-is-a-file", 2, "cache", "--cache-dir")
def _(w, mp):
    (w.root / "cache").write_text("not a folder")
    return ["compile", "--task", "parity", "--cache-dir", str(w.root / "cache")]


@case("oracle-cache-is-a-file", 2, "cache", "--cache-dir")
def _(w, mp):
    (w.root / "cache").write_text("not a folder")
    return ["oracle", "--task", "parity", "--limit", "2", "--cache-dir", str(w.root / "cache")]


@case("inject-cache-is-a-file", 2, "cache", "--cache-dir")
def _(w, mp):
    (w.root / "cache").write_text("not a folder")
    out = str(w.root / "run")
    argv = ["inject", "--model", str(w.good), "--task", "parity", "--output", out]
    return argv + ["--cache-dir", str(w.root / "cache"), "--device", "cpu", "--no-progress"]


@case("leaderboard-output-is-a-folder", 2, "is a folder")
def _(w, mp):
    board = w.root / "board"
    board.mkdir()
    (w.root / "view.md").mkdir()
    return ["leaderboard", "--dir", str(board), "--output", str(w.root / "view.md")]


# ---------------------------------------------------------------------- 14.1 model folders


@case("eval-model-missing", 2, "does not exist")
def _(w, mp):
    return ["eval", "--model", str(w.root / "nope"), *EVAL]


@case("eval-model-config-garbage", 2, "config.json")
def _(w, mp):
    return [
        "eval",
        "--model",
        w.model("m", lambda p: (p / "config.json").write_text("{oops")),
        *EVAL,
    ]


@case("eval-model-weights-truncated", 2, "model.safetensors", "truncated")
def _(w, mp):
    return ["eval", "--model", w.model("m", lambda p: truncate(p / "model.safetensors")), *EVAL]


@case("eval-model-no-weights", 2, "no weights")
def _(w, mp):
    return ["eval", "--model", w.model("m", lambda p: (p / "model.safetensors").unlink()), *EVAL]


@case("eval-model-shard-missing", 2, "model-00002-of-00002.safetensors")
def _(w, mp):
    return ["eval", "--model", w.model("m", split_in_two_shards), *EVAL]


@case("eval-model-no-tokenizer", 2, "tokenizer")
def _(w, mp):
    return ["eval", "--model", w.model("m", no_tokenizer), *EVAL]


@case("eval-model-vocab-larger-than-embeddings", 2, "8192", "1000")
def _(w, mp):
    return ["eval", "--model", small_vocab_gpt2(w.root / "small"), *EVAL]


@case("eval-model-bert", 2, "bert", "causal")
def _(w, mp):
    return ["eval", "--model", bert(w.root / "bert"), *EVAL]


@case("search-model-bert", 2, "bert", "causal")
def _(w, mp):
    return ["search", "--model", bert(w.root / "bert"), *SEARCH]


@case("search-model-weights-truncated", 2, "model.safetensors", "truncated")
def _(w, mp):
    return ["search", "--model", w.model("m", lambda p: truncate(p / "model.safetensors")), *SEARCH]


@case("decode-model-weights-truncated", 2, "model.safetensors", "truncated")
def _(w, mp):
    return ["decode", "--model", w.model("m", lambda p: truncate(p / "model.safetensors")), *DECODE]


@case("oracle-model-no-tokenizer", 2, "tokenizer")
def _(w, mp):
    return ["oracle", "--task", "parity", "--limit", "2", "--model", w.model("m", no_tokenizer)]


@case("inject-model-weights-truncated", 2, "model.safetensors", "truncated")
def _(w, mp):
    model = w.model("m", lambda p: truncate(p / "model.safetensors"))
    out = str(w.root / "run")
    return ["inject", "--model", model, "--task", "parity", "--output", out, "--device", "cpu"]


@case("inject-model-bert", 2, "bert", "causal")
def _(w, mp):
    out = str(w.root / "run")
    argv = ["inject", "--model", bert(w.root / "bert"), "--task", "parity", "--output", out]
    return argv + ["--device", "cpu"]


@case("default-lm-corrupt", 2, "pip install --force-reinstall", "git checkout", "pretrain")
def _(w, mp):
    copy = w.root / "default_lm"
    copy.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "pretraining.json"):
        shutil.copy(DEFAULT_MODEL_DIR / name, copy / name)
    data = (DEFAULT_MODEL_DIR / "model.safetensors").read_bytes()
    (copy / "model.safetensors").write_bytes(data[: len(data) // 2])
    mp.setattr("tracr_bench.models.DEFAULT_MODEL_DIR", copy)
    return ["eval", "--model", "default", *EVAL]


# ---------------------------------------------------------------------- 14.1 inject --resume


def _resume(w: World, run: str) -> list[str]:
    return ["inject", "--model", str(w.good), "--output", run, "--resume", "--device", "cpu"]


@case("inject-resume-latest-json-garbage", 2, "latest.json")
def _(w, mp):
    return _resume(w, run_folder(w, latest="\x00garbage{"))


@case("inject-resume-state-json-garbage", 2, "state.json")
def _(w, mp):
    return _resume(w, run_folder(w, state="not json"))


@case("inject-resume-checkpoint-truncated", 2, "state.safetensors", "truncated")
def _(w, mp):
    run = run_folder(w)
    truncate(Path(run) / "checkpoints" / "step-000001" / "state.safetensors")
    return _resume(w, run)


# ---------------------------------------------------------------------- 14.3 submit, leaderboard


@case("submit-missing-leaderboard", 2, "does not exist", "--init")
def _(w, mp):
    src = write(w.root / "r.json", template())
    return ["submit", str(src), "--dir", str(w.root / "leaderbord"), *BY]


@case("submit-non-finite-metric", 2, "not a finite number")
def _(w, mp):
    data = template()
    data["results"]["tracr_bench_parity_test"]["acc_len_4_5,none"] = float("-inf")
    (w.root / "board").mkdir()
    return ["submit", str(write(w.root / "r.json", data)), "--dir", str(w.root / "board"), *BY]


@case("submit-stderr-edited", 2, "stderr")
def _(w, mp):
    data = template()
    data["tracr_bench"]["splits"][1]["stderr"] = 0.1
    (w.root / "board").mkdir()
    return ["submit", str(write(w.root / "r.json", data)), "--dir", str(w.root / "board"), *BY]


@case("leaderboard-missing-folder", 2, "does not exist")
def _(w, mp):
    return ["leaderboard", "--dir", str(w.root / "leaderbord")]


# ---------------------------------------------------------------------- 14.4 interrupts


@case("interrupt-eval", 130, "eval interrupted", "not written")
def _(w, mp):
    interrupt(mp, "tracr_bench.evaluate.run.run_lm_eval")
    return ["eval", "--model", str(w.good), *EVAL, "--output", str(w.root / "r.json")]


@case("interrupt-search", 130, "search interrupted")
def _(w, mp):
    interrupt(mp, "tracr_bench.evaluate.runner.ModelRunner._generate")
    return ["search", "--model", str(w.good), *SEARCH]


@case("interrupt-decode", 130, "decode interrupted", "not written")
def _(w, mp):
    interrupt(mp, "tracr_bench.decode.run.decode")
    return ["decode", "--model", str(w.good), *DECODE, "--output", str(w.root / "d.json")]


@case("interrupt-compile", 130, "compile interrupted", "cache")
def _(w, mp):
    interrupt(mp, "tracr_bench.compiler.task_programs.compile_task")
    return ["compile", "--task", "parity"]


@case("interrupt-oracle", 130, "oracle interrupted")
def _(w, mp):
    interrupt(mp, "tracr_bench.compiler.oracle.run_oracle")
    return ["oracle", "--task", "parity", "--limit", "2"]


@case("interrupt-pretrain", 130, "pretrain interrupted", "work")
def _(w, mp):
    interrupt(mp, "tracr_bench.pretrain.train.pretrain")
    return ["pretrain", "--work-dir", str(w.root / "work"), "--output", str(w.root / "lm")]


@case("interrupt-submit", 130, "submit interrupted", "unchanged")
def _(w, mp):
    interrupt(mp, "tracr_bench.leaderboard.submit.submit")
    (w.root / "board").mkdir()
    src = write(w.root / "r.json", template())
    return ["submit", str(src), "--dir", str(w.root / "board"), *BY]


@case("interrupt-leaderboard", 130, "leaderboard interrupted")
def _(w, mp):
    interrupt(mp, "tracr_bench.leaderboard.outputs.write_outputs")
    (w.root / "board").mkdir()
    return ["leaderboard", "--dir", str(w.root / "board")]


@case("interrupt-inject", 130, "inject (tracr, parity) interrupted", "nothing was kept")
def _(w, mp):
    interrupt(mp, "tracr_bench.inject.train._train")
    out = str(w.root / "run")
    argv = ["inject", "--model", str(w.good), "--task", "parity", "--output", out]
    return argv + ["--device", "cpu", "--no-progress"]


# ---------------------------------------------------------------------- the test


@pytest.mark.parametrize("name", list(CASES))
def test_one_line_and_nothing_written(name, tmp_path, good_model, monkeypatch, capsys):
    prepare, code, words = CASES[name]
    world = World(tmp_path, good_model)
    argv = prepare(world, monkeypatch)
    before = snapshot(tmp_path, good_model)
    capsys.readouterr()
    try:
        rc = main(argv)
    except BaseException as err:  # noqa: BLE001 - a traceback is what the case must not give
        rc = f"raised {type(err).__name__}: {str(err).splitlines()[:1]}"
    err = capsys.readouterr().err
    after = snapshot(tmp_path, good_model)
    changed = sorted(set(before.items()) ^ set(after.items()))
    changed_paths = sorted({p for p, _ in changed})
    what = outcome(rc, err, changed_paths)
    lines = err.strip().splitlines()
    assert rc == code and len(lines) == 1 and "Traceback" not in err, what
    prefix = "tracr-bench: error: " if code == 2 else "tracr-bench: "
    assert lines[0].startswith(prefix), what
    assert all(word.lower() in lines[0].lower() for word in words), f"{what} (words {words})"
    assert not changed_paths, what


def test_at_least_thirty_cases():
    assert len(CASES) >= 30
