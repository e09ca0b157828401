"""lm-eval's record of the environment, collected while the model loads instead of after the run.

``lm_eval.simple_evaluate`` ends by adding ``pretty_env_info`` to the results (torch's
``collect_env``: about ten subprocesses, ``pip list`` among them; a quarter of a second or more,
as long as a few forward passes of the default LM on the CPU). The text does not depend on the
run, so ``EnvInfo`` starts collecting it in a thread when the evaluation starts, and ``serving``
hands the collected text to lm-eval's own ``add_env_info`` when it asks: the results file holds
what lm-eval would have written.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class EnvInfo:
    """torch's ``get_pretty_env_info()``, collected in a background thread."""

    def __init__(self) -> None:
        self._text: str | None = None
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        try:
            from torch.utils.collect_env import get_pretty_env_info

            self._text = get_pretty_env_info()
        except Exception as err:  # as lm-eval records it: the error's text
            self._text = str(err)

    def text(self) -> str:
        self._thread.join()
        return self._text or ""

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """While the block runs, ``get_pretty_env_info()`` (which lm-eval imports when it adds
        the environment to the results) returns the collected text."""
        import torch.utils.collect_env as collect_env

        original = collect_env.get_pretty_env_info
        collect_env.get_pretty_env_info = self.text
        try:
            yield
        finally:
            collect_env.get_pretty_env_info = original


__all__ = ["EnvInfo"]
