"""tracr-bench decode on models whose answer is known: the compiled program as its own model
(perfect decoding and interventions), and a random model with a random adapter (chance)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests._tiny_lm import untrained_gpt2
from tracr_bench.compiler.task_programs import compile_task
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.decode.config import DecodeConfig
from tracr_bench.decode.interventions import interchange
from tracr_bench.decode.readouts import identity_readout, orthonormal
from tracr_bench.decode.run import decode
from tracr_bench.decode.subjects import ProgramSubject, program_residuals
from tracr_bench.models import DEFAULT_MODEL_DIR
from tracr_bench.task import get_task


@pytest.fixture(autouse=True)
def one_thread():
    """Small matrices on a shared 2-core machine: one thread is many times faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _program(task: str) -> TorchProgram:
    return TorchProgram.from_compiled(compile_task(get_task(task), "injection")).eval()


@pytest.mark.parametrize("task", ["parity", "pattern"])
def test_the_program_is_its_own_perfect_model(task):
    program = _program(task)
    layers = tuple(range(program.n_layers + 1))
    config = DecodeConfig(
        task=task, splits=("test",), limit=32, readout="adapter", layers=layers, noise=(1.0,),
        progress=False,
    )  # fmt: skip
    result = decode(
        config, subject=ProgramSubject(program), adapter=identity_readout(program.residual_labels)
    )
    decoding = result["decoding"]["adapter"]["test"]
    assert set(decoding) == set(result["program"]["variables"]) >= {"tokens", "final_result"}
    for name, cells in decoding.items():
        got = {layer: c["accuracy"] for layer, c in cells.items() if c is not None}
        assert got and set(got.values()) == {1.0}, (name, got)
        first = result["program"]["variables"][name]["written_at"]
        assert min(map(int, got)) == first  # nothing to decode before the program writes it
    iia = result["interventions"]["adapter"]["test"]["iia"]
    assert set(iia) == set(decoding) - {"tokens", "indices"}
    for name, cells in iia.items():
        for layer, c in cells.items():
            assert c["pairs"] > 0 and c["iia"] == 1.0, (name, layer, c)
            assert c["iia_changed"] in (1.0, None), (name, layer, c)
    output = iia["final_result"][str(program.n_layers)]
    assert output["changed_pairs"] > 0 and output["iia_random_changed"] < 1.0
    noise = result["interventions"]["adapter"]["test"]["noise"]
    assert noise["layer"] == program.n_layers and noise["clean_accuracy"] == 1.0
    assert result["splits"]["test"]["model_accuracy"] == 1.0


def test_program_edit_replays_the_forward_pass():
    program = _program("parity")
    ids = torch.tensor([[program.bos_id] + [0, 1, 1, 2, 0, 1]])
    plain = program(ids).residuals
    for layer in range(program.n_layers + 1):
        edited = program_residuals(program, ids, (layer, lambda x: x))
        for a, b in zip(plain, edited, strict=True):
            torch.testing.assert_close(a, b)


def test_interchange_gives_the_source_component():
    generator = torch.Generator().manual_seed(0)
    basis = orthonormal(torch.randn(16, 3, generator=generator))
    base, source = torch.randn(2, 5, 16, generator=generator).unbind(0)
    out = interchange(basis, source[None])(base[None])[0]
    torch.testing.assert_close(out @ basis, source @ basis)  # the subspace: the source's
    rest = torch.eye(16) - basis @ basis.T
    torch.testing.assert_close(out @ rest, base @ rest)  # the rest: the base's


def _random_model_with_adapter(folder: Path) -> Path:

    model, tok = untrained_gpt2(3, 32)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    labels = compile_task(get_task("parity"), "injection").residual_labels
    adapter = torch.nn.Linear(32, len(labels))
    save_file(
        {k: v.detach().contiguous() for k, v in adapter.state_dict().items()},
        str(folder / "adapter.safetensors"),
        metadata={"residual_labels": json.dumps(labels), "output_name": "final_result"},
    )
    return folder


def test_a_random_model_decodes_near_chance(tmp_path):
    folder = _random_model_with_adapter(tmp_path / "random")
    config = DecodeConfig(
        task="parity", model=str(folder), splits=("test",), limit=64, intervene="none", noise=(),
        progress=False,
    )  # fmt: skip
    result = decode(config)
    assert result["options"]["readouts"] == ["adapter"]
    majority = result["splits"]["test"]["majority"]
    for name, cells in result["decoding"]["adapter"]["test"].items():
        for layer, c in cells.items():
            if c is not None:  # never better than always answering the most frequent value
                assert c["accuracy"] <= majority[name] + 0.1, (name, layer, c, majority[name])
    assert all(
        c["accuracy"] < 0.15 for c in result["decoding"]["adapter"]["test"]["indices"].values()
    )


def _tiny_lm(kind: str):
    from transformers import (
        AutoTokenizer,
        GPTNeoXConfig,
        GPTNeoXForCausalLM,
        LlamaConfig,
        LlamaForCausalLM,
    )

    tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR)
    torch.manual_seed(0)
    common = dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=4, num_attention_heads=2)
    if kind == "gpt2":
        model, tok = untrained_gpt2(4, 32)
        return model.eval(), tok
    if kind == "llama":
        config = LlamaConfig(num_key_value_heads=2, intermediate_size=64, **common)
        return LlamaForCausalLM(config).eval(), tok
    config = GPTNeoXConfig(intermediate_size=64, **common)
    return GPTNeoXForCausalLM(config).eval(), tok


@pytest.mark.parametrize("kind", ["gpt2", "llama", "gpt_neox"])
def test_skipping_the_blocks_before_an_edit_changes_nothing(kind):
    from tracr_bench.compiler.token_translation import Translator
    from tracr_bench.decode.data import make_batches, translate
    from tracr_bench.decode.subjects import LMSubject
    from tracr_bench.inject.blocks import hidden_of

    lm, tok = _tiny_lm(kind)
    task = get_task("parity")
    program = _program("parity")
    translator = Translator(task, tok)
    rows = translate(task, translator, "test", 12, 0)
    lookup = translator.lookup(program.compiled.input_encoding)
    (batch,) = make_batches(rows, lookup, program, 64, "test")
    subject = LMSubject(lm, tok)
    layer = 2
    clean = subject.run(batch, keep=[layer], answers=False)  # stops at block 2
    full = subject.run(batch, keep=[0, layer, subject.n_hidden - 1])
    torch.testing.assert_close(clean.hidden[layer], full.hidden[layer])
    source = batch.source.clamp_min(0)
    basis = orthonormal(torch.randn(32, 8, generator=torch.Generator().manual_seed(1)))
    edit = (layer, interchange(basis, clean.hidden[layer][source]))
    outputs = []
    hook = subject.blocks[-1].register_forward_hook(lambda m, a, out: outputs.append(out))
    try:
        skipped = subject.run(batch, edit=edit, start=clean.hidden[layer])
        replayed = subject.run(batch, edit=edit)
        subject.run(batch)  # no edit
    finally:
        hook.remove()
    assert skipped.answers == replayed.answers
    last = [hidden_of(out) for out in outputs]
    torch.testing.assert_close(last[0], last[1])
    assert not torch.allclose(last[0], last[2])  # the edit did change the last block's output


class _Stretched:
    """The compiled program as a model of 2L blocks: hidden state 2i is its residual after i
    layers, the odd ones are zeros (a model aligned with hidden states 0, 2, ..., 2L)."""

    def __init__(self, program: TorchProgram) -> None:
        self.program = program
        self.n_hidden = 2 * program.n_layers + 1
        self.width = len(program.residual_labels)
        self.max_edit_layer = 2 * program.n_layers
        self.device = program.token_embed.device

    def run(self, batch, *, keep=(), edit=None, start=None, answers=True):
        from tracr_bench.decode.subjects import Run, program_answers

        assert edit is None or edit[0] % 2 == 0, "an edit between aligned states"
        program_edit = None if edit is None else (edit[0] // 2, edit[1])
        residuals = program_residuals(self.program, batch.program_ids, program_edit)
        hidden = {
            h: residuals[h // 2][:, 1:] if h % 2 == 0 else torch.zeros_like(residuals[0][:, 1:])
            for h in keep
        }
        texts = program_answers(self.program, residuals[-1], batch) if answers else []
        return Run(hidden, texts)


def test_program_layer_i_is_read_at_its_aligned_hidden_state():
    program = _program("parity")
    L = program.n_layers
    config = DecodeConfig(task="parity", splits=("test",), limit=24, readout="adapter",
                          noise=(1.0,), progress=False)  # fmt: skip
    readout = identity_readout(program.residual_labels)
    aligned = [2 * i for i in range(L + 1)]
    result = decode(config, subject=_Stretched(program), adapter=readout, aligned=aligned)
    assert result["program"]["aligned_hidden_states"] == aligned
    decoding = result["decoding"]["adapter"]["test"]
    for name, cells in decoding.items():
        first = 2 * result["program"]["variables"][name]["written_at"]
        assert list(cells) == [str(h) for h in aligned]
        for h, c in cells.items():
            assert (c is None) == (int(h) < first) and (c is None or c["accuracy"] == 1.0)
    for name, cells in result["interventions"]["adapter"]["test"]["iia"].items():
        for h, c in cells.items():
            assert c["program_layer"] == int(h) // 2 and c["iia"] == 1.0, (name, h, c)
    assert result["interventions"]["adapter"]["test"]["noise"]["layer"] == 2 * L
    # the identity alignment reads the zeros in between: the mapping is what made it right
    quiet = dataclasses.replace(config, intervene="none", noise=())
    plain = decode(quiet, subject=_Stretched(program), adapter=readout)
    assert plain["decoding"]["adapter"]["test"]["ones"]["1"]["accuracy"] < 1.0


def test_answer_positions_only():
    program = _program("parity")
    readout = identity_readout(program.residual_labels)
    runs = {
        where: decode(
            DecodeConfig(
                task="parity",
                splits=("test",),
                limit=16,
                readout="adapter",
                intervene="none",
                noise=(),
                positions=where,
                progress=False,
            ),
            subject=ProgramSubject(program),
            adapter=readout,
        )  # fmt: skip
        for where in ("all", "answer")
    }
    answers = sum(len(e.target.split()) for e in get_task("parity").examples("test", size=16))
    cells = {w: r["decoding"]["adapter"]["test"]["tokens"]["0"] for w, r in runs.items()}
    assert cells["answer"]["positions"] == answers < cells["all"]["positions"]
    assert cells["answer"]["accuracy"] == 1.0
    assert runs["answer"]["options"]["positions_scored"].startswith("the answer positions")
    from tracr_bench.decode.plot import heatmap_png
    from tracr_bench.decode.report import format_tables

    assert "test, answer positions" in format_tables(runs["answer"])
    assert heatmap_png(runs["answer"], "adapter")[:4] == b"\x89PNG"


def test_a_split_longer_than_the_program_is_skipped_with_its_count(tmp_path):
    from tracr_bench.decode.plot import heatmap_png
    from tracr_bench.decode.report import format_tables

    program = _program("int_sum")
    config = DecodeConfig(
        task="int_sum", splits=("test", "decimals"), limit=6, readout="adapter",
        intervene="none", noise=(), progress=False,
    )  # fmt: skip
    result = decode(
        config, subject=ProgramSubject(program), adapter=identity_readout(program.residual_labels)
    )
    decimals = result["splits"]["decimals"]
    assert (decimals["examples"], decimals["dropped"]) == (0, 6)
    assert "not layer for layer the injection program" in decimals["dropped_reason"]
    assert result["splits"]["test"]["dropped"] == 0
    table = format_tables(result)
    assert "decimals: 6 of 6 examples skipped: longer than the injection program's 11" in table
    assert "adapter readout, test" in table and "adapter readout, decimals" not in table
    assert heatmap_png(result, "adapter")[:4] == b"\x89PNG"


def test_an_injection_record_aligns_the_adapter(tmp_path, capsys):
    """A hand-made injection.json with program.aligned_hidden_states [0, 2, 3] on a 3-block
    model: the adapter is read at hidden states 0, 2, 3; interventions run only where a block
    follows (hidden state 3 is the final one); a bad list is one line."""
    from tracr_bench.cli import main

    folder = _random_model_with_adapter(tmp_path / "aligned")
    record = {"task": "parity", "method": "tracr", "program": {"aligned_hidden_states": [0, 2, 3]}}
    (folder / "injection.json").write_text(json.dumps(record))
    config = DecodeConfig(task="parity", model=str(folder), splits=("test",), limit=16,
                          noise=(1.0,), progress=False)  # fmt: skip
    result = decode(config)
    assert result["program"]["aligned_hidden_states"] == [0, 2, 3]
    assert result["program"]["alignment"] == "injection.json"
    assert list(result["decoding"]["adapter"]["test"]["ones"]) == ["0", "2", "3"]
    assert result["decoding"]["adapter"]["test"]["ones"]["0"] is None  # written by layer 0
    iia = result["interventions"]["adapter"]["test"]["iia"]
    assert list(iia) == ["ones"] and iia["ones"]["2"]["program_layer"] == 1
    assert result["interventions"]["adapter"]["test"]["noise"] is None  # no block after 3
    record["program"]["aligned_hidden_states"] = [0, 3, 2]
    (folder / "injection.json").write_text(json.dumps(record))
    args = ["decode", "--model", str(folder), "--task", "parity", "--limit", "4", "--no-progress"]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "aligned_hidden_states [0, 3, 2]" in err[0], err
