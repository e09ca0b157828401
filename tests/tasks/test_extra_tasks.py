"""Split checks for the extra tasks: reverse, sort, parity and pattern.

Task-specific properties only (prompt and answer format, length ranges, what makes each
out-of-distribution split what it is, label balance); the compiled programs are
tested generically over all tasks elsewhere.
Determinism, prefix stability and train/evaluation disjointness are checked for every task in
tests/test_task_model.py.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import tracr_bench_tasks.parity as parity
import tracr_bench_tasks.pattern as pattern
import tracr_bench_tasks.reverse as reverse
import tracr_bench_tasks.sort as sort

from tracr_bench.compiler.task_programs import program_settings

MODULES = [reverse, sort, parity, pattern]
EVAL_SIZE = 1_000  # a prefix of each evaluation split is enough for these checks
TRAIN_SIZE = 2_000


def _examples(task, split):
    size = TRAIN_SIZE if split == "train" else min(EVAL_SIZE, task.split(split).size)
    return task.examples(split, size=size)


@pytest.mark.parametrize("mod", MODULES, ids=lambda m: m.TASK.name)
def test_splits_sizes_lengths_and_symbols(mod):
    task = mod.TASK
    assert task.name == mod.__name__.rsplit(".", 1)[1]
    assert {"train", "test"} <= set(task.splits) and len(task.eval_splits) >= 3
    alphabet = set(task.token_map.symbols)
    for name, sp in task.splits.items():
        exs = _examples(task, name)
        want = TRAIN_SIZE if name == "train" else min(EVAL_SIZE, sp.size)
        assert len(exs) == want, name
        assert len({e.input for e in exs}) == len(exs), f"{name}: duplicate inputs"
        for e in exs:
            assert sp.min_length <= e.length <= sp.max_length, (name, e.input)
            assert set(e.input) <= alphabet, (name, e.input)
            assert e.prompt.endswith(task.token_map.trigger)
            assert e.target.startswith(" ") and e.target == task.target(e.input)
        assert sp.oracle_exempt is None  # every split stays inside the program's vocabulary
    injection = program_settings(task, "injection").max_seq_len
    assert injection <= program_settings(task, "oracle").max_seq_len


@pytest.mark.parametrize("mod", MODULES, ids=lambda m: m.TASK.name)
def test_prompt_has_no_program_symbols_outside_the_input(mod, request):
    """Only the input's symbols and the final trigger become program symbols."""
    from tracr_bench.compiler.token_translation import Translator

    try:
        default_tokenizer = request.getfixturevalue("default_tokenizer")
    except Exception as err:  # the default LM is not built in this checkout
        pytest.skip(f"default tokenizer unavailable: {err}")

    task = mod.TASK
    tr = Translator(task, default_tokenizer)
    tm = task.token_map
    for e in _examples(task, "test")[:50] + _examples(task, task.eval_splits[1])[:50]:
        te = tr.encode_example(e)
        trigger = te.answer_positions[0]
        prompt_syms = [s for s in te.symbols[1 : trigger + 1] if s != tm.filler]
        assert prompt_syms == [tm.symbols[c] for c in e.input] + [tm.trigger_symbol]
        assert te.answer_units == e.target.split()


# ---------------------------------------------------------------------------------- reverse


def test_reverse_format_and_splits():
    task = reverse.TASK
    e = task.example(("3", "1", "4"))
    assert e.prompt == "Reverse the digits: 3 1 4 =" and e.target == " 4 1 3"
    assert task.answer_units(e.target) == ["4", "1", "3"]
    train_digits = set(reverse.TRAIN_DIGITS)
    for name in ("train", "test", "length", "repeats"):
        assert all(set(x.input) <= train_digits for x in _examples(task, name)), name
    lengths = {x.length for x in _examples(task, "length")}
    assert min(lengths) > reverse.MAX_LEN and max(lengths) == reverse.OOD_MAX_LEN
    for x in _examples(task, "new_digits"):
        assert set(x.input) & set(reverse.NEW_DIGITS)
    for x in _examples(task, "repeats"):
        assert len(set(x.input)) <= 2
        runs = [len(list(g)) for _, g in itertools.groupby(x.input)]
        assert all(r >= 2 for r in runs[:-1])  # only the last run may be cut short


# ------------------------------------------------------------------------------------- sort


def test_sort_format_and_splits():
    task = sort.TASK
    e = task.example(("3", "1", "4", "1"))
    assert e.prompt == "Sort the digits: 3 1 4 1 =" and e.target == " 1 1 3 4"
    lengths = {x.length for x in _examples(task, "length")}
    assert min(lengths) > sort.MAX_LEN and max(lengths) == sort.OOD_MAX_LEN
    for x in _examples(task, "sorted"):
        assert list(x.input) == sorted(x.input) and x.target == " " + " ".join(x.input)
    for x in _examples(task, "descending"):
        assert list(x.input) == sorted(x.input, reverse=True)
    train = _examples(task, "train")
    assert sum(len(set(x.input)) < x.length for x in train) > len(train) // 2  # duplicates kept
    assert sum(list(x.input) == sorted(x.input) for x in train) < len(train) // 20


# ----------------------------------------------------------------------------------- parity


def _yes_share(exs) -> float:
    labels = Counter(x.target for x in exs)
    assert set(labels) <= {" yes", " no"}
    return labels[" yes"] / len(exs)


def test_parity_format_and_splits():
    task = parity.TASK
    assert task.target(("1", "0", "1", "1")) == " yes"
    assert task.target(("1", "0", "0", "1")) == " no"
    assert task.example(("1", "0")).prompt.endswith("odd? 1 0\nAnswer:")
    for name in task.splits:
        assert 0.45 <= _yes_share(_examples(task, name)) <= 0.55, name
    lengths = {x.length for x in _examples(task, "length")}
    assert min(lengths) > parity.MAX_LEN and max(lengths) == parity.OOD_MAX_LEN

    def minority_share(exs) -> float:
        return sum(min(x.input.count("1"), x.input.count("0")) / x.length for x in exs) / len(exs)

    assert minority_share(_examples(task, "skewed")) < 0.22
    assert minority_share(_examples(task, "test")) > 0.3


# ---------------------------------------------------------------------------------- pattern


def test_pattern_solver_and_counts():
    assert pattern.has_aba("xyx") and pattern.has_aba("yyxzx")
    assert not pattern.has_aba("xyyx") and not pattern.has_aba("xxx") and not pattern.has_aba("")
    for letters in (2, 3):
        for n in range(8):
            brute = sum(
                not pattern.has_aba(s) for s in itertools.product("xyz"[:letters], repeat=n)
            )
            assert pattern._count_pattern_free(n, letters) == brute


def test_pattern_format_and_splits():
    task = pattern.TASK
    assert task.example(("x", "y", "x")).target == " yes"
    assert task.example(("x", "y", "y", "x")).target == " no"
    assert task.example(("x", "x", "x")).target == " no"
    for name in task.splits:
        share = _yes_share(_examples(task, name))
        assert 0.42 <= share <= 0.58, (name, share)
    for name in ("train", "test", "length", "one_flip"):
        assert all(set(x.input) <= {"x", "y"} for x in _examples(task, name)), name
    assert any("z" in x.input for x in _examples(task, "new_letter"))
    lengths = {x.length for x in _examples(task, "length")}
    assert min(lengths) > pattern.MAX_LEN and max(lengths) == pattern.OOD_MAX_LEN
    # one_flip positives are one letter away from a pattern-free string
    for x in _examples(task, "one_flip")[:200]:
        if x.target == " yes":
            flips = (
                x.input[:i] + ("y" if c == "x" else "x",) + x.input[i + 1 :]
                for i, c in enumerate(x.input)
            )
            assert any(not pattern.has_aba(f) for f in flips), x.input
