"""The results of a decode run: one JSON-ready dict, and the tables printed on the terminal.

Layout of the dict (layers are hidden-state indices, as strings in JSON):

- ``decoding[readout][split][variable][layer]``: ``accuracy`` over ``positions`` (the positions
  where the program defines the variable), for probes also ``control_accuracy`` and
  ``selectivity``; ``null`` where there is nothing to decode (the adapter before the layer
  where the program writes the variable);
- ``interventions[readout][split]``: ``iia[variable][layer]`` (``iia``, ``iia_random``,
  ``pairs``, and the same over the ``changed_pairs``, where the counterfactual answer differs
  from the base's) and ``noise`` (per scale: the norm and the accuracy with noise in the output
  subspace and in a random one);
- ``splits[split]``: examples, examples dropped (skipped: longer than the injection program,
  and no oracle program that could read them) and why, the program that gave the values, the
  model's own accuracy (teacher-forced, every answer position right);
- ``program.aligned_hidden_states``: the LM hidden state of each program layer 0..L (from the
  model's ``injection.json``, else the identity), ``options.positions`` and
  ``options.positions_scored``: which positions the decoding accuracies count.
"""

from __future__ import annotations

import importlib.metadata

from tabulate import tabulate

from tracr_bench.compiler.task_programs import OUTPUT_NAME
from tracr_bench.decode.config import positions_scored
from tracr_bench.decode.interventions import SUBSPACES

FORMAT = "tracr-bench-decode/1"


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def assemble(setup, outcomes: dict, probes, train, timings: dict) -> dict:
    cfg = setup.config
    injection = setup.programs.injection
    out = {
        "format": FORMAT,
        "task": {"name": setup.task.name, "version": setup.task.version},
        "model": setup.model_info,
        "program": {
            "layers": injection.n_layers,
            "residual_dims": injection.compiled.residual_width,
            "output": OUTPUT_NAME,
            "aligned_hidden_states": setup.aligned,
            "alignment": setup.model_info.get("alignment", "identity"),
            "variables": {
                n: {
                    "kind": v.kind,
                    "values": len(v.values),
                    "dims": len(v.dims),
                    "written_at": v.written_at,
                }
                for n, v in injection.variables.items()
                if n in setup.names
            },
        },
        "options": {
            "splits": setup.splits,
            "limit": cfg.limit,
            "positions": cfg.positions,
            "positions_scored": positions_scored(cfg.positions),
            "readouts": setup.readouts,
            "variables": setup.names,
            "intervene": setup.intervene,
            "adapter_layers": setup.adapter_layers,
            "probe_layers": setup.probe_layers,
            "iia_layers": setup.iia_layers,
            "noise_scales": list(cfg.noise),
            "noise_layer": setup.noise_layer,
            "train_examples": train.n_examples if train is not None else None,
            "seed": cfg.seed,
            "batch_size": cfg.batch_size,
        },
        "splits": {name: _split_summary(o) for name, o in outcomes.items()},
        "decoding": _decoding(setup, outcomes),
        "probes": _probe_summary(probes) if probes is not None else None,
        "interventions": _interventions(setup, outcomes),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "versions": {p: _version(p) for p in ("tracr-bench", "torch", "transformers")},
    }
    return out


def _split_summary(o) -> dict:
    return {
        "examples": o.data.n_examples,
        "dropped": o.data.n_dropped,
        "dropped_reason": o.data.drop_reason,
        "program": o.data.which,
        "pairs": o.data.n_pairs,
        "model_accuracy": _r(o.accuracy.rate("model")),
        "majority": {name: _r(o.majority(name)) for name in o.classes},
    }


def _decoding(setup, outcomes: dict) -> dict:
    table: dict = {}
    for readout in setup.readouts:
        per_split: dict = {}
        for split, o in outcomes.items():
            scorer = o.adapter if readout == "adapter" else o.probe
            layers = setup.adapter_layers if readout == "adapter" else setup.probe_layers
            per_split[split] = {
                name: {str(layer): _cell(scorer, readout, name, layer) for layer in layers}
                for name in setup.names
            }
        table[readout] = per_split
    return table


def _cell(scorer, readout: str, name: str, layer: int) -> dict | None:
    key = (name, layer)
    accuracy = scorer.tally.rate(key)
    if accuracy is None:
        return None
    cell = {"accuracy": _r(accuracy), "positions": scorer.tally.total[key]}
    if readout == "probe":
        control = scorer.control.rate(key)
        cell["control_accuracy"] = _r(control)
        cell["selectivity"] = _r(accuracy - control) if control is not None else None
    return cell


def _probe_summary(probes) -> dict:
    alphas: dict = {}
    for layer, table in sorted(probes.alphas.items()):
        for key, alpha in table.items():
            if not key.startswith("~"):
                alphas.setdefault(key, {})[str(layer)] = alpha
    return {"kind": "ridge (one-hot targets for categorical variables)", "alpha": alphas}


def _interventions(setup, outcomes: dict) -> dict:
    table: dict = {}
    for readout in setup.readouts:
        per_split = {}
        for split, o in outcomes.items():
            per_split[split] = {"iia": _iia(o, readout), "noise": _noise(setup, o, readout)}
        table[readout] = per_split
    return table


def _iia(o, readout: str) -> dict:
    tally = o.iia.get(readout)
    result: dict = {}
    for cell in o.cells.get(readout, []):
        key = (cell.name, cell.layer)
        pairs = tally.pairs.total.get((*key, "subspace"), 0)
        changed = tally.changed.total.get((*key, "subspace"), 0)
        result.setdefault(cell.name, {})[str(cell.layer)] = {
            "program_layer": cell.program_residual,
            "dims": int(cell.bases["subspace"].shape[1]),
            "pairs": pairs,
            "iia": _r(tally.pairs.rate((*key, "subspace"))),
            "iia_random": _r(tally.pairs.rate((*key, "random"))),
            "changed_pairs": changed,
            "iia_changed": _r(tally.changed.rate((*key, "subspace"))),
            "iia_random_changed": _r(tally.changed.rate((*key, "random"))),
        }
    return result


def _noise(setup, o, readout: str) -> dict | None:
    tally = o.noise.get(readout)
    if tally is None:
        return None
    return {
        "layer": setup.noise_layer,
        "variable": OUTPUT_NAME,
        "dims": o.noise_dims[readout],
        "mean_hidden_norm": _r(o.mean_norm),
        "clean_accuracy": _r(o.accuracy.rate("model")),
        "scales": [
            {
                "scale": scale,
                "norm": _r(norm),
                **{f"accuracy_{kind}": _r(tally.rate((scale, kind))) for kind in SUBSPACES},
            }
            for scale, norm in o.noise_norms.items()
        ],
    }


# --------------------------------------------------------------------------- terminal


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}"


def format_tables(result: dict) -> str:
    """The decoding tables (variables x layers, per readout and split), then interventions."""
    parts = []
    where = (
        "answer positions" if result["options"].get("positions") == "answer" else "all positions"
    )
    for readout, per_split in result["decoding"].items():
        for split, rows in per_split.items():
            if not result["splits"][split]["examples"]:
                continue
            layers = list(next(iter(rows.values())).keys()) if rows else []
            majority = result["splits"][split]["majority"]
            body = []
            for name, cells in rows.items():
                text = _probe_text if readout == "probe" else (lambda c: _pct(c and c["accuracy"]))
                body.append([name, _pct(majority.get(name)), *(text(c) for c in cells.values())])
            what = "accuracy/control %" if readout == "probe" else "accuracy %"
            title = f"{readout} readout, {split}, {where} ({what}; columns: hidden state)"
            headers = ["variable", "majority", *layers]
            parts.append(title + "\n" + tabulate(body, headers=headers))
    parts.append(_skipped_lines(result))
    parts.append(_iia_table(result))
    parts.append(_noise_table(result))
    return "\n\n".join(p for p in parts if p)


def _skipped_lines(result: dict) -> str:
    """One line per split with examples skipped (see ``programs``)."""
    lines = []
    for split, s in result["splits"].items():
        if s.get("dropped"):
            total = s["examples"] + s["dropped"]
            why = s.get("dropped_reason") or "longer than the injection program"
            lines.append(f"{split}: {s['dropped']} of {total} examples skipped: {why}")
    return "\n".join(lines)


def _probe_text(cell: dict | None) -> str:
    if cell is None:
        return "-"
    return f"{_pct(cell['accuracy'])}/{_pct(cell['control_accuracy'])}"


def _iia_table(result: dict) -> str:
    rows = []
    for readout, per_split in result["interventions"].items():
        for split, block in per_split.items():
            for name, layers in block["iia"].items():
                for layer, c in layers.items():
                    rows.append(
                        [
                            readout, split, name, layer, c["dims"], c["pairs"], _pct(c["iia"]),
                            _pct(c["iia_random"]), c["changed_pairs"], _pct(c["iia_changed"]),
                            _pct(c["iia_random_changed"]),
                        ]
                    )  # fmt: skip
    if not rows:
        return ""
    headers = ["readout", "split", "variable", "layer", "dims", "pairs", "IIA %", "random %"]
    headers += ["changed", "IIA changed %", "random changed %"]
    return "interchange interventions\n" + tabulate(rows, headers=headers)


def _noise_table(result: dict) -> str:
    rows = []
    for readout, per_split in result["interventions"].items():
        for split, block in per_split.items():
            noise = block["noise"]
            if not noise:
                continue
            for s in noise["scales"]:
                rows.append(
                    [
                        readout, split, noise["layer"], s["scale"], f"{s['norm']:.2f}",
                        _pct(noise["clean_accuracy"]), _pct(s["accuracy_subspace"]),
                        _pct(s["accuracy_random"]),
                    ]
                )  # fmt: skip
    if not rows:
        return ""
    headers = ["readout", "split", "layer", "x mean norm", "norm", "clean %", "output subspace %"]
    headers += ["random %"]
    return f"noise in the {OUTPUT_NAME} subspace\n" + tabulate(rows, headers=headers)
