"""Retention scored fast: lm-eval's ``loglikelihood_rolling`` figures, batched by length.

The same rolling windows as lm-eval (``get_rolling_token_windows`` + ``make_disjoint_window``,
context 1, the model's max length), scored with the same log-softmax and sums, but sorted by
length across documents so that short last windows are batched together instead of padded to
the full length, without a KV cache, without lm-eval's per-token argmax and with logits only
from the first scored position of each batch on. The figures agree with lm-eval's to float
rounding (the batches differ, so the matrix products are summed in another order).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lm_eval import utils as lm_utils
from tqdm import tqdm


def rolling_loglikelihoods(
    lm, texts: list[str], disable_tqdm: bool = False, where: str = ""
) -> list[float]:
    """The log-likelihood of each text under ``lm`` (a ``FastHFLM``), as lm-eval's
    ``HFLM.loglikelihood_rolling`` computes it (``where``: the requests' tasks, named if the
    model's logits are not finite)."""
    windows = _windows(lm, texts)
    # long inputs first; among equal lengths, long continuations first, so that the last
    # window of each document (full context, few scored tokens) shares batches
    order = sorted(range(len(windows)), key=lambda w: (-len(windows[w][1]), -len(windows[w][2])))
    scores: list[float] = [0.0] * len(windows)
    pbar = tqdm(
        total=len(windows), disable=disable_tqdm, desc="Running loglikelihood_rolling (fast)"
    )
    for start in range(0, len(order), lm.batch_size):
        batch = order[start : start + lm.batch_size]
        scored = _score_batch(lm, [windows[w] for w in batch], where)
        for w, score in zip(batch, scored, strict=True):
            scores[w] = score
        pbar.update(len(batch))
    pbar.close()
    totals = [0.0] * len(texts)
    for w, (r, _, _) in enumerate(windows):  # summed per document in window order, as lm-eval
        totals[r] += scores[w]
    return totals


def _windows(lm, texts: list[str]) -> list[tuple[int, list[int], list[int]]]:
    """(text index, model input, scored continuation) of every rolling window, in order."""
    windows = []
    for r, text in enumerate(texts):
        for ctx, cont in map(
            lm_utils.make_disjoint_window,
            lm_utils.get_rolling_token_windows(
                token_list=lm.tok_encode(text),
                prefix_token=lm.prefix_token_id,
                max_seq_len=lm.max_length,
                context_len=1,
            ),
        ):
            windows.append((r, (ctx + cont)[-(lm.max_length + 1) :][:-1], cont))
    return windows


def _score_batch(lm, batch: list[tuple[int, list[int], list[int]]], where: str) -> list[float]:
    """The summed log-probability of each window's continuation, in one forward pass over the
    batch (right-padded to its longest input, logits from its first scored position on)."""
    width = len(batch[0][1])
    ids = torch.full((len(batch), width), lm._pad_id(), dtype=torch.long)
    for row, (_, inp, _) in enumerate(batch):
        ids[row, : len(inp)] = torch.tensor(inp, dtype=torch.long)
    keep = max(width - len(inp) + len(cont) for _, inp, cont in batch)
    logits = lm._forward(ids, keep=keep, where=where)
    scores = []
    for row, (_, inp, cont) in enumerate(batch):
        end = keep - (width - len(inp))  # the row's last input position, in ``logits``
        logp = F.log_softmax(logits[row, end - len(cont) : end], dim=-1, dtype=lm.softmax_dtype)
        target = torch.tensor(cont, dtype=torch.long, device=logp.device)
        scores.append(float(torch.gather(logp, 1, target.unsqueeze(-1)).squeeze(-1).sum()))
    return scores
