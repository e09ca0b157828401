"""The three loss terms of tracr-injection and the detach-and-roll intervention.

Shapes: ``B`` batch, ``T`` LM positions, ``H`` LM hidden size, ``D`` compiled residual size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def answer_cross_entropy(logits: Tensor, ids: Tensor, answer_mask: Tensor) -> Tensor:
    """Mean cross-entropy of the answer tokens only. ``answer_mask[b, t]`` marks the tokens
    ``ids[b, t]`` that belong to the answer; they are predicted from position ``t - 1``."""
    pred = logits[:, :-1].float()
    labels = ids[:, 1:]
    mask = answer_mask[:, 1:]
    losses = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), labels.reshape(-1), reduction="none")
    mask = mask.reshape(-1).to(losses.dtype)
    return (losses * mask).sum() / mask.sum().clamp_min(1.0)


def algorithm_loss(
    hidden_states: list[Tensor] | tuple[Tensor, ...],
    residuals: list[Tensor],
    adapter: torch.nn.Linear,
    mask: Tensor,
) -> Tensor:
    """Sum over layers i = 0..L (as in the paper) of the mean over real positions of
    ``1 - cos(A h_i, r_i)``.

    ``hidden_states[i]`` [B, T, H] is the LM's input to block i; ``residuals[i]`` [B, T, D] the
    compiled residual after i layers with the BOS position already dropped; ``mask`` [B, T] is
    True on real (non-padding) tokens."""
    weights = mask.to(torch.float32)
    denom = weights.sum().clamp_min(1.0)
    total = hidden_states[0].new_zeros((), dtype=torch.float32)
    for h, r in zip(hidden_states, residuals, strict=False):
        cos = F.cosine_similarity(adapter(h).float(), r.float(), dim=-1, eps=1e-8)
        total = total + ((1.0 - cos) * weights).sum() / denom
    return total


def kl_to_original(logits: Tensor, original_logits: Tensor) -> Tensor:
    """KL(p_original || p_model) per token, averaged over all positions."""
    logp = F.log_softmax(logits.float(), dim=-1)
    logq = F.log_softmax(original_logits.float(), dim=-1)
    kl = (logq.exp() * (logq - logp)).sum(-1)
    return kl.mean()


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
        m = self.adapter.weight.index_select(0, self.rows).T.float()  # [H, k]
        gram = m.T @ m
        gram = gram + self.ridge * gram.diagonal().mean().clamp_min(1e-12) * torch.eye(
            gram.shape[0], device=gram.device
        )
        self.m = m
        self.chol = torch.linalg.cholesky(gram)

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


def detach_and_roll(h: Tensor, subspace: OutputSubspace) -> Tensor:
    """Keep the projection of ``h`` [B, T, H] onto the output subspace differentiable; detach the
    rest and roll it by one along the batch, so that only the subspace can carry an example's
    own answer to the later blocks."""
    projected = subspace.project(h)
    rest = (h - projected).detach()
    return projected + torch.roll(rest, shifts=1, dims=0)
