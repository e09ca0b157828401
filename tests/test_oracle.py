"""The oracle: the compiled programs behind the default tokenizer score 100% on every split
where they must; a task that falls short is told the likely cause; bad input gives one clear
error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from tracr.rasp import rasp
from transformers import PreTrainedTokenizerFast

from tests.conftest import task_names
from tracr_bench.cli import main
from tracr_bench.compiler.oracle import run_oracle
from tracr_bench.compiler.task_programs import exactness_for, program_settings
from tracr_bench.compiler.token_translation import TokenizerMismatch, Translator
from tracr_bench.task import (
    Split,
    Task,
    TaskError,
    TokenMap,
    get_task,
    lib,
    standard_splits,
    uniform_strings,
)


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE with no merges: ' x' is two tokens, 'Ġ' and 'x'."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok)


@pytest.mark.parametrize("name", task_names())
def test_oracle_is_perfect_on_a_sample_of_every_split(name, default_tokenizer):
    """The oracle program on every evaluation split, the injection program on train: each
    agrees with the solver, or the failure says its likely cause."""
    task = get_task(name)
    work = [("train", "injection")] + [(s, "oracle") for s in task.eval_splits]
    for split, which in work:
        res = run_oracle(task, split, default_tokenizer, limit=40, seed=5, which=which)
        assert res.n == min(40, task.splits[split].size)
        if res.exempt is None:
            assert res.correct == res.n, (split, res.diagnosis, res.failures)


def test_given_examples_are_read_not_drawn(default_tokenizer, monkeypatch):
    """``examples=`` (what ``tracr-bench eval`` passes: the examples the model was asked) are
    the ones scored, cut at ``limit``, and the split is not drawn again."""
    task = get_task("parity")
    examples = task.examples("length", size=6, seed=3)
    drawn = run_oracle(task, "length", default_tokenizer, limit=4, seed=3)

    def no_draw(*args, **kwargs):
        raise AssertionError("run_oracle drew the split although it was given the examples")

    monkeypatch.setattr(Task, "examples", no_draw)
    given = run_oracle(task, "length", default_tokenizer, limit=4, examples=examples)
    assert given.n == drawn.n == 4 and given.correct == drawn.correct == 4
    assert run_oracle(task, "length", default_tokenizer, examples=examples[:2]).n == 2


def test_sized_program_covers_exactly_the_run(default_tokenizer):
    """``compile_sized``: compiled for the longest input it is given (no survey of the
    splits), and it scores those inputs like the full-length oracle program."""
    from tracr_bench.compiler.task_programs import compile_sized, sized_settings
    from tracr_bench.compiler.torch_program import TorchProgram

    task = get_task("parity")
    examples = task.examples("test", size=8, seed=1)
    tr = Translator(task, default_tokenizer)
    longest = max(len(tr.encode_example(ex).lm_ids) for ex in examples)
    max_seq_len, exactness = sized_settings(task, "oracle", longest)
    assert max_seq_len == longest and exactness >= 100
    program = TorchProgram.from_compiled(compile_sized("parity", "oracle", longest))
    assert program.max_seq_len == longest
    res = run_oracle(task, "test", default_tokenizer, examples=examples, program=program)
    assert res.n == 8 and res.correct == 8
    with pytest.raises(TaskError, match="nothing to compile"):
        sized_settings(task, "oracle", 0)


def test_exempt_split_says_why():
    exempt = [
        (t, s)
        for t in task_names()
        for s, sp in get_task(t).splits.items()
        if sp.oracle_exempt is not None
    ]
    assert ("shuffle_dyck", "new_token") in exempt
    for t, s in exempt:
        assert len(get_task(t).splits[s].oracle_exempt) > 20


def test_tokenizer_that_splits_a_symbol_is_a_clear_error():
    with pytest.raises(TokenizerMismatch, match=r"symbol ' x'.*splits it into \['Ġ', 'x'\]"):
        Translator(get_task("count"), byte_tokenizer())


def test_bad_limit_and_split(default_tokenizer):
    task = get_task("count")
    with pytest.raises(TaskError, match="--limit must be a positive"):
        run_oracle(task, "test", default_tokenizer, limit=0)
    with pytest.raises(TaskError, match="unknown split"):
        run_oracle(task, "nope", default_tokenizer)


def test_cli_errors_are_one_line(capsys):
    assert main(["oracle", "--task", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracr-bench: error: unknown task 'nope'") and err.count("\n") == 1
    assert main(["oracle", "--task", "count", "--split", "nope"]) == 2
    assert "unknown split 'nope'" in capsys.readouterr().err


def test_cli_oracle_json(capsys):
    import json

    assert main(["oracle", "--task", "count", "--split", "x_only", "--limit", "5", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["task"] == "count" and row["split"] == "x_only"
    assert row["n"] == 5 and row["accuracy"] == 1.0


# ------------------------------------------------------------------ diagnosis of a failing task


def tiny_task(program, target, *, prompt="Letters here ", mlp_exactness=None) -> Task:
    """A task over x/z strings of 1-20 letters, small enough to compile in seconds."""
    draw = uniform_strings("xz", 1, 20)
    return Task(
        name="tiny",
        description="a throwaway task for the oracle's diagnosis",
        version=1,
        program=program,
        token_map=TokenMap.identity("xz", trigger=":"),
        prompt=lambda inp: prompt + " ".join(inp) + "\nAnswer:",
        target=target,
        splits=[
            *standard_splits(
                draw, min_length=1, max_length=20, description="x/z", train_size=60, test_size=60
            ),
            Split(
                name="more", description="as test", min_length=1, max_length=20, size=30, draw=draw
            ),
        ],  # fmt: skip
        mlp_exactness=mlp_exactness,
    )


def many_x():  # more than 9 x's? A numerical count read by a threshold
    n_x = lib.count_so_far(lambda t: t == "x", numerical=True, name="n_x")
    return lib.yes_no(lambda n: n > 9.5, n_x, name="many_x")


def many_x_target(inp) -> str:
    return " yes" if inp.count("x") > 9 else " no"


def oracle_diagnosis(task, default_tokenizer, cache: Path) -> str | None:
    res = run_oracle(task, "test", default_tokenizer, cache_dir=cache)
    return res.diagnosis if res.correct < res.n else "100%"


def test_low_mlp_exactness_is_named_with_the_value_that_works(default_tokenizer, tmp_path):
    diagnosis = oracle_diagnosis(
        tiny_task(many_x, many_x_target, mlp_exactness=100), default_tokenizer, tmp_path
    )
    assert "mlp_exactness 100 is too low for max_seq_len" in diagnosis, diagnosis
    assert "SelectorWidth 'n_x' needs >= " in diagnosis
    assert re.search(r"; [\d,]+ answers all 60 examples: declare mlp_exactness=\d+ ", diagnosis)
    # left out, it is chosen from the program: 2 N (N + 1) for the SelectorWidth, rounded up
    task = tiny_task(many_x, many_x_target)
    settings = program_settings(task, "oracle", cache_dir=tmp_path)
    n = settings.max_seq_len
    assert settings.needed_exactness == 2 * n * (n + 1)
    assert settings.mlp_exactness == exactness_for(2 * n * (n + 1)) and not (
        settings.mlp_exactness_declared
    )
    assert oracle_diagnosis(task, default_tokenizer, tmp_path) == "100%"


def test_a_program_checked_without_the_causal_mask_is_named(default_tokenizer, tmp_path):
    def program():  # the length seen at position 0: the whole length only in rasp.evaluate
        length = lib.length_so_far(name="length")
        first = rasp.categorical(
            rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == 0), length)
        )
        return lib.yes_no(lambda n: n > 1, first, name="long")

    diagnosis = oracle_diagnosis(
        tiny_task(program, lambda inp: " yes"), default_tokenizer, tmp_path
    )
    assert "right under rasp.evaluate" in diagnosis and "tracr.rasp.causal_eval" in diagnosis


def test_prompt_words_read_as_symbols_and_wrong_programs_are_named(default_tokenizer, tmp_path):
    def has_z():
        return lib.yes_no(lambda n: n > 0, lib.count_so_far(lambda t: t == "z", numerical=True))

    def target(inp) -> str:
        return " yes" if "z" in inp else " no"

    task = tiny_task(has_z, target, prompt="Is there a z? ")
    diagnosis = oracle_diagnosis(task, default_tokenizer, tmp_path)
    assert diagnosis.startswith("the prompt's own words are read as program symbols ['z']")
    assert oracle_diagnosis(tiny_task(has_z, target), default_tokenizer, tmp_path) == "100%"

    def has_two_z():
        return lib.yes_no(lambda n: n > 1, lib.count_so_far(lambda t: t == "z", numerical=True))

    diagnosis = oracle_diagnosis(tiny_task(has_two_z, target), default_tokenizer, tmp_path)
    assert diagnosis.startswith("the RASP program itself answers ['no'] where the solver"), (
        diagnosis
    )


def test_cli_oracle_prints_the_diagnosis_in_one_line(capsys, monkeypatch, tmp_path):
    import tracr_bench.compiler.cli as compiler_cli

    task = tiny_task(many_x, many_x_target, mlp_exactness=100)
    monkeypatch.setattr(compiler_cli, "select_tasks", lambda arg: [task])
    assert main(["oracle", "--split", "test", "--cache-dir", str(tmp_path)]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "mlp_exactness 100 is too low" in err[0], err
