"""Linear readouts of the program's residual out of a model's hidden states, and the subspaces
they read.

- ``adapter``: the injected model's own trained adapter (``adapter.safetensors``: a Linear from
  the LM's hidden size to the compiled residual width, its metadata naming every output
  dimension). Applied to hidden state ``i``, each variable is read from its own dimensions:
  the argmax over a categorical variable's one-hot block (as the paper's code reads it), the
  nearest value of its value set for a numerical one. Nothing is fitted.
- ``identity``: the same for a subject whose hidden states *are* the residual (the compiled
  program itself).

The subspace of a variable is the span of the readout rows that read it: an interchange
intervention swaps a hidden state's component in that span, and only that component changes
what the readout sees (``basis``). ``random_basis`` is the control: a random subspace of the
same dimension.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from tracr_bench.compiler.labels import label_matches
from tracr_bench.decode.config import DecodeError
from tracr_bench.decode.variables import Variable, snap
from tracr_bench.inject.run_folder import ADAPTER


@dataclass
class LinearReadout:
    """``weight`` [D, H] and ``bias`` [D] reading the residual dimensions ``labels`` [D]."""

    weight: Tensor
    bias: Tensor
    labels: list[str]

    def dims(self, name: str) -> list[int]:
        return [i for i, lab in enumerate(self.labels) if label_matches(lab, name)]

    def to(self, device: torch.device) -> LinearReadout:
        return LinearReadout(self.weight.to(device), self.bias.to(device), self.labels)

    def read(self, hidden: Tensor) -> Tensor:
        """The residual as the readout sees it: [..., H] -> [..., D]."""
        return hidden @ self.weight.T + self.bias

    def basis(self, name: str) -> Tensor:
        """Orthonormal basis [H, k] of the span of the rows that read ``name``."""
        return orthonormal(self.weight[self.dims(name)].T)


def load_adapter(model_dir: Path) -> LinearReadout | None:
    """The adapter saved in an injected model folder, or None when there is none."""
    path = Path(model_dir) / ADAPTER
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    if "residual_labels" not in meta or "weight" not in tensors:
        raise DecodeError(f"{str(path)!r} is not an adapter written by `tracr-bench inject`")
    labels = json.loads(meta["residual_labels"])
    weight = tensors["weight"].float()
    bias = tensors.get("bias", torch.zeros(weight.shape[0])).float()
    return LinearReadout(weight, bias, labels)


def identity_readout(labels: list[str]) -> LinearReadout:
    width = len(labels)
    return LinearReadout(torch.eye(width), torch.zeros(width), list(labels))


def orthonormal(m: Tensor, tol: float = 1e-6) -> Tensor:
    """An orthonormal basis [H, r] of the column span of ``m`` [H, k] (r = its numerical rank)."""
    u, s, _ = torch.linalg.svd(m.double(), full_matrices=False)
    keep = s > tol * s.max().clamp_min(1e-30)
    return u[:, keep].to(m.dtype)


def random_basis(width: int, k: int, seed: int) -> Tensor:
    """An orthonormal basis [H, k] of a random k-dimensional subspace (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    return orthonormal(torch.randn(width, k, generator=generator, dtype=torch.float64)).float()


def class_map(readout: LinearReadout, var: Variable) -> Tensor:
    """Categorical: readout class (its dimension order) -> reference class (-1: a value the
    reference program does not have, never counted right)."""
    index = {v: i for i, v in enumerate(var.values)}
    values = [readout.labels[d].split(":", 1)[1] for d in readout.dims(var.name)]
    return torch.tensor([index.get(v, -1) for v in values], dtype=torch.long)


def decode_classes(read: Tensor, var: Variable, mapping: Tensor | None) -> Tensor:
    """Reference classes from the readout's dimensions of ``var`` ([..., k])."""
    if var.categorical:
        return mapping.to(read.device)[read.argmax(-1)]  # type: ignore[union-attr]
    return snap(read[..., 0], var.value_tensor().to(read.device))
