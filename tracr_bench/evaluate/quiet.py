"""What ``tracr-bench eval`` prints besides its table: third-party output silenced at its source.

In: whether the run is verbose and whether it shows progress. Out: nothing printed by lm-eval,
transformers or datasets on a normal run, and only the run's own labelled bars when progress
is on (``progress_wanted``: off with ``--no-progress`` or when stderr is not a terminal):

- ``offline`` (around the evaluation): no download unless asked for (``HF_*_OFFLINE`` set
  already wins; the caller's environment is restored after);
- ``quiet``: lm-eval's and transformers' logs at ERROR unless verbose; transformers'
  weight-loading bar and datasets' bars off (they are not stages of the evaluation);
- ``lm_eval_quiet`` (around ``simple_evaluate``): lm-eval's unlabelled per-task bar while it
  builds each task's requests, and its cache-check bar, do not show (the model's own bars,
  one per request type, are the run's); lm-eval's git-hash lookup (``git describe`` in the
  working folder, which prints ``fatal: not a git repository`` outside a checkout) runs with
  git's stderr discarded and records the same hash.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def progress_wanted(progress: bool) -> bool:
    """Bars only when asked for and stderr is a terminal (a log file gets no bar frames)."""
    stream = sys.stderr
    return bool(progress and stream is not None and hasattr(stream, "isatty") and stream.isatty())


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """While the block runs, the Hugging Face hub and datasets are offline unless the caller set
    ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE``; the environment is restored after (a Python
    caller's later downloads, and the processes it starts, are not affected)."""
    added = [name for name in OFFLINE_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = "1"
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def quiet(verbose: bool, progress: bool) -> None:
    """Third-party logs and bars off unless ``verbose`` (datasets' bars follow ``progress``)."""
    level = logging.INFO if verbose else logging.ERROR
    for name in ("lm_eval", "lm-eval"):
        logging.getLogger(name).setLevel(level)
    if not verbose:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if not progress:
        import datasets

        datasets.disable_progress_bars()


def git_hash() -> str | None:
    """lm-eval's ``get_git_commit_hash`` without git's complaint on stderr: ``git describe
    --always`` in the working folder, else the hash lm-eval reads from a ``.git`` folder."""
    from lm_eval.loggers.utils import get_commit_from_path

    try:
        out = subprocess.check_output(
            ["git", "describe", "--always"],  # noqa: S607 (as lm-eval runs it)
            stderr=subprocess.DEVNULL,
        )
        return out.strip().decode()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return get_commit_from_path(os.getcwd())


@contextlib.contextmanager
def lm_eval_quiet() -> Iterator[None]:
    """While the block runs: lm-eval's request-building and cache-check bars are off and its
    git-hash lookup is ``git_hash``."""
    import lm_eval.api.model as lm_model
    import lm_eval.api.task as lm_task
    import lm_eval.evaluator as lm_evaluator
    from tqdm import tqdm

    saved = [(lm_task, "tqdm"), (lm_model, "tqdm"), (lm_evaluator, "get_git_commit_hash")]
    originals = [getattr(module, name) for module, name in saved]
    quiet_bar = functools.partial(tqdm, disable=True)
    lm_task.tqdm = quiet_bar
    lm_model.tqdm = quiet_bar
    lm_evaluator.get_git_commit_hash = git_hash
    try:
        yield
    finally:
        for (module, name), original in zip(saved, originals, strict=True):
            setattr(module, name, original)


__all__ = ["git_hash", "lm_eval_quiet", "offline", "progress_wanted", "quiet"]
