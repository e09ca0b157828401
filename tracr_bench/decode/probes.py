"""Linear probes: one per variable and hidden state, fitted in closed form, with a control.

A probe is ridge regression from the hidden state (plus a constant) to the variable: to its
one-hot class for a categorical variable (read back by argmax, i.e. a ridge classifier), to its
value for a numerical one (read back as the nearest value of its value set). It is fitted on the
train split only, at the positions where the program defines the variable, and scored on the
held-out splits (test and the out-of-distribution ones, disjoint from train by construction).

Everything is accumulated batch by batch as sums (``X^T X``, ``X^T Y``, in float64), so no hidden
state is kept in memory, and the fit is a few Cholesky solves per layer: deterministic, with no
iteration and no learning rate. The ridge strength is chosen per probe among ``ALPHAS`` (relative
to the mean feature variance) by the squared error on the last fifth of the train examples, then
the probe is refitted on all of them.

Control (a selectivity-style control task, Hewitt & Liang 2019): the same probe fitted and scored
on shuffled labels, where every (token, position) pair gets a label drawn at random from the
variable's own label distribution on train. A probe can reach those only by memorising the
surface of the input; ``selectivity = accuracy - control accuracy`` is what the representation
adds beyond that.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from tracr_bench.decode.variables import Reference, Variable, snap

ALPHAS = (1e-6, 1e-4, 1e-2, 1.0)
VALIDATION_FRACTION = 0.2


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def control_classes(name: str, counts: Tensor, lm_ids: Tensor, seed: int) -> Tensor:
    """[B, T] control labels: a class per (token, position), drawn from ``counts``."""
    tokens = lm_ids.cpu().numpy().astype(np.uint64)
    positions = np.broadcast_to(np.arange(tokens.shape[1], dtype=np.uint64), tokens.shape)
    salt = np.uint64((seed * 1_000_003 + zlib.crc32(name.encode())) % (1 << 63))
    with np.errstate(over="ignore"):
        key = (tokens * np.uint64(1 << 20) + positions) ^ salt
    u = (_splitmix64(key) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    cdf = np.cumsum(counts.double().numpy()) / max(float(counts.sum()), 1.0)
    classes = np.searchsorted(cdf, u, side="right").clip(0, len(cdf) - 1)
    return torch.from_numpy(classes.astype(np.int64)).to(lm_ids.device)


def targets(var: Variable, classes: Tensor) -> Tensor:
    """Regression targets [..., k] (float64) for reference classes [...]."""
    if var.categorical:
        return torch.nn.functional.one_hot(classes, len(var.values)).double()
    return var.value_tensor().double().to(classes.device)[classes][..., None]


@dataclass
class _Sums:
    gram: dict[str, Tensor] = field(default_factory=dict)  # group -> X^T X [H+1, H+1]
    cross: dict[str, Tensor] = field(default_factory=dict)  # variable (or ~control) -> X^T Y

    def add(self, key: str, kind: str, value: Tensor) -> None:
        table = self.gram if kind == "gram" else self.cross
        table[key] = table[key] + value if key in table else value


class ProbeFitter:
    """Accumulates the train sums of every (layer, variable) and fits the probes."""

    def __init__(
        self,
        layers: list[int],
        variables: dict[str, Variable],
        groups: dict[str, str],
        counts: dict[str, Tensor],
        seed: int,
    ) -> None:
        self.layers = layers
        self.variables = variables
        self.groups = groups  # variable -> group: variables defined at the same positions
        self.counts = counts  # variable -> class counts on train (for the control labels)
        self.seed = seed
        self.fit_sums = {layer: _Sums() for layer in layers}
        self.val_sums = {layer: _Sums() for layer in layers}

    def add(self, hidden: dict[int, Tensor], ref: Reference, lm_ids: Tensor, val: Tensor) -> None:
        """One train batch: ``val`` [B] marks the examples held out to choose the ridge."""
        wanted = {
            name: (
                ref.defined[name],
                targets(var, ref.classes[name][ref.defined[name]]),
                targets(var, control_classes(name, self.counts[name], lm_ids, self.seed)),
            )
            for name, var in self.variables.items()
        }
        for layer in self.layers:
            h = hidden[layer]
            x = torch.cat([h, torch.ones_like(h[..., :1])], -1).double()
            for part, sums in ((~val, self.fit_sums[layer]), (val, self.val_sums[layer])):
                rows = part[:, None].expand(h.shape[:2])
                for group in sorted(set(self.groups.values())):
                    names = [n for n, g in self.groups.items() if g == group]
                    mask = wanted[names[0]][0] & rows
                    xs = x[mask]
                    sums.add(group, "gram", xs.T @ xs)
                    for name in names:
                        defined, y, y_control = wanted[name]
                        y = y[rows[defined]]
                        sums.add(name, "cross", xs.T @ y)
                        sums.add("~" + name, "cross", xs.T @ y_control[mask])

    def fit(self) -> Probes:
        probes = Probes(self.variables)
        for layer in self.layers:
            fit, val = self.fit_sums[layer], self.val_sums[layer]
            for group in sorted(set(self.groups.values())):
                if group not in fit.gram or fit.gram[group][-1, -1] < 2:
                    continue
                gram_fit, gram_val = fit.gram[group], val.gram.get(group)
                for name in [n for n, g in self.groups.items() if g == group]:
                    for key in (name, "~" + name):
                        alpha = _choose_alpha(
                            gram_fit, gram_val, fit.cross[key], val.cross.get(key)
                        )
                        total = fit.cross[key] + val.cross.get(key, 0)
                        gram = gram_fit + (gram_val if gram_val is not None else 0)
                        probes.add(layer, key, _ridge(gram, total, alpha), alpha)
        return probes


def _ridge(gram: Tensor, cross: Tensor, alpha: float) -> Tensor:
    """Weights [H+1, k] (the last row is the bias) of ridge regression on centred features:
    ``W = (S + lam I)^-1 C``, ``S`` and ``C`` the centred scatter and cross products, ``lam``
    ``alpha`` times the mean feature variance (times n); the bias is not penalised."""
    n = gram[-1, -1].clamp_min(1.0)
    mean_x, mean_y = gram[:-1, -1] / n, cross[-1] / n
    scatter = gram[:-1, :-1] - n * torch.outer(mean_x, mean_x)
    centred = cross[:-1] - n * torch.outer(mean_x, mean_y)
    lam = alpha * scatter.diagonal().mean().clamp_min(1e-12)
    system = scatter + lam * torch.eye(len(scatter), dtype=scatter.dtype, device=scatter.device)
    factor, info = torch.linalg.cholesky_ex(system)
    if int(info) == 0:
        w = torch.cholesky_solve(centred, factor)
    else:  # not positive definite in floating point: a least-squares solve instead
        w = torch.linalg.lstsq(system, centred).solution
    return torch.cat([w, (mean_y - mean_x @ w)[None]], dim=0)


def _choose_alpha(gram_fit, gram_val, cross_fit, cross_val) -> float:
    """The ridge strength of ``ALPHAS`` with the smallest held-out squared error."""
    if gram_val is None or cross_val is None or gram_val[-1, -1] < 1:
        return ALPHAS[len(ALPHAS) // 2]
    best, best_loss = ALPHAS[0], float("inf")
    for alpha in ALPHAS:
        w = _ridge(gram_fit, cross_fit, alpha)
        loss = float((w * (gram_val @ w)).sum() - 2 * (w * cross_val).sum())
        if loss < best_loss:
            best, best_loss = alpha, loss
    return best


class Probes:
    """Fitted probes: ``weights[layer][name]`` [H+1, k]; ``~name`` is the control probe."""

    def __init__(self, variables: dict[str, Variable]) -> None:
        self.variables = variables
        self.weights: dict[int, dict[str, Tensor]] = {}
        self.alphas: dict[int, dict[str, float]] = {}

    def add(self, layer: int, key: str, weight: Tensor, alpha: float) -> None:
        self.weights.setdefault(layer, {})[key] = weight.float()
        self.alphas.setdefault(layer, {})[key] = alpha

    def has(self, layer: int, name: str) -> bool:
        return name in self.weights.get(layer, {})

    def classes(
        self, layer: int, key: str, hidden: Tensor, target: Variable | None = None
    ) -> Tensor:
        """Classes [...] that probe ``key`` reads from ``hidden`` [..., H]: in the value space of
        ``target`` (the same variable in the program that gives a split's values, whose value
        sets may be larger), or of the train program's variable when None."""
        w = self.weights[layer][key].to(hidden.device)
        out = hidden @ w[:-1] + w[-1]
        var = self.variables[key.lstrip("~")]
        target = var if target is None else target
        if not var.categorical:
            return snap(out[..., 0], target.value_tensor().to(hidden.device))
        classes = out.argmax(-1)
        if target is var:
            return classes
        index = {v: i for i, v in enumerate(target.values)}
        mapping = torch.tensor([index.get(v, -1) for v in var.values], device=hidden.device)
        return mapping[classes]

    def read_weights(self, layer: int, name: str) -> Tensor:
        """The probe's weight columns [H, k] (their span is the subspace it reads)."""
        return self.weights[layer][name][:-1]
