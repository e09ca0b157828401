"""The ``lm-eval`` engine of ``tracr-bench eval``: lm-eval's own ``HFLM``, with the run's
progress setting and a check that the model's logits are finite.

In: what ``HFLM`` takes, plus ``progress``. Out: lm-eval's answers, unchanged; its bars only
with progress on (lm-eval shows them whenever it is not told otherwise, and one more per batch
of rolling log-likelihoods: never here). ``check_finite`` (shared with the fast engine) raises
one ``ModelError`` line naming the tasks of the first batch whose logits hold a NaN or an
infinity, instead of a run that reports "perplexity nan". Here it sees the log-likelihood
forward passes (retention); lm-eval's generation hands back tokens, not logits.
"""

from __future__ import annotations

import torch
from lm_eval.models.huggingface import HFLM

from tracr_bench.models import ModelError


def check_finite(logits: torch.Tensor, where: str) -> None:
    """``ModelError`` when ``logits`` hold a NaN or an infinity (one reduction per batch)."""
    if not bool(torch.isfinite(logits).all()):
        bad = int((~torch.isfinite(logits)).sum())
        raise ModelError(
            f"the model's logits are not finite ({bad} NaN or infinite values) in the first "
            f"batch of {where}: its weights are broken (e.g. a training run that diverged); "
            "evaluate an earlier checkpoint, or retrain with a lower --lr"
        )


def batch_tasks(requests) -> str:
    """The lm-eval tasks of a batch of requests, for an error message."""
    names = sorted({getattr(r, "task_name", None) or "?" for r in requests})
    return ", ".join(names)


class ReferenceHFLM(HFLM):
    """``HFLM`` whose bars follow ``progress`` and whose log-likelihood forward passes are
    checked."""

    def __init__(self, *args, progress: bool = True, **kwargs):
        self.progress = progress
        self._where = "the requests"
        super().__init__(*args, **kwargs)

    def _model_call(self, inps, attn_mask=None, labels=None):
        logits = super()._model_call(inps, attn_mask=attn_mask, labels=labels)
        check_finite(logits, self._where)
        return logits

    def generate_until(self, requests, disable_tqdm: bool = False):
        self._where = batch_tasks(requests)
        return super().generate_until(requests, disable_tqdm=disable_tqdm or not self.progress)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        self._where = batch_tasks(requests)
        quiet = disable_tqdm or not self.progress
        return super().loglikelihood_rolling(requests, disable_tqdm=quiet)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
        # lm-eval's rolling log-likelihood calls this once per batch with its bar on: a new
        # bar per batch; off here (the rolling requests keep their own bar)
        quiet = disable_tqdm or not self.progress or override_bs is not None
        return super()._loglikelihood_tokens(requests, disable_tqdm=quiet, override_bs=override_bs)

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        self._where = batch_tasks(requests)
        return super().loglikelihood(requests, disable_tqdm=disable_tqdm or not self.progress)


__all__ = ["ReferenceHFLM", "batch_tasks", "check_finite"]
