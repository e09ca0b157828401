"""pytest plugin (entry point ``pytest11``): test a model's algorithmic behaviour with pytest.

Options: ``--tracr-model PATH`` (a local Hugging Face causal LM folder, or ``default``, the
shipped LM; the default), ``--tracr-device`` (default ``cpu``), ``--tracr-batch-size``.

Fixtures:

- ``tracr_model`` (session): a ``tracr_bench.evaluate.runner.ModelRunner`` with ``.model``,
  ``.tokenizer``, ``.accuracy(task, split, limit=...)``, ``.answer(task, input)``,
  ``.correct(task, input)`` and ``.search_failures(task, max_examples=...)`` (the search of
  ``tracr-bench search``); the model is loaded once, on first use;
- ``tracr_task``: a factory, ``tracr_task("parity")`` -> the ``Task``;
- ``tracr_tasks``: every registered task, by name.

Example::

    from hypothesis import given, settings
    from tracr_bench.task import strategies

    def test_dyck_length(tracr_model):
        assert tracr_model.accuracy("shuffle_dyck", "length", limit=50) >= 0.5

    @settings(max_examples=20, deadline=None)
    @given(inp=strategies.inputs("parity", "test"))
    def test_parity_in_distribution(tracr_model, inp):
        assert tracr_model.correct("parity", inp)

This module is imported by every pytest run of an environment with tracr-bench installed, so it
imports nothing heavy at module level.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tracr-bench", "tracr-bench: test a language model on RASP tasks")
    group.addoption(
        "--tracr-model",
        default="default",
        metavar="PATH",
        help="the model of the tracr_model fixture: a local HF causal LM folder or 'default' "
        "(the shipped LM; default)",
    )
    group.addoption("--tracr-device", default="cpu", help="device of tracr_model (default cpu)")
    group.addoption(
        "--tracr-batch-size", type=int, default=16, help="generation batch size (default 16)"
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    model = config.getoption("tracr_model", default=None)
    return f"tracr-bench model: {model}" if model not in (None, "default") else None


@pytest.fixture(scope="session")
def tracr_model(request: pytest.FixtureRequest):
    """The ``--tracr-model`` LM, loaded once per session (a ``ModelRunner``)."""
    from tracr_bench.evaluate.runner import ModelRunner
    from tracr_bench.models import ModelError
    from tracr_bench.task import TaskError

    opt = request.config.getoption
    try:
        return ModelRunner.load(
            opt("tracr_model"), device=opt("tracr_device"), batch_size=opt("tracr_batch_size")
        )
    except (ModelError, TaskError) as err:
        pytest.fail(f"--tracr-model: {err}", pytrace=False)


@pytest.fixture(scope="session")
def tracr_tasks():
    """Every registered task, by name."""
    from tracr_bench.task import all_tasks

    return dict(all_tasks())


@pytest.fixture(scope="session")
def tracr_task():
    """A factory: ``tracr_task(name)`` -> the ``Task`` (unknown names fail the test)."""
    from tracr_bench.task import TaskError, get_task

    def get(name: str):
        try:
            return get_task(name)
        except TaskError as err:
            pytest.fail(str(err), pytrace=False)

    return get
