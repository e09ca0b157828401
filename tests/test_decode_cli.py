"""``tracr-bench decode`` from the command line: a short injection decoded end to end (JSON and
heatmaps written, the same numbers twice), and bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests._tiny_lm import untrained_gpt2
from tracr_bench.cli import main
from tracr_bench.decode.config import DecodeConfig
from tracr_bench.decode.run import decode

DECODE = ["--task", "parity", "--split", "test,length", "--limit", "24", "--no-progress"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-block GPT-2 (parity's program has 2 layers) injected for 2 steps."""

    root = tmp_path_factory.mktemp("decode")
    model, tok = untrained_gpt2(3, 32)
    model.save_pretrained(root / "lm")
    tok.save_pretrained(root / "lm")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    rc = main(
        ["inject", "--model", str(root / "lm"), "--task", "parity", "--method", "tracr"]
        + ["--steps", "2", "--batch-size", "4", "--kl-batch-size", "2", "--kl-seq-len", "32"]
        + ["--warmup-steps", "0", "--output", str(root / "injected"), "--no-progress"]
    )
    torch.set_num_threads(before)
    assert rc == 0
    return root / "injected"


def test_decode_a_short_injection(injected, tmp_path, capsys):
    out, png = tmp_path / "decode.json", tmp_path / "decode.png"
    args = ["decode", "--model", str(injected), *DECODE, "--readout", "both"]
    args += ["--train-examples", "60", "--output", str(out), "--plot", str(png)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "adapter readout, test" in printed and "probe readout, length" in printed
    assert "interchange interventions" in printed and "noise in the final_result" in printed
    result = json.loads(out.read_text())
    assert result["options"]["readouts"] == ["adapter", "probe"]
    assert result["model"]["injection"]["method"] == "tracr"
    assert result["splits"]["length"]["program"] == "oracle"  # longer than the injection program
    adapter = result["decoding"]["adapter"]["test"]
    assert set(adapter) == {"tokens", "indices", "ones", "final_result"}
    assert list(adapter["final_result"]) == ["0", "1", "2"]  # hidden states 0..L
    assert adapter["final_result"]["0"] is None and adapter["final_result"]["2"]["positions"] > 0
    probe = result["decoding"]["probe"]["length"]["ones"]
    assert list(probe) == ["0", "1", "2", "3"]  # every hidden state of a 3-block model
    assert {"accuracy", "control_accuracy", "selectivity"} <= set(probe["3"])
    for readout in ("adapter", "probe"):
        block = result["interventions"][readout]["test"]
        assert set(block["iia"]) == {"ones", "final_result"}
        assert block["iia"]["final_result"]["2"]["pairs"] > 0
    assert result["interventions"]["adapter"]["test"]["noise"]["scales"]
    assert result["interventions"]["adapter"]["length"]["noise"] is None  # first split only
    for name in ("decode-adapter.png", "decode-probe.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "decode-adapter.png",
        "decode-probe.png",
        "decode.json",
    ]


def test_same_seed_same_numbers(injected):
    config = DecodeConfig(
        task="parity",
        model=str(injected),
        splits=("test",),
        limit=24,
        readout="probe",
        train_examples=60,
        noise=(1.0,),
        progress=False,
    )
    first, second = decode(config), decode(config)
    for key in ("decoding", "interventions", "probes", "splits"):
        assert first[key] == second[key], key


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "default", "--readout", "adapter"], "has no trained adapter"),
        (["--variables", "ones,nope"], "unknown variable 'nope'"),
        (["--intervene", "nope"], "unknown variable 'nope'"),
        (["--layers", "1,x"], "--layers takes hidden-state numbers"),
        (["--layers", "1,99"], "--layers 99: the model has hidden states 0..12"),
        (["--split", "test,nope"], "unknown split 'nope'"),
        (
            ["--output", "/nonexistent-folder/decode.json"],
            "folder '/nonexistent-folder' is missing",
        ),
        (["--plot", "decode.jpg"], "ending in .png"),
        (["--plot", "/nonexistent-folder/d.png"], "folder '/nonexistent-folder' is missing"),
        (["--plot", "d.png", "--output", "d.png"], "--output and --plot both name 'd.png'"),
        (["--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    args = ["decode", "--model", "default", *DECODE, "--output", str(tmp_path / "d.json"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tracr-bench: error: "), err
    assert message in err[0], err[0]
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_folder(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    args = ["decode", "--model", "default", *DECODE, "--output", str(tmp_path / "taken")]
    assert main(args) == 2
    assert "is a folder" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
    assert list((tmp_path / "taken").iterdir()) == []


OLD = b'{"kept": true}\n'


@pytest.mark.parametrize(
    ("existing", "options", "flag"),
    [
        ("d.json", ["--output", "d.json", "--plot", "d.png"], "--output 'd.json'"),
        ("d.png", ["--output", "d.json", "--plot", "d.png"], "--plot 'd.png'"),
        ("d-probe.png", ["--plot", "d.png", "--readout", "both"], "--plot 'd-probe.png'"),
    ],
)
def test_an_existing_file_is_refused_and_kept(
    tmp_path, capsys, monkeypatch, existing, options, flag
):
    """An existing --output or heatmap is refused before the model is loaded, in one line, left
    byte-identical, and nothing else is written (neither the other file nor a temporary)."""

    def no_model(*args, **kwargs):
        raise AssertionError("the model was looked at before the outputs were checked")

    monkeypatch.setattr("tracr_bench.preflight.check_model", no_model)
    monkeypatch.chdir(tmp_path)
    (tmp_path / existing).write_bytes(OLD)
    assert main(["decode", "--model", "default", *DECODE, *options]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tracr-bench: error: "), err
    assert f"{flag} exists; pass --overwrite" in err[0], err[0]
    assert [p.name for p in tmp_path.iterdir()] == [existing]
    assert (tmp_path / existing).read_bytes() == OLD


def test_overwrite_replaces_the_output_and_the_plot(injected, tmp_path, capsys):
    out, png = tmp_path / "d.json", tmp_path / "d.png"
    out.write_bytes(OLD)
    png.write_bytes(OLD)
    args = ["decode", "--model", str(injected), "--task", "parity", "--split", "test"]
    args += ["--limit", "8", "--readout", "adapter", "--variables", "final_result"]
    args += ["--intervene", "none", "--noise", "none", "--no-progress"]
    args += ["--output", str(out), "--plot", str(png)]
    assert main(args) == 2  # refused without --overwrite
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == OLD and png.read_bytes() == OLD
    assert main([*args, "--overwrite"]) == 0
    assert json.loads(out.read_text())["options"]["readouts"] == ["adapter"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json", "d.png"]


def test_an_adapter_of_another_task(injected, capsys):
    assert main(["decode", "--model", str(injected), "--task", "count", "--no-progress"]) == 2
    assert "injected with task 'parity'" in capsys.readouterr().err


def test_a_baseline_adapter_is_not_read(injected, tmp_path, capsys):
    """A baseline run saves its adapter untrained: `--readout adapter` is refused, and `auto`
    falls back to probes."""
    import json
    import shutil

    baseline = tmp_path / "baseline"
    shutil.copytree(injected, baseline)
    record = json.loads((baseline / "injection.json").read_text())
    (baseline / "injection.json").write_text(json.dumps({**record, "method": "baseline"}))
    args = ["decode", "--model", str(baseline), "--task", "parity", "--no-progress"]
    assert main([*args, "--readout", "adapter"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no trained adapter" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline"]


def test_probes_at_the_answer_positions(injected, capsys):
    """--positions answer: probes and their controls fitted and scored at the answer positions
    only (the control's labels follow those positions' classes), on the CLI too."""
    from tracr_bench.task import get_task

    args = ["decode", "--model", str(injected), "--task", "parity", "--split", "test"]
    args += ["--limit", "24", "--readout", "probe", "--variables", "final_result"]
    args += ["--intervene", "none", "--noise", "none", "--train-examples", "60"]
    args += ["--positions", "answer", "--no-progress"]
    assert main(args) == 0
    assert "probe readout, test, answer positions" in capsys.readouterr().out
    config = DecodeConfig(
        task="parity", model=str(injected), splits=("test",), limit=24, readout="probe",
        variables=("final_result",), intervene="none", noise=(), train_examples=60,
        positions="answer", progress=False,
    )  # fmt: skip
    result = decode(config)
    answers = sum(len(e.target.split()) for e in get_task("parity").examples("test", size=24))
    for cell in result["decoding"]["probe"]["test"]["final_result"].values():
        assert cell["positions"] == answers and cell["control_accuracy"] is not None
    assert result["options"]["positions"] == "answer"


def test_an_injection_is_read_where_its_record_aligns_it(injected, tmp_path):
    """The short injection with its injection.json rewritten as an older run's (aligned with
    hidden states 0, 2, 3; a ``spread`` method_variant): decode reads the adapter at the
    recorded hidden states and intervenes where a block follows (not at 3, the last)."""
    import shutil

    folder = tmp_path / "older"
    shutil.copytree(injected, folder, ignore=shutil.ignore_patterns("checkpoints"))
    record = json.loads((folder / "injection.json").read_text())
    assert record["program"]["aligned_hidden_states"] == [0, 1, 2]  # the paper's placement
    record["program"]["aligned_hidden_states"] = [0, 2, 3]
    record["method_variant"] = "per-variable-ce+spread"
    (folder / "injection.json").write_text(json.dumps(record))
    config = DecodeConfig(task="parity", model=str(folder), splits=("test",), limit=16,
                          noise=(1.0,), progress=False)  # fmt: skip
    result = decode(config)
    assert result["program"]["aligned_hidden_states"] == [0, 2, 3]
    assert result["program"]["alignment"] == "injection.json"
    assert result["model"]["injection"]["method_variant"] == "per-variable-ce+spread"
    adapter = result["decoding"]["adapter"]["test"]["final_result"]
    assert list(adapter) == ["0", "2", "3"] and adapter["3"]["positions"] > 0
    iia = result["interventions"]["adapter"]["test"]["iia"]
    assert list(iia) == ["ones"] and list(iia["ones"]) == ["2"]
    assert iia["ones"]["2"]["program_layer"] == 1
