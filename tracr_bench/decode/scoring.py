"""Decoding accuracy: how often a readout of hidden state ``i`` gives the program's value.

For every (variable, hidden state) the counts are the positions where the readout's class equals
the program's, over the positions where the program defines the variable:

- ``adapter``: at hidden state ``i`` the adapter is trained towards the program's residual after
  ``i`` layers, so a variable counts from the residual index where the program has written it;
  before that its dimensions are all zero in the program and there is nothing to decode.
- ``probe``: a probe asks whether the value (the program's, at that position) can be read from
  the hidden state at all, so it counts at every hidden state, earlier ones included.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor

from tracr_bench.decode.probes import Probes, control_classes
from tracr_bench.decode.readouts import LinearReadout, class_map, decode_classes
from tracr_bench.decode.variables import Reference, Variable


class Tally:
    """Right and total counts per key."""

    def __init__(self) -> None:
        self.right: dict = defaultdict(int)
        self.total: dict = defaultdict(int)

    def add(self, key, right: Tensor | int, total: Tensor | int) -> None:
        self.right[key] += int(right)
        self.total[key] += int(total)

    def rate(self, key) -> float | None:
        total = self.total.get(key, 0)
        return self.right[key] / total if total else None


class AdapterScorer:
    """Adapter (or identity) readout of every variable at the given hidden states; a variable
    counts from ``first[name]``, the hidden state aligned with the program layer that writes it
    (its ``written_at`` when program layer i is hidden state i)."""

    def __init__(
        self,
        readout: LinearReadout,
        variables: dict[str, Variable],
        layers: list[int],
        first: dict[str, int],
    ) -> None:
        self.readout = readout
        self.variables = variables
        self.layers = layers
        self.first = first
        self.dims = {name: readout.dims(name) for name in variables}
        self.maps = {
            name: class_map(readout, var) if var.categorical else None
            for name, var in variables.items()
        }
        self.tally = Tally()

    def add(self, hidden: dict[int, Tensor], ref: Reference) -> None:
        for layer in self.layers:
            read = self.readout.read(hidden[layer])
            for name, var in self.variables.items():
                defined = ref.defined[name] if layer >= self.first[name] else None
                if defined is None:
                    continue
                pred = decode_classes(read[..., self.dims[name]], var, self.maps[name])
                right = (pred == ref.classes[name]) & defined
                self.tally.add((name, layer), right.sum(), defined.sum())


class ProbeScorer:
    """Probes (and their controls) of every variable at the given hidden states; ``variables``
    are those of the program that gives this split's values."""

    def __init__(
        self,
        probes: Probes,
        variables: dict[str, Variable],
        counts: dict[str, Tensor],
        layers: list[int],
        seed: int,
    ) -> None:
        self.probes = probes
        self.variables = variables
        self.counts = counts
        self.layers = layers
        self.seed = seed
        self.tally = Tally()
        self.control = Tally()

    def add(self, hidden: dict[int, Tensor], ref: Reference, lm_ids: Tensor) -> None:
        for name, var in self.variables.items():
            defined = ref.defined[name]
            fake = control_classes(name, self.counts[name], lm_ids, self.seed)
            for layer in self.layers:
                if not self.probes.has(layer, name):
                    continue
                h = hidden[layer]
                right = (self.probes.classes(layer, name, h, var) == ref.classes[name]) & defined
                self.tally.add((name, layer), right.sum(), defined.sum())
                right = (self.probes.classes(layer, "~" + name, h) == fake) & defined
                self.control.add((name, layer), right.sum(), defined.sum())


def class_counts(refs: list[Reference], variables: dict[str, Variable]) -> dict[str, Tensor]:
    """How often each class of each variable occurs (where defined) in ``refs``."""
    counts = {}
    for name, var in variables.items():
        size = len(var.values)
        total = torch.zeros(size, dtype=torch.long)
        for ref in refs:
            got = ref.classes[name][ref.defined[name]].cpu()
            total += torch.bincount(got, minlength=size)[:size]
        counts[name] = total
    return counts


def mask_groups(refs: list[Reference], names: list[str]) -> dict[str, str]:
    """Variables defined at exactly the same positions of ``refs`` share a group (and so one
    ``X^T X`` per hidden state in the probe fit)."""
    groups: dict[str, str] = {}
    leaders: list[str] = []
    for name in names:
        for leader in leaders:
            if all(torch.equal(r.defined[name], r.defined[leader]) for r in refs):
                groups[name] = leader
                break
        else:
            leaders.append(name)
            groups[name] = name
    return groups
