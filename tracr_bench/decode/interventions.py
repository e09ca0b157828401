"""Causal checks: does the model *use* the subspace where a variable is decoded?

Interchange intervention accuracy (IIA; Geiger et al.'s interchange interventions, as DAS, pyvene
and InterpBench use them). For a pair (base, source) of examples of the same length, at hidden
state ``i`` and at every position, the base run's component in the variable's subspace
(orthonormal basis ``Q``: ``h + (h_source - h) Q Q^T``) is replaced by the source run's, and the
rest of the model runs on. The counterfactual is the compiled program under the same
intervention on its own residual: the variable's dimensions after ``i`` layers replaced by the
source's, the rest of the program run on. A pair counts when the model's greedy answer (at every
answer position, teacher-forced on the base's answer tokens, which the program reads too) equals
the program's counterfactual answer. Reported with a random subspace of the same dimension as
control, and over the pairs whose counterfactual answer differs from the base's own (``changed``:
there the model must follow the swap, not keep its answer).

Noise (the check the paper's code sketches, ``evaluation/causality.py``): Gaussian noise of a
given norm at every position, inside the output variable's subspace vs inside a random subspace
of the same dimension, at the output of block ``L`` (as there; the last aligned hidden state for a
subject with no block after it); the accuracy that remains.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
from torch import Tensor

from tracr_bench.decode.data import Batch
from tracr_bench.decode.scoring import Tally
from tracr_bench.decode.subjects import Run, example_correct, program_answers, program_residuals
from tracr_bench.decode.variables import Variable

SUBSPACES = ("subspace", "random")


def seed_of(*parts: object) -> int:
    """A stable seed from ``parts`` (the same in every process)."""
    return zlib.crc32("/".join(map(str, parts)).encode())


@dataclass
class Cell:
    """One IIA measurement: ``name`` at hidden state ``layer`` through two subspaces; the
    program's counterfactual swaps its residual after ``program_layer`` layers (the program
    layer aligned with ``layer``)."""

    name: str
    layer: int
    bases: dict[str, Tensor]  # "subspace" and "random" -> [H, k] orthonormal
    program_layer: int | None = None  # None: ``layer`` (program layer i is hidden state i)

    @property
    def program_residual(self) -> int:
        return self.layer if self.program_layer is None else self.program_layer


def interchange(basis: Tensor, source: Tensor):
    """The edit that gives ``h`` the component of ``source`` [B, T, H] in ``span(basis)``."""

    def edit(h: Tensor) -> Tensor:
        return h + ((source[:, : h.shape[1]] - h) @ basis) @ basis.T

    return edit


def swap_dims(dims: list[int], source: Tensor):
    """The program's edit: dimensions ``dims`` taken from ``source`` [B, T, D]."""

    def edit(x: Tensor) -> Tensor:
        x = x.clone()
        x[..., dims] = source[..., dims]
        return x

    return edit


class IIATally:
    """Counts per (variable, layer): pairs, and those right through each subspace, overall and
    among the pairs whose counterfactual answer changed."""

    def __init__(self) -> None:
        self.pairs = Tally()
        self.changed = Tally()

    def add(self, key, kind: str, ok: Tensor, changed: Tensor) -> None:
        self.pairs.add((*key, kind), ok.sum(), ok.numel())
        self.changed.add((*key, kind), (ok & changed).sum(), changed.sum())


def iia_batch(
    subject,
    program,
    variables: dict[str, Variable],
    batch: Batch,
    clean: Run,
    residuals: list[Tensor],
    cells: list[Cell],
    tally: IIATally,
    tick,
) -> None:
    """Every cell's interchange interventions on one batch (skipped when it has no pairs)."""
    paired = (batch.source >= 0).cpu()
    if not paired.any():
        return
    source = torch.where(
        batch.source >= 0, batch.source, torch.arange(batch.size, device=batch.source.device)
    )
    base_answers = program_answers(program, residuals[-1], batch)
    for cell in cells:
        dims = list(variables[cell.name].dims)
        at = cell.program_residual
        swap = (at, swap_dims(dims, residuals[at][:, 1:][source]))
        counterfactual = program_answers(
            program, program_residuals(program, batch.program_ids, swap)[-1], batch
        )
        changed = ~example_correct(counterfactual, base_answers, batch)[paired]
        for kind, basis in cell.bases.items():
            swapped = clean.hidden[cell.layer][source]
            edit = (cell.layer, interchange(basis, swapped))
            run = subject.run(batch, edit=edit, start=clean.hidden[cell.layer])
            ok = example_correct(run.answers, counterfactual, batch)[paired]
            tally.add((cell.name, cell.layer), kind, ok, changed)
            tick()


def noise_edit(basis: Tensor, norm: float, directions: Tensor):
    """The edit adding ``norm`` times unit vectors ``directions`` [B, T, k] in ``span(basis)``."""

    def edit(h: Tensor) -> Tensor:
        return h + norm * (directions[:, : h.shape[1]].to(h.device, h.dtype) @ basis.T)

    return edit


def noise_batch(
    subject,
    batch: Batch,
    layer: int,
    bases: dict[str, Tensor],
    norms: dict[float, float],
    seed: int,
    tally: Tally,
    tick,
) -> None:
    """Accuracy under noise of each norm in each subspace, on one batch."""
    k = bases["subspace"].shape[1]
    shape = (*batch.lm_ids.shape, k)
    for scale, norm in norms.items():
        generator = torch.Generator().manual_seed(seed_of(seed, scale, batch.index[0].item()))
        z = torch.randn(shape, generator=generator)
        z = z / z.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        for kind in SUBSPACES:
            run = subject.run(batch, edit=(layer, noise_edit(bases[kind], norm, z)))
            ok = example_correct(run.answers, batch.answer_units, batch)
            tally.add((scale, kind), ok.sum(), ok.numel())
            tick()
