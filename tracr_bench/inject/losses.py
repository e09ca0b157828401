"""The three loss terms of tracr-injection and the detach-and-roll intervention.

Shapes: ``B`` batch, ``T`` LM positions, ``H`` LM hidden size, ``D`` compiled residual size.

Each loss is a sum over tokens divided by a ``denominator``, by default the count in the batch at
hand. A process of a data-parallel run holds a shard of the global batch and passes the global
batch's count, so that the processes' terms add up to the term of the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from tracr_bench.inject.config import InjectError

Denominator = Tensor | float | None


class ProjectionError(InjectError):
    """The projection onto the output subspace could not be computed (a non-finite adapter)."""


def answer_cross_entropy(
    logits: Tensor, ids: Tensor, answer_mask: Tensor, denominator: Denominator = None
) -> Tensor:
    """Mean cross-entropy of the answer tokens only. ``answer_mask[b, t]`` marks the tokens
    ``ids[b, t]`` that belong to the answer; they are predicted from position ``t - 1``."""
    pred = logits[:, :-1].float()
    labels = ids[:, 1:]
    mask = answer_mask[:, 1:]
    losses = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), labels.reshape(-1), reduction="none")
    mask = mask.reshape(-1).to(losses.dtype)
    if denominator is None:
        denominator = mask.sum()
    return (losses * mask).sum() / _at_least_one(denominator)


def algorithm_loss(
    hidden_states: list[Tensor] | tuple[Tensor, ...],
    residuals: list[Tensor],
    adapter: torch.nn.Linear,
    mask: Tensor,
    denominator: Denominator = None,
) -> Tensor:
    """Sum over layers i = 0..L (as in the paper) of the mean over real positions of
    ``1 - cos(A h_i, r_i)``.

    ``hidden_states[i]`` [B, T, H] is the LM's input to block i; ``residuals[i]`` [B, T, D] the
    compiled residual after i layers with the BOS position already dropped; ``mask`` [B, T] is
    True on real (non-padding) tokens."""
    weights = mask.to(torch.float32)
    denom = _at_least_one(weights.sum() if denominator is None else denominator)
    total = hidden_states[0].new_zeros((), dtype=torch.float32)
    for h, r in zip(hidden_states, residuals, strict=False):
        cos = F.cosine_similarity(adapter(h).float(), r.float(), dim=-1, eps=1e-8)
        total = total + ((1.0 - cos) * weights).sum() / denom
    return total


def kl_to_original(
    logits: Tensor, original_logits: Tensor, denominator: Denominator = None
) -> Tensor:
    """KL(p_original || p_model) per token, averaged over all positions."""
    logp = F.log_softmax(logits.float(), dim=-1)
    logq = F.log_softmax(original_logits.float(), dim=-1)
    kl = (logq.exp() * (logq - logp)).sum(-1)
    return kl.sum() / (kl.numel() if denominator is None else denominator)


def _at_least_one(count: Tensor | float) -> Tensor | float:
    return count.clamp_min(1.0) if isinstance(count, Tensor) else max(count, 1.0)


class OutputSubspace:
    """Projection onto the span of the adapter rows that read the program's output.

    With ``M`` [H, k] those rows transposed, ``P h = M (M^T M)^-1 M^T h``. Only the k x k Gram
    matrix is inverted (Cholesky, with a tiny ridge), never an H x H pseudo-inverse, so the cost
    is O(H k^2) per step: recomputing it every step (the adapter changes every step) is cheaper
    than any staleness check."""

    def __init__(self, adapter: torch.nn.Linear, rows: list[int], ridge: float = 1e-6) -> None:
        self.adapter = adapter
        self.rows = torch.tensor(rows, dtype=torch.long, device=adapter.weight.device)
        self.ridge = ridge
        self.m: Tensor | None = None
        self.chol: Tensor | None = None

    @torch.no_grad()
    def refresh(self) -> None:
        """Recompute the projection from the adapter's current rows; ProjectionError if the
        Cholesky factorisation fails (rows that are not finite)."""
        m = self.adapter.weight.index_select(0, self.rows).T.float()  # [H, k]
        gram = m.T @ m
        gram = gram + self.ridge * gram.diagonal().mean().clamp_min(1e-12) * torch.eye(
            gram.shape[0], device=gram.device
        )
        chol, info = torch.linalg.cholesky_ex(gram)
        if bool((info != 0) | ~torch.isfinite(chol).all()):  # one device sync
            finite = bool(torch.isfinite(m).all())
            raise ProjectionError(
                "the projection onto the output subspace failed (the Cholesky factorisation of "
                "the Gram matrix of the adapter's output rows"
                + ("" if finite else ", which are no longer finite")
                + ")"
            )
        self.m = m
        self.chol = chol

    def project(self, h: Tensor) -> Tensor:
        assert self.m is not None and self.chol is not None, "call refresh() first"
        m = self.m.to(h.dtype)
        coef = h @ m  # [..., k]
        sol = torch.cholesky_solve(coef.reshape(-1, coef.shape[-1]).T.float(), self.chol)
        return sol.T.reshape(coef.shape).to(h.dtype) @ m.T

    def matrix(self) -> Tensor:
        """P itself [H, H] (for tests and inspection)."""
        eye = torch.eye(self.m.shape[0], device=self.m.device)  # type: ignore[union-attr]
        return self.project(eye)


def detach_and_roll(
    h: Tensor, subspace: OutputSubspace, previous: Callable[[Tensor], Tensor] | None = None
) -> Tensor:
    """Keep the projection of ``h`` [B, T, H] onto the output subspace differentiable; detach the
    rest and roll it by one along the batch, so that only the subspace can carry an example's
    own answer to the later blocks.

    ``previous``, for a shard of a global batch: given this shard's last row of the rest
    [T, H], it returns the last row of the shard before (the last shard's, for the first), which
    the roll puts in row 0: the roll is then the global batch's roll."""
    projected = subspace.project(h)
    rest = (h - projected).detach()
    rolled = torch.roll(rest, shifts=1, dims=0)
    if previous is not None:
        rolled[0] = previous(rest[-1])
    return projected + rolled
