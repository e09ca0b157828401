"""The oracle: the compiled program behind the default tokenizer scores 100% on every split
where it must; bad input gives one clear error."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from tests.conftest import task_names
from tracr_bench.cli import main
from tracr_bench.compiler.oracle import run_oracle
from tracr_bench.compiler.token_translation import TokenizerMismatch, Translator
from tracr_bench.task import TaskError, get_task


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
    task = get_task(name)
    for split in task.eval_splits:
        res = run_oracle(task, split, default_tokenizer, limit=40, seed=5)
        assert res.n == min(40, task.splits[split].size)
        if res.exempt is None:
            assert res.correct == res.n, (split, res.failures)


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
