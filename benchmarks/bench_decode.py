"""Speed of ``tracr-bench decode`` against one batched forward pass over the same examples.

    python benchmarks/bench_decode.py [--model PATH] [--task parity] [--examples 1000]
                                      [--variable final_result] [--threads 1] [--repeats 2]

(a) The reference: one forward pass of the LM (``model(input_ids).logits``, every position) over
the examples, in the batches decode uses (same-length groups, right-padded).
(b) Decoding and IIA of one variable: the adapter readout of every variable at hidden states
0..L (the model's clean pass and the compiled program's), then interchange interventions on
``--variable`` at the hidden state where the program writes it, through the adapter's subspace
and through a random subspace of the same dimension (the control), with the program's
counterfactuals. No probes, no noise: those are further passes of the same kind.
(c) The same without the random-subspace control.

Timed interleaved (a, b, c, a, b, c, ...) after one warm-up of each; the fastest of each counts,
and every ratio is between timings of the same run. Without ``--model``, the default LM gets a
random adapter (the time does not depend on the adapter's weights). Prints the load average
before and after: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch
from safetensors.torch import save_file

from tracr_bench.compiler.task_programs import compile_task
from tracr_bench.decode import run as decode_run
from tracr_bench.decode.config import DecodeConfig
from tracr_bench.decode.interventions import Cell
from tracr_bench.decode.run import load_split
from tracr_bench.decode.setup import prepare
from tracr_bench.models import DEFAULT_MODEL_DIR
from tracr_bench.task import get_task


def default_lm_with_adapter(task: str, folder: Path) -> Path:
    """The default LM's files and a seeded random adapter for ``task``'s program."""
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(DEFAULT_MODEL_DIR / name, folder / name)
    labels = compile_task(get_task(task), "injection").residual_labels
    width = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())["n_embd"]
    torch.manual_seed(0)
    adapter = torch.nn.Linear(width, len(labels))
    save_file(
        {k: v.detach().contiguous() for k, v in adapter.state_dict().items()},
        str(folder / "adapter.safetensors"),
        metadata={"residual_labels": json.dumps(labels), "output_name": "final_result"},
    )
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="an injected model folder")
    ap.add_argument("--task", default="parity")
    ap.add_argument("--split", default="test")
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--variable", default="final_result")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_decode_") as tmp:
        model = args.model or str(default_lm_with_adapter(args.task, Path(tmp)))
        timings, info = measure(model, args)
    best = {k: min(v) for k, v in timings.items()}
    print(info)
    for key, label in (
        ("reference", "(a) one batched forward pass (logits at every position)"),
        ("decode_iia", "(b) decoding + IIA of one variable, with its random control"),
        ("decode_iia_no_control", "(c) decoding + IIA of one variable, no control"),
    ):
        runs = ", ".join(f"{t:.2f}" for t in timings[key])
        print(f"  {label}: {best[key]:.2f} s (runs: {runs})")
    print(f"  ratio b / a: {best['decode_iia'] / best['reference']:.2f} (goal <= 2)")
    print(f"  ratio c / a: {best['decode_iia_no_control'] / best['reference']:.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def measure(model: str, args) -> tuple[dict[str, list[float]], str]:
    config = DecodeConfig(
        task=args.task,
        model=model,
        splits=(args.split,),
        limit=args.examples,
        readout="adapter",
        intervene=(args.variable,),
        noise=(),
        batch_size=args.batch_size,
        progress=False,
    )
    setup = prepare(config)
    data = load_split(setup, args.split)
    lm = setup.subject.lm

    def reference() -> None:
        with torch.no_grad():
            for batch in data.batches:
                lm(input_ids=batch.lm_ids).logits  # noqa: B018

    def decode_iia() -> None:
        outcome = decode_run.run_split(setup, data, None, None, lambda *_: None, noise=False)
        assert outcome.iia["adapter"].pairs.total, "no interchange pairs"

    def decode_iia_no_control() -> None:
        with mock.patch.object(decode_run, "make_cells", _cells_without_control):
            decode_iia()

    runs = {
        "reference": reference,
        "decode_iia": decode_iia,
        "decode_iia_no_control": decode_iia_no_control,
    }
    timings: dict[str, list[float]] = {k: [] for k in runs}
    for repeat in range(args.repeats + 1):
        for key, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            if repeat > 0:  # the first round warms up
                timings[key].append(time.perf_counter() - t0)
    positions = sum(int(b.lengths.sum()) for b in data.batches)
    info = (
        f"task {args.task}/{args.split}: {data.n_examples} examples, {positions} tokens, "
        f"{len(data.batches)} batches (<= {args.batch_size}); model {Path(model).name or model} "
        f"({setup.subject.n_hidden - 1} blocks, hidden {setup.subject.width}); program "
        f"{setup.n_layers} layers; IIA of {args.variable!r} at hidden state "
        f"{setup.programs.injection.variables[args.variable].written_at}, "
        f"{data.n_pairs} pairs; threads {torch.get_num_threads()}"
    )
    return timings, info


MAKE_CELLS = decode_run.make_cells


def _cells_without_control(*args, **kwargs) -> list[Cell]:
    """``run.make_cells`` without the random subspaces (for timing (c) only)."""
    cells = MAKE_CELLS(*args, **kwargs)
    return [Cell(c.name, c.layer, {"subspace": c.bases["subspace"]}) for c in cells]


if __name__ == "__main__":
    main()
