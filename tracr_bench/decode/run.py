"""A decode run, top to bottom.

1. ``prepare``: check the options, load the model, its adapter and the task's program;
2. ``load_split``: every scored split as same-length batches, with the program that reads it;
3. ``fit_probes`` (probe readout): one pass over a train sample, then closed-form fits;
4. ``run_split``: per batch, one clean pass of the model (hidden states for every readout, its
   answers) and of the program (the reference values), the decoding counts, then the
   interchange interventions of every (variable, layer) cell; then the noise passes. With
   ``--positions answer`` the decoding counts keep the answer positions only, and the probes
   and their controls are fitted on the answer positions of train, the distribution they are
   scored on. The control stays weak there: answer positions are few distinct (token, position)
   pairs (count's single answer position is always the trigger token, at ~36 positions), which
   a probe memorises (97% on count); read the ``majority`` floor instead;
   program layer i is hidden state ``aligned[i]``
   (``setup``), for the adapter's counts and the interventions' cells alike;
5. ``report.assemble``: the results as one JSON-ready dict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from tracr_bench.compiler.task_programs import OUTPUT_NAME
from tracr_bench.decode.config import DecodeConfig
from tracr_bench.decode.data import SplitData, make_batches, translate
from tracr_bench.decode.interventions import (
    Cell,
    IIATally,
    iia_batch,
    noise_batch,
    seed_of,
)
from tracr_bench.decode.probes import VALIDATION_FRACTION, ProbeFitter, Probes
from tracr_bench.decode.programs import ProgramRef
from tracr_bench.decode.readouts import LinearReadout, orthonormal, random_basis
from tracr_bench.decode.scoring import (
    AdapterScorer,
    ProbeScorer,
    Tally,
    class_counts,
    mask_groups,
)
from tracr_bench.decode.setup import Setup, prepare
from tracr_bench.decode.subjects import example_correct, program_residuals
from tracr_bench.decode.variables import Reference, Variable, reference_values, restricted


@dataclass
class SplitOutcome:
    """What one split's passes counted."""

    data: SplitData
    accuracy: Tally = field(default_factory=Tally)  # the model's own answers, per example
    adapter: AdapterScorer | None = None
    probe: ProbeScorer | None = None
    iia: dict[str, IIATally] = field(default_factory=dict)  # readout -> counts
    cells: dict[str, list[Cell]] = field(default_factory=dict)
    noise: dict[str, Tally] = field(default_factory=dict)  # readout -> (scale, kind) counts
    noise_norms: dict[float, float] = field(default_factory=dict)
    noise_dims: dict[str, int] = field(default_factory=dict)
    mean_norm: float | None = None
    classes: dict[str, torch.Tensor] = field(default_factory=dict)  # per variable, where defined

    def count_classes(self, reference: Reference, variables: dict[str, Variable]) -> None:
        for name, count in class_counts([reference], variables).items():
            self.classes[name] = self.classes.get(name, 0) + count

    def majority(self, name: str) -> float | None:
        """The accuracy of always reading the most frequent value (a floor for decoders)."""
        count = self.classes.get(name)
        return float(count.max() / count.sum()) if count is not None and count.sum() else None


def decode(
    config: DecodeConfig,
    *,
    subject=None,
    adapter: LinearReadout | None = None,
    aligned: list[int] | None = None,
) -> dict:
    """Run ``tracr-bench decode`` and return the results (see ``report.assemble``); writes
    nothing. ``subject``/``adapter``/``aligned`` replace the model, its adapter and its
    alignment (tests; see ``setup.prepare``)."""
    from tqdm.auto import tqdm

    from tracr_bench.decode.report import assemble

    t0 = time.perf_counter()
    setup = prepare(config, subject=subject, adapter=adapter, aligned=aligned)
    splits = {name: load_split(setup, name) for name in setup.splits}
    train = None
    if "probe" in setup.readouts:
        train = load_split(setup, "train", setup.config.train_examples, allow_oracle=False)
    timings = {"prepare_s": time.perf_counter() - t0}
    bar = tqdm(
        total=_passes(setup, splits, train),
        desc=f"decode {setup.task.name}",
        unit="pass",
        disable=not config.progress,
    )
    t1 = time.perf_counter()
    probes, counts = fit_probes(setup, train, bar.update) if train is not None else (None, None)
    timings["probe_fit_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    outcomes = {
        name: run_split(setup, data, probes, counts, bar.update, noise=name == setup.splits[0])
        for name, data in splits.items()
    }
    timings["splits_s"] = time.perf_counter() - t2
    bar.close()
    timings["total_s"] = time.perf_counter() - t0
    return assemble(setup, outcomes, probes, train, timings)


def load_split(
    setup: Setup, name: str, size: int | None = None, *, allow_oracle: bool = True
) -> SplitData:
    """The split's examples (``size`` or ``--limit``) in batches, and the program reading them."""
    cfg = setup.config
    rows = translate(setup.task, setup.translator, name, size or cfg.limit, cfg.seed)
    ref, kept, why = setup.programs.for_rows(rows, setup.names, allow_oracle=allow_oracle)
    batches = make_batches(kept, ref.lookup, ref.module, cfg.batch_size, f"{cfg.seed}/{name}")
    return SplitData(name, ref.which, len(kept), len(rows) - len(kept), batches, why)


def _program(setup: Setup, data: SplitData) -> ProgramRef:
    return setup.programs.injection if data.which == "injection" else setup.programs.oracle()


def _passes(setup: Setup, splits: dict[str, SplitData], train: SplitData | None) -> int:
    """Forward passes of the model the run will make (for the progress bar)."""
    total = len(train.batches) if train is not None else 0
    for data in splits.values():
        pairs = sum(1 for b in data.batches if bool((b.source >= 0).any()))
        cells = sum(len(_iia_layers(setup, _program(setup, data), n)) for n in setup.intervene)
        scales = len(setup.config.noise) if data.name == setup.splits[0] else 0
        total += len(data.batches) * (1 + 2 * scales * len(setup.readouts))
        total += pairs * 2 * cells * len(setup.readouts)
    return total


def fit_probes(setup: Setup, train: SplitData, tick) -> tuple[Probes, dict]:
    """Probes of every decoded variable at every probe layer (and the noise layer)."""
    ref = setup.programs.injection
    variables = {n: ref.variables[n] for n in setup.names}
    device = setup.subject.device
    refs = []
    for batch in train.batches:
        batch = batch.to(device)
        final = program_residuals(ref.module, batch.program_ids)[-1]
        reference = reference_values(final, variables, batch.real)
        if setup.config.positions == "answer":
            reference = restricted(reference, batch.answer_mask)
        refs.append(reference)
    counts = class_counts(refs, variables)
    layers = sorted({*setup.probe_layers, *setup.iia_layers, *_noise_layers(setup)})
    fitter = ProbeFitter(
        layers, variables, mask_groups(refs, setup.names), counts, setup.config.seed
    )
    first_held_out = train.n_examples - max(1, int(VALIDATION_FRACTION * train.n_examples))
    for batch, reference in zip(train.batches, refs, strict=True):
        batch = batch.to(device)
        run = setup.subject.run(batch, keep=layers, answers=False)
        fitter.add(run.hidden, reference, batch.lm_ids, (batch.index >= first_held_out).to(device))
        tick()
    return fitter.fit(), counts


def _noise_layers(setup: Setup) -> list[int]:
    return [setup.noise_layer] if setup.noise_layer is not None else []


def run_split(
    setup: Setup, data: SplitData, probes: Probes | None, counts, tick, *, noise: bool = True
) -> SplitOutcome:
    """Decoding counts and interventions on one split; the noise check too with ``noise``."""
    ref = _program(setup, data)
    variables = {n: ref.variables[n] for n in setup.names}
    out = SplitOutcome(data)
    if "adapter" in setup.readouts:
        out.adapter = AdapterScorer(
            setup.adapter,  # type: ignore[arg-type]
            variables,
            setup.adapter_layers,
            {name: setup.hidden_state(var.written_at) for name, var in variables.items()},
        )
    if probes is not None:
        out.probe = ProbeScorer(probes, variables, counts, setup.probe_layers, setup.config.seed)
    for readout in setup.readouts:
        out.cells[readout] = make_cells(setup, readout, probes, ref)
        out.iia[readout] = IIATally()
    keep = sorted(
        {
            *(setup.adapter_layers if "adapter" in setup.readouts else []),
            *(setup.probe_layers if "probe" in setup.readouts else []),
            *(layer for cells in out.cells.values() for layer in {c.layer for c in cells}),
            *(_noise_layers(setup) if noise else []),
        }
    )
    # the model's own answers need the whole pass; without them the pass ends at max(keep)
    answers = noise or max(keep) >= setup.subject.n_hidden - 1
    norm_sum, norm_count = 0.0, 0
    for batch in data.batches:
        batch = batch.to(setup.subject.device)
        residuals = program_residuals(ref.module, batch.program_ids)
        reference = reference_values(residuals[-1], variables, batch.real)
        if setup.config.positions == "answer":
            reference = restricted(reference, batch.answer_mask)
        clean = setup.subject.run(batch, keep=keep, answers=answers)
        tick()
        if answers:
            ok = example_correct(clean.answers, batch.answer_units, batch)
            out.accuracy.add("model", ok.sum(), ok.numel())
        out.count_classes(reference, variables)
        if out.adapter is not None:
            out.adapter.add(clean.hidden, reference)
        if out.probe is not None:
            out.probe.add(clean.hidden, reference, batch.lm_ids)
        if noise and setup.noise_layer is not None:
            norms = clean.hidden[setup.noise_layer].norm(dim=-1)[batch.real]
            norm_sum, norm_count = norm_sum + float(norms.sum()), norm_count + norms.numel()
        for readout, cells in out.cells.items():
            iia_batch(
                setup.subject, ref.module, ref.variables, batch, clean, residuals, cells,
                out.iia[readout], tick,
            )  # fmt: skip
    if noise and setup.noise_layer is not None and norm_count:
        out.mean_norm = norm_sum / norm_count
        run_noise(setup, data, probes, out, tick)
    return out


def make_cells(setup: Setup, readout: str, probes: Probes | None, ref: ProgramRef) -> list[Cell]:
    """The (variable, layer) cells to intervene on through ``readout``'s subspaces."""
    cells = []
    for name in setup.intervene:
        for layer in _iia_layers(setup, ref, name):
            basis = _basis(setup, readout, probes, name, layer)
            if basis is None or basis.shape[1] == 0:
                continue
            seed = seed_of(setup.config.seed, readout, name, layer)
            random = random_basis(setup.subject.width, basis.shape[1], seed).to(basis.device)
            bases = {"subspace": basis, "random": random}
            cells.append(Cell(name, layer, bases, setup.program_layer(layer)))
    return cells


def _iia_layers(setup: Setup, ref: ProgramRef, name: str) -> list[int]:
    """The hidden states where ``name`` is intervened on: the one aligned with the program
    layer where the program first holds it (by default), or every asked-for aligned hidden
    state from there on (``--layers``)."""
    first = setup.hidden_state(ref.variables[name].written_at)
    if setup.config.layers is None:
        return [first] if first in setup.iia_layers else []
    return [layer for layer in setup.iia_layers if layer >= first]


def _basis(setup: Setup, readout: str, probes: Probes | None, name: str, layer: int):
    device = setup.subject.device
    if readout == "adapter":
        return setup.adapter.basis(name).to(device)  # type: ignore[union-attr]
    if probes is None or not probes.has(layer, name):
        return None
    return orthonormal(probes.read_weights(layer, name)).to(device)


def run_noise(
    setup: Setup, data: SplitData, probes: Probes | None, out: SplitOutcome, tick
) -> None:
    """Noise in the output variable's subspace vs a random one, at ``setup.noise_layer``."""
    layer = setup.noise_layer
    assert layer is not None and out.mean_norm is not None
    out.noise_norms = {s: s * out.mean_norm for s in setup.config.noise}
    for readout in setup.readouts:
        basis = _basis(setup, readout, probes, OUTPUT_NAME, layer)
        if basis is None or basis.shape[1] == 0:
            continue
        seed = seed_of(setup.config.seed, readout, "noise", layer)
        bases = {"subspace": basis, "random": random_basis(basis.shape[0], basis.shape[1], seed)}
        bases = {k: v.to(setup.subject.device) for k, v in bases.items()}
        out.noise[readout] = Tally()
        out.noise_dims[readout] = basis.shape[1]
        for batch in data.batches:
            batch = batch.to(setup.subject.device)
            noise_batch(
                setup.subject, batch, layer, bases, out.noise_norms, seed, out.noise[readout], tick
            )


__all__ = ["SplitOutcome", "decode", "fit_probes", "load_split", "run_split"]
