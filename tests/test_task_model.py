"""The task model: registry, errors, deterministic and disjoint splits."""

from __future__ import annotations

import pytest

from tracr_bench.task import TaskError, all_tasks, examples_digest, get_task

PAPER_TASKS = {"shuffle_dyck", "count", "int_sum"}


def test_registry_has_paper_tasks_and_four_more():
    names = set(all_tasks())
    assert PAPER_TASKS <= names
    assert len(names - PAPER_TASKS) >= 4


def test_each_task_has_test_and_ood_splits():
    from tracr_bench.compiler.task_programs import program_settings

    for task in all_tasks().values():
        assert task.eval_splits[0] == "test"
        assert len(task.eval_splits) >= 3, task.name  # test + at least two OOD splits
        injection = program_settings(task, "injection").max_seq_len
        assert injection <= program_settings(task, "oracle").max_seq_len


def test_unknown_task_and_split_are_clear_errors():
    with pytest.raises(TaskError, match="unknown task 'nope'; choose from"):
        get_task("nope")
    task = get_task("count")
    with pytest.raises(TaskError, match="unknown split 'bogus' for task 'count'"):
        task.examples("bogus")


@pytest.mark.parametrize("name", sorted(all_tasks()))
def test_splits_are_deterministic_prefix_stable_and_labelled_by_solver(name):
    task = get_task(name)
    for split in task.splits:
        a = task.examples(split, size=30, seed=3)
        b = task.examples(split, size=30, seed=3)
        assert examples_digest(a) == examples_digest(b)
        assert a[:10] == task.examples(split, size=10, seed=3)
        assert examples_digest(a) != examples_digest(task.examples(split, size=30, seed=4)) or (
            task.splits[split].enumerate is not None
        )
        sp = task.splits[split]
        for ex in a:
            assert ex.target == task.target(ex.input)
            assert ex.prompt == task.prompt(ex.input)
            assert sp.min_length <= ex.length <= sp.max_length, (split, ex)


@pytest.mark.parametrize("name", sorted(all_tasks()))
def test_train_never_contains_an_evaluation_input(name):
    task = get_task(name)
    evaluation = {ex.input for s in task.eval_splits for ex in task.examples(s)}
    train = task.examples("train", size=5000)
    assert train, name
    assert not evaluation & {ex.input for ex in train}


@pytest.mark.parametrize("name", sorted(all_tasks()))
def test_default_split_sizes(name):
    task = get_task(name)
    for split in task.eval_splits:
        sp = task.splits[split]
        assert sp.size <= 4000
        assert len(task.examples(split)) == sp.size, split
