"""Split checks for the paper's three tasks: shuffle_dyck, count and int_sum.

Task-specific properties only (prompt and answer format, length ranges, what makes each
out-of-distribution split what it is, label balance); the compiled programs are
tested generically over all tasks elsewhere.
Determinism, prefix stability and train/evaluation disjointness are checked for every task in
tests/test_task_model.py.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import tracr_bench_tasks.count as count
import tracr_bench_tasks.int_sum as int_sum
import tracr_bench_tasks.shuffle_dyck as shuffle_dyck

MODULES = [shuffle_dyck, count, int_sum]
EVAL_SIZE = 1_000  # a prefix of each evaluation split is enough for these checks
TRAIN_SIZE = 2_000


def _examples(task, split, seed=0):
    size = TRAIN_SIZE if split == "train" else min(EVAL_SIZE, task.split(split).size)
    return task.examples(split, size=size, seed=seed)


@pytest.mark.parametrize("mod", MODULES, ids=lambda m: m.TASK.name)
def test_split_sizes_and_lengths(mod):
    task = mod.TASK
    assert task.name == mod.__name__.rsplit(".", 1)[1]
    assert task.splits["train"].size >= 50_000
    for name, sp in task.splits.items():
        if name not in ("train", "x_only"):
            assert sp.size == 4_000, name
        exs = _examples(task, name)
        assert len(exs) == (TRAIN_SIZE if name == "train" else min(EVAL_SIZE, sp.size)), name
        assert len({e.input for e in exs}) == len(exs), f"{name}: duplicate inputs"
        for e in exs:
            assert sp.min_length <= e.length <= sp.max_length, (name, e.input)
            assert e.target == task.target(e.input) and e.prompt == task.prompt(e.input)
        lengths = [e.length for e in exs]
        if name != "decimals":
            assert min(lengths) < max(lengths), f"{name}: lengths do not vary"


# ---------------------------------------------------------------------------- shuffle_dyck

DYCK_PROMPT = re.compile(r"Are parenthesis here correctly matched\? ([()\[\]{}<>]+)\nAnswer:")


def test_shuffle_dyck_format():
    task = shuffle_dyck.TASK
    for name in task.splits:
        for e in _examples(task, name):
            m = DYCK_PROMPT.fullmatch(e.prompt)
            assert m and m.group(1) == "".join(e.input), e.prompt
            assert e.target in (" yes", " no")
            assert task.answer_units(e.target) == [e.target.strip()]
    assert task.prompt(tuple("([)]")) == "Are parenthesis here correctly matched? ([)]\nAnswer:"


@pytest.mark.parametrize(
    "s, want",
    [("()", True), ("([)]", True), ("([{}])", True), ("(]", False), (")(", False),
     ("(((", False), ("[(])", True), ("(<)>", True), ("(<)", False), ("", True)],
)  # fmt: skip
def test_shuffle_dyck_reference_solver(s, want):
    assert shuffle_dyck.is_balanced(tuple(s)) is want
    assert shuffle_dyck.target(tuple(s)) == (" yes" if want else " no")


def test_shuffle_dyck_label_balance_and_alphabets():
    task = shuffle_dyck.TASK
    three, four = set("()[]{}"), set("()[]{}<>")
    for name in ("train", "test", "length", "new_token"):
        exs = _examples(task, name)
        yes = sum(e.target == " yes" for e in exs) / len(exs)
        assert 0.4 <= yes <= 0.6, (name, yes)
        used = set().union(*(set(e.input) for e in exs))
        assert used == (four if name == "new_token" else three), name
    new = _examples(task, "new_token")
    assert sum(bool(set(e.input) & set("<>")) for e in new) > 0.8 * len(new)
    assert max(e.length for e in _examples(task, "length")) > shuffle_dyck.MAX_LEN
    assert task.splits["new_token"].oracle_exempt
    assert all(task.splits[s].oracle_exempt is None for s in task.splits if s != "new_token")


def test_shuffle_dyck_almost_balanced():
    exs = _examples(shuffle_dyck.TASK, "almost_balanced")
    assert all(e.target == " no" for e in exs)
    assert all(e.length % 2 == 1 and 15 <= e.length <= 89 for e in exs)
    for e in exs[:200]:  # restoring the dropped closing bracket balances the string
        closers = [p[1] for p in shuffle_dyck.PAIRS]
        assert any(shuffle_dyck.is_balanced(e.input + (c,)) for c in closers), e.input


# ---------------------------------------------------------------------------- count

COUNT_PROMPT = re.compile(r"What is the number of 'X' in this text\? ([xyz]( [xyz])*)\nAnswer:")


def test_count_format():
    task = count.TASK
    for name in task.splits:
        for e in _examples(task, name):
            m = COUNT_PROMPT.fullmatch(e.prompt)
            assert m and m.group(1).split(" ") == list(e.input), e.prompt
            n = e.input.count("x")
            assert e.target == f" {n}"
            assert task.answer_units(e.target) == list(str(n))
    assert task.answer_units(" 12") == ["1", "2"]
    assert task.prompt(("x", "y")) == "What is the number of 'X' in this text? x y\nAnswer:"


def test_count_splits():
    task = count.TASK
    for name in ("train", "test", "length"):
        exs = _examples(task, name)
        assert all("y" in e.input and set(e.input) <= {"x", "y"} for e in exs), name
        assert len({e.input.count("x") for e in exs}) > 20, name
    assert max(e.length for e in _examples(task, "length")) > count.MAX_LEN
    x_only = task.examples("x_only")
    assert [e.input for e in x_only] == [("x",) * n for n in range(1, 41)]
    assert [e.target for e in x_only] == [f" {n}" for n in range(1, 41)]
    z = _examples(task, "replace_y")
    assert all("z" in e.input and "y" not in e.input for e in z)
    assert all(set(e.input) <= {"x", "z"} for e in z)


# ---------------------------------------------------------------------------- int_sum

SUM_PROMPT = re.compile(r"(\d+(?:\.\d\d)?) \+ (\d+(?:\.\d\d)?) =")


def _operands(e):
    m = SUM_PROMPT.fullmatch(e.prompt)
    assert m, e.prompt
    assert "".join(e.input) == f"{m.group(1)}+{m.group(2)}"
    return m.group(1), m.group(2)


def test_int_sum_format():
    task = int_sum.TASK
    for name in ("train", "test", "length", "cascading_overflow"):
        for e in _examples(task, name):
            a, b = _operands(e)
            assert str(int(a)) == a and str(int(b)) == b  # no leading zeros, no decimals
            assert e.target == f" {int(a) + int(b)}"
            assert task.answer_units(e.target) == list(str(int(a) + int(b)))
    assert task.prompt(tuple("12+449")) == "12 + 449 ="
    assert task.target(tuple("12+449")) == " 461"
    assert task.answer_units(" 4.75") == ["4", ".", "7", "5"]


def test_int_sum_operand_ranges():
    task = int_sum.TASK
    for name in ("train", "test"):
        ops = [int(x) for e in _examples(task, name) for x in _operands(e)]
        assert 0 <= min(ops) and max(ops) < 450 and max(ops) > 400, name
    ops = [x for e in _examples(task, "length") for x in _operands(e)]
    assert max(len(x) for x in ops) == 4 and min(len(x) for x in ops) == 1
    assert sum(len(x) == 4 for x in ops) > 0.2 * len(ops)


def test_int_sum_cascading_overflow():
    task = int_sum.TASK
    exs = _examples(task, "cascading_overflow")
    ks = Counter()
    for e in exs:
        a, b = (int(x) for x in _operands(e))
        assert a > 0 and b > 0 and (a + b) % 100 == 0 and 1 <= (a + b) // 100 <= 9
        ks[(a + b) // 100] += 1
    assert set(ks) == set(range(1, 10))
    assert len(int_sum._CASCADE) >= task.splits["cascading_overflow"].size


def test_int_sum_decimals():
    task = int_sum.TASK
    for e in _examples(task, "decimals"):
        assert re.fullmatch(r"\d\.\d\d \+ \d\.\d\d =", e.prompt), e.prompt
        assert re.fullmatch(r" \d{1,2}\.\d\d", e.target), e.target
        a, b = _operands(e)
        cents = round(float(a) * 100) + round(float(b) * 100)
        assert e.target == f" {cents // 100}.{cents % 100:02d}"
        assert task.answer_units(e.target) == list(e.target.strip())
    assert task.target(tuple("0.05+0.95")) == " 1.00"
    assert task.target(tuple("9.99+9.99")) == " 19.98"
