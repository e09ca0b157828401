"""FSDP injection on the CPU: ``torchrun --standalone --nproc_per_node 2 -m tracr_bench inject``
with accelerate's FSDP settings in the environment (``ACCELERATE_USE_FSDP=true``,
``FSDP_VERSION=2``: what ``accelerate launch --config_file fsdp.yaml`` sets), gloo, against one
process, on the tiny 3-block GPT-2 of ``test_inject_ddp`` (fp32, no dropout).

Checkpoints cross the two ways: a run stopped under FSDP is resumed under one process, and a run
stopped under one process is resumed under FSDP; both end as the uninterrupted one-process run.
So the FSDP checkpoint (gathered weights and AdamW moments), FSDP's own steps (the log of steps
1-2 from the first, 3-4 from the second) and its model folder and snapshot (gathered, written
once) are all compared with one process. Tolerance as for DDP: the loss log to a relative 1e-5,
the weights to 1e-5 (measured here: losses 1e-7 relative, weights 5e-8).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from tests.test_inject_ddp import FINISHED, _assert_close_logs, _flags, _log, _weights
from tests.test_inject_ddp import OPTIONS as DDP_OPTIONS
from tests.test_inject_stops import tiny_gpt2
from tracr_bench.cli import main
from tracr_bench.inject.config import InjectError
from tracr_bench.inject.sharding import Fsdp
from tracr_bench.inject.train import inject

OPTIONS = {**DDP_OPTIONS, "save_every": 2}
FSDP_ENV = {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2"}


def torchrun_fsdp(model: Path, output: Path, *extra: str) -> subprocess.CompletedProcess:
    """``tracr-bench inject`` on 2 processes under FSDP, as a user starts it."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    argv += ["-m", "tracr_bench", "inject", "--model", str(model), "--task", "parity"]
    argv += ["--output", str(output), *_flags(OPTIONS), "--no-progress", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **FSDP_ENV}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _close_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-5, msg=k)


def _checkpoint_log(run: Path) -> list[dict]:
    return json.loads((run / "checkpoints" / "step-000002" / "state.json").read_text())["log"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_gpt2(tmp_path_factory.mktemp("tiny_fsdp") / "lm")


def test_fsdp_checkpoints_resume_across_and_train_as_one(tmp_path, tiny):
    one = tmp_path / "one"  # uninterrupted, one process
    inject(task="parity", model=tiny, output=one, progress=False, **OPTIONS)

    # stopped under FSDP after 2 steps: a checkpoint and a snapshot, written once
    fsdp_part = tmp_path / "fsdp_part"
    stopped = torchrun_fsdp(tiny, fsdp_part, "--stop-after", "2")
    assert "stopped after step 2 of 4" in stopped.stdout
    assert {p.name for p in fsdp_part.iterdir()} == {"checkpoints", "snapshots"}
    saved = json.loads((fsdp_part / "checkpoints" / "step-000002" / "state.json").read_text())
    assert saved["parallelism"] == "fsdp" and saved["processes"] == 2
    _assert_close_logs(saved["log"], _log(one)[:2])  # FSDP's first steps
    snap = fsdp_part / "snapshots" / "step-000002"
    assert json.loads((snap / "injection.json").read_text())["parallelism"] == "fsdp"
    _close_weights(_weights(snap), _weights(one / "snapshots" / "step-000002"))

    # ... resumed under one process
    rec = inject(task="parity", model=tiny, output=fsdp_part, resume=True, progress=False)
    assert rec["resumed_from_step"] == 2 and rec["parallelism"] == "single"
    _assert_close_logs(_log(fsdp_part), _log(one))
    _close_weights(_weights(fsdp_part), _weights(one))

    # stopped under one process, resumed under FSDP: FSDP's steps 3-4 and its model folder
    one_part = tmp_path / "one_part"
    inject(task="parity", model=tiny, output=one_part, progress=False, stop_after=2, **OPTIONS)
    assert _checkpoint_log(one_part) == _log(one)[:2]
    torchrun_fsdp(tiny, one_part, "--resume")
    _assert_close_logs(_log(one_part), _log(one))
    _close_weights(_weights(one_part), _weights(one))
    assert {p.name for p in one_part.iterdir()} == FINISHED | {"snapshots"}
    for name in ("config.json", "generation_config.json", "tokenizer_config.json"):
        assert (one_part / name).read_text() == (one / name).read_text(), name
    meta = safe_open(str(one_part / "adapter.safetensors"), "pt").metadata()
    assert meta == safe_open(str(one / "adapter.safetensors"), "pt").metadata()
    record = json.loads((one_part / "injection.json").read_text())
    assert record["parallelism"] == "fsdp" and record["processes"] == 2
    assert record["batch_size_per_process"] == 2 and record["resumed_from_step"] == 2
    # the main process held its shard of the LM only (rows split over 2: the vocabulary is odd)
    single = json.loads((one / "injection.json").read_text())
    assert (
        record["lm_parameters"] == single["lm_parameters"] == single["lm_parameters_main_process"]
    )
    assert 0.49 < record["lm_parameters_main_process"] / record["lm_parameters"] < 0.51


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FSDP_VERSION": "1"}, r"fsdp_version 1; .* set fsdp_version: 2"),
        ({"FSDP_OFFLOAD_PARAMS": "true"}, r"sets fsdp_offload_params, which"),
        ({"FSDP_ACTIVATION_CHECKPOINTING": "true"}, r"sets fsdp_activation_checkpointing,"),
    ],
)
def test_unsupported_fsdp_settings_are_one_line(monkeypatch, env, message):
    for k, v in {**FSDP_ENV, **env}.items():
        monkeypatch.setenv(k, v)
    accelerator = types.SimpleNamespace(state=types.SimpleNamespace(), num_processes=2)
    with pytest.raises(InjectError, match=message):
        Fsdp.select(accelerator)


def test_fsdp_is_chosen_by_accelerate_settings_only(monkeypatch):
    accelerator = types.SimpleNamespace(state=types.SimpleNamespace(), num_processes=2)
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    assert Fsdp.select(accelerator) is None
    for k, v in FSDP_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("FSDP_RESHARD_AFTER_FORWARD", "false")
    assert Fsdp.select(accelerator) == Fsdp(reshard_after_forward=False)
    alone = types.SimpleNamespace(state=types.SimpleNamespace(), num_processes=1)
    assert Fsdp.select(alone) is None  # one process: nothing to shard over


def test_cli_refuses_fsdp1_in_one_line(tmp_path, capsys, monkeypatch, tiny):
    for k, v in {**FSDP_ENV, "FSDP_VERSION": "1"}.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "run"
    argv = ["inject", "--task", "parity", "--model", str(tiny), "--output", str(out)]
    assert main([*argv, "--steps", "1", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracr-bench: error: accelerate's FSDP config asks for fsdp_version 1")
    assert err.count("\n") == 1 and not out.exists()
