"""The pytest plugin (entry point ``pytest11``): a user's test file run by ``pytester`` with
``--tracr-model`` pointing at a tiny model, with accuracy thresholds, a hypothesis property over
``tracr_bench.task.strategies`` and the task fixtures."""

from __future__ import annotations

import pytest

from tests._tiny_lm import shared_tiny_lm

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def tiny_parity_lm(tmp_path_factory):
    return shared_tiny_lm(tmp_path_factory)


USER_TESTS = """
from hypothesis import given, settings
from tracr_bench.task import strategies


def test_threshold_met(tracr_model):
    acc = tracr_model.accuracy("parity", "test", limit=8)
    assert 0.0 <= acc <= 1.0


def test_threshold_missed(tracr_model):
    assert tracr_model.accuracy("parity", "length", limit=8) > 1.0


@settings(max_examples=5, deadline=None)
@given(inp=strategies.inputs("parity", "length"))
def test_property(tracr_model, tracr_task, inp):
    task = tracr_task("parity")
    answer = tracr_model.answer(task, inp)
    assert tracr_model.correct(task, inp) == (answer.strip() == task.target(inp).strip())


def test_tasks(tracr_tasks, tracr_model):
    assert "parity" in tracr_tasks
    assert tracr_model.path is not None and tracr_model.tokenizer is not None
    res = tracr_model.search_failures("parity", max_examples=5)
    assert res.tried >= 1
"""


def test_plugin_is_installed(request):
    """Loaded through its ``pytest11`` entry point (``pip install -e .`` registers it)."""
    plugin = request.config.pluginmanager.get_plugin("tracr_bench")
    assert plugin is not None, "the tracr_bench pytest plugin is not registered: pip install -e ."
    assert plugin.__name__ == "tracr_bench.evaluate.pytest_plugin"


def test_user_tests_with_tracr_model(pytester, tiny_parity_lm):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_inprocess(
        "--tracr-model", str(tiny_parity_lm), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*test_threshold_missed*"])
    result.stdout.fnmatch_lines([f"tracr-bench model: {tiny_parity_lm}"])


def test_bad_model_path_fails_clearly(pytester):
    pytester.makepyfile(
        test_user="def test_one(tracr_model):\n    pass\n\ndef test_two():\n    pass\n"
    )
    result = pytester.runpytest_inprocess("--tracr-model", "/nonexistent/model")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*--tracr-model: model path '/nonexistent/model' does not exist*"])


def test_option_in_help(pytester):
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(["*--tracr-model=PATH*"])
