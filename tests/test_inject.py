"""The reference injector: short runs on the default LM, gradient flow, detach-and-roll,
resume equivalence, other architectures, --split-symbols and bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests._tiny_lm import save_tiny_lm, untrained_gpt2
from tracr_bench.cli import build_parser, main
from tracr_bench.inject.blocks import find_blocks
from tracr_bench.inject.cli import config_options
from tracr_bench.inject.config import InjectConfig, InjectError, flag
from tracr_bench.inject.injector import Injector
from tracr_bench.inject.losses import OutputSubspace, detach_and_roll
from tracr_bench.inject.train import inject
from tracr_bench.models import DEFAULT_MODEL_DIR
from tracr_bench.task import TaskError

# parity's injection program: 2 layers, 44 residual dims; the cheapest to align with
TINY = dict(batch_size=4, kl_batch_size=2, kl_seq_len=32, warmup_steps=0, progress=False)


@pytest.mark.parametrize("method", ["tracr", "baseline"])
def test_short_injection_lowers_losses(tmp_path, method):
    out = tmp_path / method
    rec = inject(
        task="parity",
        method=method,
        output=out,
        steps=12,
        log_every=6,
        save_every=6,
        **{**TINY, "batch_size": 8},
    )
    first, second = rec["losses"]["log"]
    assert second["ce"] < first["ce"]
    if method == "tracr":
        assert second["algorithm"] < first["algorithm"]
    else:
        assert first["algorithm"] == second["algorithm"] == 0.0
    assert 0 < second["kl"] < 1
    # the folder holds a loadable model, the tokenizer, the adapter and the record
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "adapter.safetensors", "injection.json"} <= names
    assert "checkpoints" not in names and not [n for n in names if n.startswith(".")]
    saved = json.loads((out / "injection.json").read_text())
    assert saved["method"] == method and saved["task"] == "parity" and saved["steps"] == 12
    assert saved["base_model"]["weights_sha256"]["model.safetensors"]
    adapter = load_file(str(out / "adapter.safetensors"))
    assert adapter["weight"].shape == (44, 256)
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(out)
    # --save-every 6: the model after step 6 as a model folder of its own (not after the last)
    assert [p.name for p in (out / "snapshots").iterdir()] == ["step-000006"]
    snapshot = out / "snapshots" / "step-000006"
    assert json.loads((snapshot / "injection.json").read_text())["snapshot_step"] == 6
    assert (snapshot / "adapter.safetensors").exists()
    before = AutoModelForCausalLM.from_pretrained(snapshot).state_dict()
    after = AutoModelForCausalLM.from_pretrained(out).state_dict()
    assert not torch.equal(before["transformer.wte.weight"], after["transformer.wte.weight"])


def _injector(method: str = "tracr", **kw) -> Injector:
    cfg = InjectConfig(
        task="parity", method=method, steps=1, batch_size=4, kl_batch_size=2, kl_seq_len=16, **kw
    )
    return Injector(cfg, DEFAULT_MODEL_DIR, torch.device("cpu"))


def test_algorithm_loss_reaches_adapter_and_first_blocks_only():
    inj = _injector(precision="fp32")
    terms, _ = inj.step_losses(0)
    terms["algorithm"].backward()
    L = inj.n_layers
    assert inj.adapter.weight.grad is not None and inj.adapter.weight.grad.abs().sum() > 0

    def grad_norm(module: torch.nn.Module) -> float:
        return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)

    for i in range(L):
        assert grad_norm(inj.blocks[i]) > 0, f"block {i} got no gradient"
    for i in range(L, len(inj.blocks)):
        assert grad_norm(inj.blocks[i]) == 0, f"block {i} is after h_L and must get none"
    assert all(p.grad is None for p in inj.frozen.parameters())
    # the KL term trains the LM but never its frozen copy
    terms["kl"].backward()
    assert all(p.grad is None for p in inj.frozen.parameters())
    assert grad_norm(inj.blocks[-1]) > 0


def test_detach_and_roll_on_tensors():
    torch.manual_seed(0)
    adapter = torch.nn.Linear(8, 5)
    sub = OutputSubspace(adapter, [1, 3])
    sub.refresh()
    P = sub.matrix()
    M = adapter.weight[[1, 3]].T.detach()
    torch.testing.assert_close(P, M @ torch.linalg.pinv(M), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(P @ P, P, atol=1e-5, rtol=1e-4)  # a projection

    h = torch.randn(3, 4, 8, requires_grad=True)
    out = detach_and_roll(h, sub)
    hd = h.detach()
    rest = hd - hd @ P.T
    torch.testing.assert_close(out.detach(), hd @ P.T + torch.roll(rest, 1, dims=0))
    g = torch.randn_like(out)
    (out * g).sum().backward()
    # only the projected part carries gradient: dL/dh = g P (P symmetric)
    torch.testing.assert_close(h.grad, g @ P, atol=1e-5, rtol=1e-4)


def test_resume_reaches_the_same_weights(tmp_path):
    kw = dict(steps=4, checkpoint_every=2, **TINY)
    full = tmp_path / "full"
    options = {k: v for k, v in kw.items() if k != "progress"}
    inject(InjectConfig(task="parity", method="tracr", **options), output=full, progress=False)
    part = tmp_path / "part"
    stopped = inject(task="parity", method="tracr", output=part, stop_after=2, **kw)
    assert stopped["stopped_at"] == 2 and (part / "checkpoints" / "latest.json").is_file()
    assert not (part / "injection.json").exists()
    with pytest.raises(InjectError, match="--resume"):
        inject(task="parity", method="tracr", output=part, **kw)
    with pytest.raises(InjectError, match=r"differ from the checkpoint's run \(steps: 5 vs 4\)"):
        inject(task="parity", output=part, resume=True, **{**kw, "steps": 5})
    rec = inject(task="parity", method="tracr", output=part, resume=True, **kw)
    assert rec["resumed_from_step"] == 2
    for name in ("model.safetensors", "adapter.safetensors"):
        a, b = load_file(str(full / name)), load_file(str(part / name))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}:{k} differs after resume"
    full_log = json.loads((full / "injection.json").read_text())["losses"]["log"]
    assert rec["losses"]["log"] == full_log


def _tiny_arch(tmp_path: Path, kind: str, layers: int = 3) -> Path:
    from transformers import (
        AutoTokenizer,
        GPTNeoXConfig,
        GPTNeoXForCausalLM,
        LlamaConfig,
        LlamaForCausalLM,
    )

    tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR)
    common = dict(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    if kind == "llama":
        model = LlamaForCausalLM(LlamaConfig(num_key_value_heads=2, **common))
    else:
        model = GPTNeoXForCausalLM(GPTNeoXConfig(**common))
    out = tmp_path / kind
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.mark.parametrize("kind", ["llama", "gpt_neox"])
def test_other_architectures(tmp_path, kind):
    path = _tiny_arch(tmp_path, kind)
    rec = inject(task="parity", model=path, output=tmp_path / "out", steps=2, **TINY)
    assert rec["losses"]["final"]["algorithm"] > 0


def test_find_blocks_error():
    class NoBlocks(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(4, 4)

    with pytest.raises(InjectError, match="cannot find the transformer blocks"):
        find_blocks(NoBlocks())


def test_split_symbols(tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from tracr_bench.compiler.token_translation import Translator
    from tracr_bench.inject.split_symbols import derive
    from tracr_bench.task import get_task

    # a GPT-2-style byte-level BPE that learns multi-digit tokens
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    text = [f"{a} + {b} = {a + b}" for a in range(0, 400, 7) for b in range(0, 300, 11)]
    text += [f"{a / 100:.2f} + {b / 100:.2f} = . ." for a in range(0, 900, 37) for b in range(9)]
    text += ["the sum of two numbers is the answer"] * 50
    trainer = trainers.BpeTrainer(
        vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(text, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="the")
    task = get_task("int_sum")
    assert len(tok.encode(" 123")) < 3  # digits merged before
    example = task.example(tuple("123+45"))
    with pytest.raises(TaskError, match="tokenizes as"):
        Translator(task, tok).encode_example(example)
    derived, removed = derive(tok, task, out_dir=tmp_path / "tok")
    assert removed > 0
    assert [derived.decode([i]) for i in derived.encode(" 123")] == [" 1", "2", "3"]
    assert derived.encode(" the sum") == tok.encode(" the sum")  # words untouched
    Translator(task, derived).encode_example(example)  # one token per symbol now
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert again.encode("12 + 7 =") == derived.encode("12 + 7 =")


def test_bad_input(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(TaskError, match="unknown task"):
        inject(task="nope", output=out)
    with pytest.raises(InjectError, match="--steps must be at least 1"):
        inject(task="parity", output=out, steps=0)
    with pytest.raises(InjectError, match="unknown method"):
        inject(task="parity", method="magic", output=out)
    shallow = save_tiny_lm(tmp_path / "shallow", train_steps=0)  # 2 blocks; parity needs 3
    with pytest.raises(InjectError, match="needs at least 3"):
        inject(task="parity", model=shallow, output=out, steps=2, **TINY)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(InjectError, match="cannot write to output folder"):
        inject(task="parity", output=blocker / "sub", steps=2, **TINY)
    with pytest.raises(InjectError, match="holds no checkpoint"):
        inject(task="parity", output=tmp_path, resume=True)
    # the model's context against the longest training sequence and the KL window
    with pytest.raises(InjectError, match=r"--kl-seq-len 600 is longer .* \(512 tokens\)"):
        inject(task="parity", output=out, steps=2, **{**TINY, "kl_seq_len": 600})
    model, tok = untrained_gpt2(3, 32, n_positions=16)
    model.save_pretrained(tmp_path / "short")
    tok.save_pretrained(tmp_path / "short")
    with pytest.raises(InjectError, match="training sequences reach .* context is 16"):
        inject(task="parity", model=tmp_path / "short", output=out, steps=2, **TINY)
    assert not out.exists(), "a failed run must leave nothing behind"

    capsys.readouterr()  # drop what building the tiny LM printed (its progress bars)
    code = main(["inject", "--task", "parity", "--output", str(out), "--steps", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["tracr-bench: error: --steps must be at least 1, got 0"]
    assert not out.exists()


def test_options_are_the_config_fields(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(InjectError, match="unknown injection options: stepz"):
        inject(task="parity", output=out, stepz=3)
    with pytest.raises(InjectError, match="--steps must be an integer, got '5'"):
        inject(task="parity", output=out, steps="5")
    with pytest.raises(InjectError, match="no task given"):
        inject(output=out)
    with pytest.raises(InjectError, match="unknown precision 'fp8'"):
        inject(InjectConfig(task="parity"), output=out, precision="fp8")
    assert not out.exists()
    # every field is a flag of `tracr-bench inject`, with its help text and default
    args = build_parser().parse_args(
        ["inject", "--task", "parity", "--output", "o", "--lr", "0.5", "--split-symbols"]
    )
    assert config_options(args) == {"task": "parity", "lr": 0.5, "split_symbols": True}
    with pytest.raises(SystemExit):
        main(["inject", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(InjectConfig):
        assert f"{flag(field.name)} " in shown, field.name
        assert " ".join(field.metadata["help"].split()) in shown, field.name
        if field.default is not dataclasses.MISSING and not isinstance(field.default, bool):
            assert f"(default: {field.default})" in shown, field.name


def test_training_batches_end_with_the_stop_token(default_tokenizer):
    from tracr_bench.compiler.task_programs import compile_task
    from tracr_bench.compiler.torch_program import TorchProgram
    from tracr_bench.inject.data import TaskData, stop_token_id
    from tracr_bench.task import get_task

    task = get_task("int_sum")  # prompt + answer fill the program's max_seq_len exactly
    program = TorchProgram.from_compiled(compile_task(task, "injection"))
    data = TaskData(task, default_tokenizer, program, 64, 0, torch.device("cpu"))
    batch = data.batch(torch.arange(64))
    stop = stop_token_id(default_tokenizer)
    assert default_tokenizer.decode([stop]) == "\n"
    last = batch.attention_mask.sum(1) - 1
    rows = torch.arange(64)
    assert (batch.ids[rows, last] == stop).all()
    assert batch.answer_mask[rows, last].all()  # the stop token is trained
    # the program reads prompt + answer only, and never more than it was compiled for
    assert batch.program_ids.shape[1] <= program.max_seq_len + 1
    assert (batch.program_mask.sum(1) == last).all()
    program(batch.program_ids)
