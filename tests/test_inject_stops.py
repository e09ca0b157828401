"""The injector stops in one line: non-finite options, a diverging run (non-finite loss term or
gradient, a failed projection), Ctrl-C (a real SIGINT to a subprocess, and interrupts raised in
the loop and in the final save), each leaving the last good checkpoint and nothing that looks
like a finished model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests._tiny_lm import untrained_gpt2
from tracr_bench.cli import main
from tracr_bench.inject.injector import Injector
from tracr_bench.inject.losses import OutputSubspace, ProjectionError
from tracr_bench.inject.stops import Diverged, Interrupted
from tracr_bench.inject.train import inject

# parity's injection program has 2 layers: a 3-block model is the smallest that takes it
SMALL = dict(
    task="parity", batch_size=4, kl_batch_size=2, kl_seq_len=16, warmup_steps=0, progress=False
)
DIVERGING_LR = 1e6  # measured: the answer cross-entropy is nan at step 2, fp32 and bf16 alike


def tiny_gpt2(out: Path, layers: int = 3) -> Path:
    """An untrained GPT-2 of ``layers`` blocks, width 32, no dropout, the default tokenizer."""

    model, tok = untrained_gpt2(
        layers,
        32,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        activation_function="gelu_pytorch_tanh",
    )
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2") / "lm")


def _top_level(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_options_are_refused(tmp_path, capsys, value):
    out = tmp_path / "run"
    code = main(["inject", "--task", "parity", "--output", str(out), f"--lr={value}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"tracr-bench: error: --lr must be a finite number, got {value}"]
    assert not out.exists()


def test_divergence_is_one_line_and_keeps_the_last_checkpoint(tmp_path, tiny, capsys):
    out = tmp_path / "run"
    argv = ["inject", "--model", str(tiny), "--task", "parity", "--output", str(out)]
    argv += ["--steps", "6", "--batch-size", "4", "--kl-batch-size", "2", "--kl-seq-len", "16"]
    argv += ["--warmup-steps", "0", "--checkpoint-every", "1", "--lr", str(DIVERGING_LR)]
    argv += ["--precision", "bf16", "--no-progress"]
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0] == (
        "tracr-bench: error: training diverged at step 2 of 6: the answer cross-entropy is nan; "
        f"the checkpoint of step 1 is kept in {out / 'checkpoints'} (no model was saved); try a "
        "lower --lr (now 1e+06) or --adapter-lr (now 0.003), or --precision fp32 (bf16 autocast "
        "now)"
    )
    assert _top_level(out) == {"checkpoints"}  # no model, no record, no temporary files
    assert _top_level(out / "checkpoints") == {"latest.json", "step-000001"}
    # the kept checkpoint is the good one: finite weights
    from safetensors.torch import load_file

    weights = load_file(str(out / "checkpoints" / "step-000001" / "state.safetensors"))
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


def test_consecutive_non_finite_steps_are_skipped_then_stop(tmp_path, tiny):
    out = tmp_path / "run"
    kw = dict(model=tiny, output=out, steps=8, checkpoint_every=1, precision="fp32", **SMALL)
    with pytest.raises(Diverged) as caught:
        inject(method="baseline", lr=DIVERGING_LR, max_nonfinite_steps=3, **kw)
    message = str(caught.value)
    assert message.startswith(
        "training diverged at step 4 of 8: the answer cross-entropy is nan (3 steps in a row, "
        "2-4, were not finite); the checkpoint of step 3 is kept"
    ), message
    assert "--adapter-lr" not in message and "--precision fp32" not in message  # baseline, fp32
    assert _top_level(out) == {"checkpoints"}


def test_divergence_before_the_first_checkpoint_leaves_nothing(tmp_path, tiny):
    out = tmp_path / "run"
    with pytest.raises(Diverged, match="no checkpoint had been written, so nothing was kept"):
        inject(model=tiny, output=out, steps=4, lr=DIVERGING_LR, **SMALL)
    assert not out.exists()


def test_a_failed_projection_is_divergence(tmp_path, tiny, monkeypatch):
    adapter = torch.nn.Linear(8, 5)
    with torch.no_grad():
        adapter.weight[1, 0] = float("nan")
    with pytest.raises(ProjectionError, match=r"Cholesky .* which are no longer finite\)$"):
        OutputSubspace(adapter, [1, 3]).refresh()

    set_lr = Injector.set_lr

    def poison_at_step_2(self: Injector, step: int) -> None:
        if step == 1:
            with torch.no_grad():
                self.adapter.weight.fill_(float("inf"))
        set_lr(self, step)

    monkeypatch.setattr(Injector, "set_lr", poison_at_step_2)
    out = tmp_path / "run"
    with pytest.raises(Diverged, match=r"^training diverged at step 2 of 3: the projection"):
        inject(model=tiny, output=out, steps=3, checkpoint_every=1, **SMALL)
    assert _top_level(out) == {"checkpoints"}


def test_interrupt_in_the_loop_before_a_checkpoint(tmp_path, tiny, monkeypatch, capsys):
    def interrupt(self: Injector, step: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Injector, "train_step", interrupt)
    out = tmp_path / "run"
    code = main(["inject", "--model", str(tiny), "--task", "parity", "--output", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130
    assert err[-1:] == [
        "tracr-bench: inject (tracr, parity) interrupted after 0 of 200 steps: no checkpoint had "
        "been written, so nothing was kept"
    ]
    assert not out.exists()


def test_interrupt_while_saving_leaves_a_resumable_run(tmp_path, tiny, monkeypatch):
    import safetensors.torch

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "run"
    monkeypatch.setattr(safetensors.torch, "save_file", interrupt)  # the adapter, saved last
    with pytest.raises(Interrupted, match="kept the checkpoint of step 2") as caught:
        inject(model=tiny, output=out, steps=2, **SMALL)
    assert isinstance(caught.value, KeyboardInterrupt)
    assert _top_level(out) == {"checkpoints"}, "the moved model files must be taken back"
    monkeypatch.undo()
    rec = inject(model=tiny, output=out, resume=True, **SMALL)
    assert rec["resumed_from_step"] == 2 and (out / "injection.json").is_file()


def test_ctrl_c_in_a_real_run(tmp_path, tiny):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "tracr_bench", "inject", "--model", str(tiny)]
    argv += ["--task", "parity", "--output", str(out), "--steps", "2000", "--batch-size", "2"]
    argv += ["--kl-batch-size", "2", "--kl-seq-len", "16", "--checkpoint-every", "1"]
    argv += ["--no-progress"]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pointer = out / "checkpoints" / "latest.json"
    deadline = time.time() + 240
    while not pointer.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert pointer.exists(), "no checkpoint appeared"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    lines = stderr.strip().splitlines()
    assert proc.returncode == 130, stderr
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    command = f"tracr-bench inject --output {out} --model {tiny} --resume"
    assert lines[0].startswith("tracr-bench: inject (tracr, parity) interrupted after "), lines
    assert " of 2000 steps: kept the checkpoint of step " in lines[0], lines
    assert lines[0].endswith(f"in {out / 'checkpoints'}; continue with: {command}"), lines
    assert _top_level(out) == {"checkpoints"}
    kept = {p.name for p in (out / "checkpoints").iterdir()}
    assert len(kept) == 2 and "latest.json" in kept, kept  # one complete step, no temp folder
    # the printed command resumes (one step here)
    assert main([*command.split()[1:], "--stop-after", "1", "--no-progress"]) == 0
    assert os.path.isdir(out / "checkpoints")


def test_stop_after_must_be_positive(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["inject", "--task", "parity", "--output", str(out), "--stop-after", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["tracr-bench: error: --stop-after must be at least 1, got 0"]
    assert not out.exists()
