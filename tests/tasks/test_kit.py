"""The task-authoring kit: token map and split helpers, the RASP pieces of ``task.lib`` under
causal evaluation, what ``survey`` reports and warns about, and the lengths and exactness the
compiler computes for a task that leaves them out."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from tracr.rasp import causal_eval, rasp

from tracr_bench.cli import main
from tracr_bench.compiler.task_programs import (
    compile_task,
    default_tokenizer,
    default_tokenizer_id,
    exactness_for,
    needed_exactness,
    program_settings,
)
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
from tracr_bench.task.survey import survey, token_spans, warnings

# What the seven bundled tasks declared by hand before the lengths were computed.
HAND_COUNTED = {
    "count": (59, 140),
    "int_sum": (11, 15),
    "parity": (33, 57),
    "pattern": (42, 66),
    "reverse": (30, 46),
    "shuffle_dyck": (44, 104),
    "sort": (26, 38),
}


def ab_task(**changes) -> Task:
    """Strings over a/b of 1-3 letters (14 in all); ``short`` enumerates both of length 1."""
    fields = {
        "name": "ab",
        "description": "a tiny task",
        "version": 1,
        "program": lambda: lib.yes_no(lambda t: t == "a", rasp.tokens),
        "token_map": TokenMap.identity("ab"),
        "prompt": lambda inp: "Letters " + " ".join(inp) + "\nAnswer:",
        "target": lambda inp: " yes" if inp[-1] == "a" else " no",
        "splits": [
            *standard_splits(
                uniform_strings("ab", 1, 3),
                min_length=1,
                max_length=3,
                description="1-3 of a/b",
                train_size=20,
                test_size=4,
            ),
            Split(
                name="short",
                description="a, b",
                min_length=1,
                max_length=1,
                size=2,
                enumerate=lambda: [("a",), ("b",)],
            ),
        ],
    }
    return Task(**{**fields, **changes})


def test_token_map_identity_and_standard_splits():
    tm = TokenMap.identity("xy", trigger="=")
    assert tm == TokenMap(symbols={"x": "x", "y": "y"}, filler="_", trigger="=", trigger_symbol="=")
    train, test = standard_splits(uniform_strings("xy", 2, 5), min_length=2, max_length=5,
                                  description="2-5 of x/y")  # fmt: skip
    assert (train.name, train.size, test.name, test.size) == ("train", 50_000, "test", 4_000)
    assert test.description == "same distribution as train" and test.draw is train.draw
    assert Split(name="ood", description="d", min_length=1, max_length=2).size == 4_000
    positional = Split("train", "2-5 of x/y", 2, 5, 50_000, draw=train.draw)  # as before the kit
    assert positional == train
    with pytest.raises(TaskError, match="filler '_' is also a task symbol"):
        TokenMap.identity("_x")
    with pytest.raises(TaskError, match="min_length <= max_length"):
        Split(name="bad", description="d", min_length=3, max_length=2)


def test_splits_as_a_sequence_or_a_dict():
    task = ab_task()
    assert list(task.splits) == ["train", "test", "short"]
    assert ab_task(splits=dict(task.splits)).splits == task.splits
    with pytest.raises(TaskError, match="split 'test' defined twice"):
        ab_task(splits=[*task.splits.values(), task.splits["test"]])
    with pytest.raises(TaskError, match="split key 'x' != name 'train'"):
        ab_task(splits={"x": task.splits["train"], "test": task.splits["test"]})


def test_survey_reports_drawn_lengths_and_warns():
    task = ab_task()
    found = survey(task)
    assert found["short"].lengths == (1,) and found["short"].distinct == 2
    assert found["train"].length_range == (2, 3)  # length 1 went to ``short``
    lines = warnings(task)
    left = 14 - len({ex.input for s in task.eval_splits for ex in task.examples(s)})
    assert f"ab/train: only {left} distinct inputs once every evaluation input is " in lines[0]
    assert lines[1].startswith("ab/train: no input of length 1 (declared 1-3): the evaluation")
    assert warnings(ab_task(splits=[*task.splits.values()][:2])) == [
        "ab/train: only 10 distinct inputs once every evaluation input is excluded, fewer than "
        "its size 20"
    ]


def test_tasks_command_shows_drawn_lengths_and_warnings(capsys):
    assert main(["tasks", "--tasks", "parity"]) == 0
    out, err = capsys.readouterr()
    assert "train (4-16, n=50000; drawn 7-16, 50000 distinct)" in out
    assert "max_seq_len 33 (oracle 57)" in out
    assert "warning: parity/train: no input of length 4-6 (declared 4-16)" in err


def _causal(sop, xs):
    return causal_eval.evaluate(sop, list(xs))


def test_lib_pieces_under_causal_evaluation():
    xs = "xyxx:"
    assert _causal(lib.count_so_far(lambda t: t == "x"), xs) == [1, 1, 2, 3, 3]
    assert _causal(lib.length_so_far(), xs) == [1, 2, 3, 4, 5]
    assert _causal(lib.shift_by(2), xs) == [None, None, "x", "y", "x"]
    assert _causal(lib.value_at(":", lib.length_so_far()), "xy:xx") == [None, None, 3, 3, 3]
    frac = lib.frac_so_far(lib.indicator(lambda t: t == "x"))
    assert _causal(frac, xs) == [1, 0.5, 2 / 3, 0.75, 0.6]
    assert _causal(lib.yes_no(lambda t: t == "y", rasp.tokens), "xy") == ["no", "yes"]
    bits = [lib.indicator(lambda t, i=i: t == "xyz"[i % 3], name=f"b{i}") for i in range(5)]
    total = lib.balanced_tree(bits, lambda a, b: a + b, name=lambda lo, hi: f"s_{lo}_{hi}")
    assert total.name == "s_0_4"
    assert _causal(total, "xyz") == [2, 2, 1]


def test_needed_exactness_of_a_selector_width_and_the_rounding():
    program = lib.count_so_far(lambda t: t == "x", numerical=True, name="n")
    assert needed_exactness(program, {"x", "y"}, 10) == (2 * 10 * 11, "SelectorWidth 'n'")
    mean = lib.yes_no(lambda x: x > 0, lib.frac_so_far(lib.indicator(lambda t: t == "x")))
    need, step = needed_exactness(mean, {"x", "y"}, 10)
    assert need == pytest.approx(2 * 10) and step == "numerical Map 'yes_no'"  # 0 vs 1/10
    assert [exactness_for(v) for v in (0, 100, 101, 2244, 39_480)] == [
        100,
        100,
        1_000,
        10_000,
        100_000,
    ]


@pytest.mark.parametrize("name", sorted(HAND_COUNTED))
def test_computed_settings_are_the_hand_counted_ones(name):
    """Every bundled task now leaves its lengths out; the computed ones are what was declared,
    so the compiled programs (and their cache keys) did not change."""
    task = get_task(name)
    injection, oracle = program_settings(task, "injection"), program_settings(task, "oracle")
    assert (injection.max_seq_len, oracle.max_seq_len) == HAND_COUNTED[name]
    assert not injection.max_seq_len_declared and not oracle.max_seq_len_declared
    if task.mlp_exactness is None:  # chosen per program; the same value for both here
        assert (
            injection.mlp_exactness
            == oracle.mlp_exactness
            == exactness_for(oracle.needed_exactness)
        )
    else:
        assert task.mlp_exactness >= oracle.needed_exactness  # count keeps its 100,000


def test_a_declared_length_is_checked_and_the_needed_one_named(capsys):
    parity = get_task("parity")
    assert dataclasses.replace(parity, injection_max_seq_len=40).injection_max_seq_len == 40
    short = dataclasses.replace(parity, injection_max_seq_len=32)
    with pytest.raises(TaskError) as err:
        compile_task(short, "injection")
    assert str(err.value) == (
        "task 'parity': injection_max_seq_len 32 is too small: the longest prompt + answer of "
        "train is 33 tokens of the default tokenizer; declare 33, or leave it out to have it "
        "computed"
    )


def test_token_span_bounds():
    tokenizer, name = default_tokenizer(), default_tokenizer_id()
    # prompt + answer: 8 tokens + 1 per letter ("Let", "ters", " a", ..., "\n", "An", "sw", "er",
    # ":", then " yes" or " no")
    spans = token_spans(ab_task(), tokenizer, name)
    assert spans["short"].covers == "every input" and spans["short"].bound == 9
    assert spans["train"].longest == spans["train"].bound == 11
    assert spans["train"].covers == "inputs up to length 3: 8 + 1/symbol"
    wider = dataclasses.replace(
        ab_task(),
        splits=[
            dataclasses.replace(s, max_length=6) if s.name == "train" else s
            for s in ab_task().splits.values()
        ],
    )  # the draw stops at 3 letters: the bound goes on to the declared 6
    train = token_spans(wider, tokenizer, name)["train"]
    assert (train.longest, train.bound) == (11, 14)
    counts = [len(tokenizer.encode(" " + " ".join(p))) for p in itertools.product("ab", repeat=3)]
    assert set(counts) == {3}  # one token per letter, as the affine fit assumes
