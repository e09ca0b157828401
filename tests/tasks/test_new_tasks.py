"""Split checks for the tasks whose programs come from outside this project: is_sorted, dyck1,
hist, unique and most_frequent (tracr's library and the TracrBench suite).

Task-specific properties only (prompt and answer format, what makes each out-of-distribution
split what it is, label balance, that the prompt's own words carry no program
symbol); the compiled programs are tested generically over all tasks elsewhere.
Determinism, prefix stability and train/evaluation disjointness are checked for every task in
tests/test_task_model.py.
"""

from __future__ import annotations

from collections import Counter

import pytest
import tracr_bench_tasks.dyck1 as dyck1
import tracr_bench_tasks.hist as hist
import tracr_bench_tasks.is_sorted as is_sorted
import tracr_bench_tasks.most_frequent as most_frequent
import tracr_bench_tasks.unique as unique

MODULES = [is_sorted, dyck1, hist, unique, most_frequent]
EVAL_SIZE = 1_000  # a prefix of each evaluation split is enough for these checks
TRAIN_SIZE = 2_000


def _examples(task, split):
    return task.examples(split, size=TRAIN_SIZE if split == "train" else EVAL_SIZE)


def _yes_share(exs) -> float:
    labels = Counter(x.target for x in exs)
    assert set(labels) <= {" yes", " no"}
    return labels[" yes"] / len(exs)


@pytest.mark.parametrize("mod", MODULES, ids=lambda m: m.TASK.name)
def test_splits_sizes_lengths_symbols_and_origin(mod):
    task = mod.TASK
    assert task.name == mod.__name__.rsplit(".", 1)[1]
    assert "Origin:" in mod.__doc__ and len(task.eval_splits) >= 3
    assert all(sp.oracle_exempt is None for sp in task.splits.values())
    alphabet = set(task.token_map.symbols) | set("[]{}")  # dyck1's distractors are fillers
    for name, sp in task.splits.items():
        assert sp.size == (50_000 if name == "train" else 4_000), name
        exs = _examples(task, name)
        assert len({e.input for e in exs}) == len(exs) == min(len(exs), sp.size), name
        for e in exs:
            assert sp.min_length <= e.length <= sp.max_length, (name, e.input)
            assert set(e.input) <= alphabet, (name, e.input)
            assert e.prompt.endswith(task.token_map.trigger) and e.target.startswith(" ")


@pytest.mark.parametrize("mod", MODULES, ids=lambda m: m.TASK.name)
def test_prompt_has_no_program_symbols_outside_the_input(mod, default_tokenizer):
    """Only the input's symbols and the final trigger become program symbols."""
    from tracr_bench.compiler.token_translation import Translator

    task, tm = mod.TASK, mod.TASK.token_map
    tr = Translator(task, default_tokenizer)
    for name in task.eval_splits:
        for e in task.examples(name, size=30):
            te = tr.encode_example(e)
            symbols = te.symbols[1 : te.answer_positions[0] + 1]
            wanted = [tm.symbols[c] for c in e.input if c in tm.symbols] + [tm.trigger_symbol]
            assert [s for s in symbols if s != tm.filler] == wanted, (name, e.prompt)


def test_is_sorted_splits():
    task = is_sorted.TASK
    assert task.example(tuple("1337")).target == " yes"
    assert task.example(tuple("1373")).target == " no"
    for name in task.splits:
        assert 0.4 <= _yes_share(_examples(task, name)) <= 0.6, name
    for name in ("train", "test", "length", "one_swap"):
        assert all(set(x.input) <= set(is_sorted.TRAIN_DIGITS) for x in _examples(task, name))
    assert all(set(x.input) & set("89") for x in _examples(task, "new_digits"))
    for x in _examples(task, "one_swap"):
        descents = [i for i in range(x.length - 1) if x.input[i] > x.input[i + 1]]
        assert len(descents) == (x.target == " no"), x.input
        if descents:
            i = descents[0]
            fixed = x.input[:i] + (x.input[i + 1], x.input[i]) + x.input[i + 2 :]
            assert list(fixed) == sorted(x.input)


def test_dyck1_splits():
    task = dyck1.TASK
    assert [task.target(tuple(s)) for s in ("(()())", "())(()", "(()", "")] == [
        " yes",
        " no",
        " no",
        " yes",
    ]
    for name in task.splits:
        assert 0.45 <= _yes_share(_examples(task, name)) <= 0.55, name
    for x in _examples(task, "near_miss"):
        assert x.input.count("(") == x.input.count(")")
    for x in _examples(task, "distractors"):
        rounds = tuple(c for c in x.input if c in "()")
        assert set(x.input) - set("()") and x.target == task.target(rounds)
    assert min(x.length for x in _examples(task, "length")) > task.splits["test"].max_length


def test_hist_splits():
    task = hist.TASK
    e = task.example(tuple("xyxz"))
    assert e.target == " 2 1 2 1" and task.answer_units(e.target) == ["2", "1", "2", "1"]
    for name in task.splits:
        assert all(max(Counter(x.input).values()) <= 9 for x in _examples(task, name)), name
    assert all("w" in x.input for x in _examples(task, "new_letter"))
    assert all("w" not in x.input for x in _examples(task, "test"))

    def top_share(exs) -> float:
        return sum(max(Counter(x.input).values()) / x.length for x in exs) / len(exs)

    assert top_share(_examples(task, "skewed")) > 0.7 > 0.6 > top_share(_examples(task, "test"))


def test_unique_splits():
    task = unique.TASK
    e = task.example(tuple("31341"))
    assert e.prompt.endswith(": 3 1 3 4 1 =") and e.target == " 3 1 4"
    for x in _examples(task, "no_repeats"):
        assert x.target == " " + " ".join(x.input)
    for x in _examples(task, "repeated_block"):
        block = x.target.split()
        assert tuple(block) * (x.length // len(block)) == x.input and x.length > len(block)
    assert sum(len(set(x.input)) < x.length for x in _examples(task, "train")) > TRAIN_SIZE // 2


def test_most_frequent_splits():
    task = most_frequent.TASK
    assert task.example(tuple("xyyzy")).target == " y"
    for name in task.splits:
        for x in _examples(task, name):
            top = Counter(x.input).most_common(2) + [("", 0)]
            assert top[0][1] > top[1][1] and x.target == " " + top[0][0], (name, x.input)
    for x in _examples(task, "near_tie"):
        top = Counter(x.input).most_common(2) + [("", 0)]
        assert top[0][1] - top[1][1] == 1
    new = _examples(task, "new_letter")
    assert all("w" in x.input for x in new) and any(x.target == " w" for x in new)
