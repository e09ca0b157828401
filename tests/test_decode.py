"""tracr-bench decode on models whose answer is known: the compiled program as its own model
(perfect decoding and interventions), and a random model with a random adapter (chance)."""

from __future__ import annotations

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
