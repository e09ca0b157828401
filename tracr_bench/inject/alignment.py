"""The per-variable algorithm losses (``--algorithm-loss``).

Program residual i (after i layers, i = 0..L) is aligned with the LM's hidden state i, the input
of block i (``hidden_states[i]``), as in the paper; detach-and-roll is hooked onto the output of
block L (``injector``). ``injection.json`` records the alignment as
``program.aligned_hidden_states`` (``record``).

The program's variables are its SOps (``compiler.variables``: the residual labels grouped by
name, tracr's helper dimensions ``one`` and ``*_selector_width_attn_output`` left out). With
``y = A h_i`` and ``r = r_i`` at one real position, a variable v with dimensions ``d_v``
contributes, where it is present:

- categorical, ``per-variable``: ``1 - cos(y[d_v], r[d_v])``;
- categorical, ``per-variable-ce``: cross-entropy of ``softmax(y[d_v])`` against the index of
  the largest entry of ``r[d_v]`` (the program's value);
- numerical (one dimension d, both): the squared error ``(y[d] - r[d])^2`` (a cosine between
  two numbers is only their signs).

Present: a categorical variable where its one-hot is on (``max r[d_v] > 0.5``); before the
layer that writes it, and where a categorical Aggregate selected nothing, its residual is all
0, the cosine and the cross-entropy are undefined, and it is skipped. A numerical variable from
its ``written_at`` residual on (0 is a value it can hold then, so the value cannot tell); before,
skipped. The term of a position is the mean over its present variables (each variable weighs
the same, whatever its width), the term of a layer the mean of that over the real positions,
and the loss the sum over the L + 1 aligned layers, as the paper's cosine loss is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tracr_bench.compiler.variables import ResidualVariable

EPS = 1e-8  # as F.cosine_similarity
METRICS = ("cosine", "ce", "accuracy")  # what the per-variable summary reports


@dataclass
class VariableLayout:
    """The variables as index tensors: categorical ones first, then numerical ones."""

    names: list[str]
    categorical: list[bool]
    cat_dims: Tensor  # [Kc] the residual dimensions of the categorical variables
    cat_group: Tensor  # [Kc] which categorical variable each belongs to (0..Vc-1)
    num_dims: Tensor  # [Vn] the dimension of each numerical variable
    num_written: Tensor  # [Vn] its written_at

    @classmethod
    def build(cls, variables: list[ResidualVariable], device: torch.device | None = None):
        cats = [v for v in variables if v.categorical]
        nums = [v for v in variables if not v.categorical]

        def long(values: list[int]) -> Tensor:
            return torch.tensor(values, dtype=torch.long, device=device)

        return cls(
            names=[v.name for v in cats + nums],
            categorical=[True] * len(cats) + [False] * len(nums),
            cat_dims=long([d for v in cats for d in v.dims]),
            cat_group=long([g for g, v in enumerate(cats) for _ in v.dims]),
            num_dims=long([v.dims[0] for v in nums]),
            num_written=long([v.written_at for v in nums]),
        )

    @property
    def n_categorical(self) -> int:
        return len(self.names) - int(self.num_dims.numel())


def variable_terms(y: Tensor, r: Tensor, layers: list[int], layout: VariableLayout) -> dict:
    """Every variable's terms at every aligned layer and position.

    ``y`` and ``r`` [S, B, T, D]: the adapter's image and the program's residual at S aligned
    layers, which are program residuals ``layers`` [S]. Returns [S, B, T, V] tensors:
    ``cosine`` (1 - cos; numerical: squared error), ``ce`` (numerical: squared error),
    ``accuracy`` (1.0 where the readout's argmax is the program's value; numerical: 0) and
    ``present`` (bool)."""
    vc = layout.n_categorical
    yc, rc = y[..., layout.cat_dims], r[..., layout.cat_dims]
    member = F.one_hot(layout.cat_group, vc).to(y.dtype)  # [Kc, Vc]
    dot, ny, nr = (yc * rc) @ member, (yc * yc) @ member, (rc * rc) @ member
    cosine = 1.0 - dot / (ny * nr).clamp_min(EPS * EPS).sqrt()
    r_max = _group_max(rc, layout.cat_group, vc)
    is_target = (rc == r_max[..., layout.cat_group]).to(y.dtype)
    y_max = _group_max(yc.detach(), layout.cat_group, vc)
    shifted = yc - y_max[..., layout.cat_group]
    log_norm = (shifted.exp() @ member).log()
    ce = log_norm - (shifted * is_target) @ member
    is_top = (yc.detach() == y_max[..., layout.cat_group]).to(y.dtype)
    accuracy = ((is_top * is_target) @ member > 0).to(y.dtype)
    present_c = r_max > 0.5

    se = (y[..., layout.num_dims] - r[..., layout.num_dims]) ** 2
    written = torch.tensor(layers, device=y.device)[:, None] >= layout.num_written[None]  # [S, Vn]
    present_n = written[:, None, None, :].expand(se.shape)
    return {
        "cosine": torch.cat([cosine, se], -1),
        "ce": torch.cat([ce, se], -1),
        "accuracy": torch.cat([accuracy, torch.zeros_like(se)], -1),
        "present": torch.cat([present_c, present_n], -1),
    }


def _group_max(x: Tensor, group: Tensor, n_groups: int) -> Tensor:
    """[..., K] -> [..., n_groups]: the largest entry of each group."""
    out = x.new_full((*x.shape[:-1], n_groups), float("-inf"))
    return out.scatter_reduce(-1, group.expand(x.shape), x, reduce="amax", include_self=True)


def per_variable_loss(
    terms: dict, kind: str, mask: Tensor, denominator: Tensor | float | None = None
) -> Tensor:
    """Sum over the aligned layers of the mean over real positions (``mask`` [B, T]) of the mean
    over the present variables of their ``kind`` term (``cosine`` or ``ce``)."""
    present = terms["present"] & mask[None, :, :, None]
    zero = torch.zeros((), dtype=terms[kind].dtype, device=mask.device)
    summed = torch.where(present, terms[kind], zero).sum(-1)
    per_position = summed / present.sum(-1).clamp_min(1)  # [S, B, T]
    if denominator is None:
        denominator = mask.sum()
    if isinstance(denominator, Tensor):
        denominator = denominator.clamp_min(1.0)
    else:
        denominator = max(denominator, 1.0)
    return (per_position * mask.to(per_position.dtype)).sum() / denominator


def summary_sums(terms: dict, mask: Tensor) -> Tensor:
    """[len(METRICS) + 1, V]: each metric summed over the (layer, real position) pairs where a
    variable is present, and how many those are (the last row); additive over the processes."""
    present = (terms["present"] & mask[None, :, :, None]).to(torch.float32)
    rows = [(terms[m].detach().float() * present).sum((0, 1, 2)) for m in METRICS]
    return torch.stack([*rows, present.sum((0, 1, 2))])


def summarize(sums: Tensor, layout: VariableLayout) -> dict[str, dict[str, float | None]]:
    """Per variable, the mean of each metric where it was present (``summary_sums``, summed over
    the processes): categorical ``cosine`` (1 - cos), ``ce``, ``accuracy``; numerical
    ``squared_error``. None where the variable was never present."""
    out: dict[str, dict[str, float | None]] = {}
    values = sums.tolist()
    for j, (name, categorical) in enumerate(zip(layout.names, layout.categorical, strict=True)):
        count = values[-1][j]

        def mean(row: int, j: int = j, count: float = count) -> float | None:
            return round(values[row][j] / count, 6) if count else None

        if categorical:
            out[name] = {m: mean(k) for k, m in enumerate(METRICS)}
        else:
            out[name] = {"squared_error": mean(0)}
    return out
