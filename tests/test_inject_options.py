"""The injector's options beyond the paper (--algorithm-loss, --ce-ramp): the per-variable
losses against hand-computed values, the schedule, the record, short runs that lower their own
loss, and the default unchanged (bit for bit). The paper's placement of the program's layers is
the only one: --layer-placement is gone, and a checkpoint saved with it resumes at ``paper`` and
is refused at ``spread``; so is --algorithm-warmup (resumes at 0, refused at any other)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F

from tests._tiny_lm import untrained_gpt2
from tracr_bench.cli import build_parser
from tracr_bench.compiler.variables import ResidualVariable
from tracr_bench.inject import alignment
from tracr_bench.inject.checkpoint import latest_checkpoint
from tracr_bench.inject.cli import config_options
from tracr_bench.inject.config import InjectConfig, InjectError, method_variant, saved_config
from tracr_bench.inject.injector import Injector, ce_weight
from tracr_bench.inject.train import inject
from tracr_bench.models import DEFAULT_MODEL_DIR

TINY = dict(batch_size=4, kl_batch_size=2, kl_seq_len=32, warmup_steps=0, progress=False)

# two variables: "a" categorical on dims 0, 1; "b" numerical on dim 2, written by layer 1.
# Two aligned layers (residuals 0 and 1), one sequence of 4 positions, the last one padding.
LAYOUT = alignment.VariableLayout.build(
    [ResidualVariable("a", True, (0, 1), 0), ResidualVariable("b", False, (2,), 1)]
)
R = torch.tensor(
    [
        [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 9.0]]],  # layer 0
        [[[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.5], [1.0, 0.0, 9.0]]],  # layer 1
    ]
)
Y = torch.tensor(
    [
        [[[1.0, 1.0, 7.0], [0.0, 2.0, 7.0], [3.0, 1.0, 7.0], [0.0, 5.0, 0.0]]],
        [[[3.0, 4.0, 1.5], [1.0, 0.0, 1.0], [5.0, 5.0, 0.5], [0.0, 5.0, 0.0]]],
    ]
)
MASK = torch.tensor([[True, True, True, False]])


def test_per_variable_loss_by_hand():
    terms = alignment.variable_terms(Y, R, [0, 1], LAYOUT)
    # layer 0: b not written yet (skipped); a: 1 - cos((1,1),(1,0)), 1 - cos((0,2),(0,1)) = 0,
    # absent at position 2 (all 0): nothing present there, 0 over 3 real positions
    layer0 = (1 - 1 / math.sqrt(2) + 0 + 0) / 3
    # layer 1: a 1 - 3/5 and b 0.5^2; a 1 - 0 and b 1^2; a absent, b 0
    layer1 = ((0.4 + 0.25) / 2 + (1 + 1) / 2 + 0 / 1) / 3
    loss = alignment.per_variable_loss(terms, "cosine", MASK)
    assert loss.item() == pytest.approx(layer0 + layer1, abs=1e-6)


def test_per_variable_ce_loss_by_hand():
    terms = alignment.variable_terms(Y, R, [0, 1], LAYOUT)
    # a: the cross-entropy of softmax(y[0:2]) against the argmax of r[0:2]; b as before
    layer0 = (math.log(2) + math.log(1 + math.exp(-2))) / 3
    layer1 = ((math.log(1 + math.e) + 0.25) / 2 + (math.log(1 + math.e) + 1) / 2 + 0) / 3
    loss = alignment.per_variable_loss(terms, "ce", MASK)
    assert loss.item() == pytest.approx(layer0 + layer1, abs=1e-6)
    # the summary: per variable, means over the (layer, real position) pairs where it is present
    summary = alignment.summarize(alignment.summary_sums(terms, MASK), LAYOUT)
    assert summary["a"]["cosine"] == pytest.approx((1 - 1 / math.sqrt(2) + 0 + 0.4 + 1) / 4)
    assert summary["a"]["accuracy"] == pytest.approx(2 / 4)  # the tie (1,1) counts as right
    assert summary["b"] == {"squared_error": pytest.approx((0.25 + 1 + 0) / 3)}
    # a gradient flows, and only into present terms: the padding and absent rows get none
    y = Y.clone().requires_grad_(True)
    alignment.per_variable_loss(
        alignment.variable_terms(y, R, [0, 1], LAYOUT), "ce", MASK
    ).backward()
    assert y.grad[:, 0, 3].abs().sum() == 0 and y.grad[0, 0, :, 2].abs().sum() == 0
    assert y.grad[1, 0, 2, :2].abs().sum() == 0 and y.grad[1, 0, 0].abs().sum() > 0


@pytest.mark.parametrize(
    ("name", "kept", "other"),
    [("layer_placement", "paper", "spread"), ("algorithm_warmup", 0, 5)],
    ids=["layer-placement", "algorithm-warmup"],
)
def test_removed_option_is_gone(capsys, name, kept, other):
    option_flag = "--" + name.replace("_", "-")
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["inject", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "--algorithm-loss" in help_text and "--ce-ramp" in help_text
    assert option_flag not in help_text and "placement" not in help_text
    args = ["inject", "--task", "parity", "--output", "o", option_flag, str(other)]
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(args)
    assert exit_info.value.code == 2
    assert f"unrecognized arguments: {option_flag} {other}" in capsys.readouterr().err
    with pytest.raises(TypeError):
        InjectConfig(task="parity", **{name: kept})
    # a checkpoint's saved config: the removed option at the injector's value is ignored
    saved = {"task": "parity", "ce_ramp": 3, name: kept}
    assert saved_config(saved, "c") == InjectConfig(task="parity", ce_ramp=3)
    with pytest.raises(InjectError, match=rf"^c was trained with {option_flag} {other}, an") as err:
        saved_config({"task": "parity", name: other}, "c")
    assert "\n" not in str(err.value) and str(err.value).endswith("in a new --output folder")
    with pytest.raises(InjectError, match="^c holds unknown injection options: depth; start"):
        saved_config({"task": "parity", "depth": 3}, "c")


def test_schedule_and_validation():
    cfg = InjectConfig(task="parity", steps=20, ce_ramp=4)
    assert [ce_weight(s, cfg) for s in range(6)] == [0.25, 0.5, 0.75, 1, 1, 1]
    assert [ce_weight(s, InjectConfig(task="parity", ce_ramp=2)) for s in range(3)] == [
        0.5,
        1,
        1,
    ]
    assert all(ce_weight(s, InjectConfig(task="parity")) == 1.0 for s in range(5))
    with pytest.raises(InjectError, match="--algorithm-loss per-variable needs --method tracr"):
        InjectConfig(task="parity", method="baseline", algorithm_loss="per-variable").validate()
    with pytest.raises(InjectError, match="--ce-ramp 4 needs --method tracr"):
        dataclasses.replace(cfg, method="baseline").validate()
    dataclasses.replace(cfg, steps=2).validate()  # a ramp longer than the run is allowed
    with pytest.raises(InjectError, match="unknown algorithm_loss 'deep'"):
        InjectConfig(task="parity", algorithm_loss="deep").validate()
    # the labels of injection.json's method_variant
    assert method_variant(InjectConfig(task="parity").asdict()) is None
    assert method_variant({"method": "tracr"}) is None  # a record from before the options
    full = dataclasses.replace(cfg, algorithm_loss="per-variable")
    assert method_variant(full.asdict()) == "per-variable+ramp4"
    assert method_variant({"ce_ramp": 100}) == "ramp100"
    # an older record's config may still name the removed options: not part of the label
    older = {**full.asdict(), "algorithm_warmup": 50, "layer_placement": "spread"}
    assert method_variant(older) == "per-variable+ramp4"
    args = build_parser().parse_args(
        ["inject", "--task", "parity", "--output", "o", "--algorithm-loss", "per-variable-ce"]
    )
    assert config_options(args) == {"task": "parity", "algorithm_loss": "per-variable-ce"}


def test_variables_agree_with_decode():
    from tracr_bench.compiler.task_programs import compile_task
    from tracr_bench.compiler.variables import residual_variables
    from tracr_bench.decode.variables import program_variables
    from tracr_bench.task import get_task

    task = get_task("parity")
    compiled = compile_task(task, "injection")
    mine = {v.name: (v.categorical, v.dims, v.written_at) for v in residual_variables(compiled)}
    theirs = program_variables(task, "injection", compiled)
    assert mine == {n: (v.categorical, v.dims, v.written_at) for n, v in theirs.items()}
    assert set(mine) == {"final_result", "indices", "ones", "tokens"}  # no `one`, no helper


def _injector(**kw) -> Injector:
    cfg = InjectConfig(task="parity", steps=1, batch_size=4, kl_batch_size=2, kl_seq_len=16, **kw)
    return Injector(cfg, DEFAULT_MODEL_DIR, torch.device("cpu"))


def test_default_algorithm_loss_is_the_papers_bit_for_bit():
    inj = _injector()
    terms, _ = inj.step_losses(0)
    batch = inj.data.batch(torch.arange(4))
    residuals = [r[:, 1:] for r in inj.program(batch.program_ids).residuals]
    width = batch.program_mask.shape[1]
    with torch.no_grad(), inj.autocast():
        hidden = inj.lm(
            input_ids=batch.ids, attention_mask=batch.attention_mask, output_hidden_states=True
        ).hidden_states
        weights = batch.program_mask.float()
        old = torch.zeros(())
        for h, r in zip(hidden[: inj.n_layers + 1], residuals, strict=False):
            cos = F.cosine_similarity(inj.adapter(h[:, :width]).float(), r, dim=-1, eps=1e-8)
            old = old + ((1.0 - cos) * weights).sum() / batch.program_tokens
    assert torch.equal(terms["algorithm"].detach(), old)
    assert inj.aligned == [0, 1, 2]
    # the last step keeps the per-variable summary, whatever the loss
    inj.train_step(0)
    assert set(inj.per_variable) == {"final_result", "indices", "ones", "tokens"}


def test_the_algorithm_loss_reaches_the_blocks_below_the_program_only():
    """Program residual i is aligned with the input of block i: parity's 2 layers on the
    default LM's blocks 0 and 1, so no later block gets a gradient from the algorithm loss."""
    inj = _injector(precision="fp32")
    assert inj.aligned == [0, 1, 2]
    terms, _ = inj.step_losses(0)
    terms["algorithm"].backward()
    for i, block in enumerate(inj.blocks):
        got = any(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())
        assert got == (i < 2), f"block {i}"


def test_a_checkpoint_saved_with_removed_options_resumes_at_their_kept_value_only(tmp_path):
    """A checkpoint from before --layer-placement and --algorithm-warmup were removed carries
    them in its config: ``paper`` and 0 resume (and the record no longer names them),
    ``spread`` or a warm-up of 1 is one line."""
    model, tok = untrained_gpt2(3, 32)
    model.save_pretrained(tmp_path / "lm")
    tok.save_pretrained(tmp_path / "lm")
    run = dict(model=str(tmp_path / "lm"), output=tmp_path / "run", progress=False)
    options = {k: v for k, v in TINY.items() if k != "progress"}
    inject(task="parity", steps=2, checkpoint_every=1, stop_after=1, **options, **run)
    state = latest_checkpoint(tmp_path / "run" / "checkpoints") / "state.json"
    saved = json.loads(state.read_text())
    refused = {"layer_placement": "spread", "algorithm_warmup": 1}
    for name, value in refused.items():
        config = {**saved["config"], "layer_placement": "paper", "algorithm_warmup": 0}
        state.write_text(json.dumps({**saved, "config": {**config, name: value}}))
        flag = "--" + name.replace("_", "-")
        with pytest.raises(InjectError, match=rf"^--resume: the checkpoint .* {flag} {value}, "):
            inject(resume=True, **run)
    state.write_text(json.dumps({**saved, "config": config}))
    rec = inject(resume=True, **run)
    assert rec["resumed_from_step"] == 1 and not set(refused) & set(rec["config"])
    assert rec["program"]["aligned_hidden_states"] == [0, 1, 2] and rec["method_variant"] is None


@pytest.mark.parametrize(
    "options",
    [
        {"algorithm_loss": "per-variable"},
        {"algorithm_loss": "per-variable-ce"},
        {"ce_ramp": 2},
    ],
    ids=["per-variable", "per-variable-ce", "ramp"],
)
def test_short_run_lowers_its_own_loss(tmp_path, options):
    rec = inject(task="parity", output=tmp_path, steps=10, log_every=5, **options, **TINY)
    first, second = rec["losses"]["log"]
    assert second["algorithm"] < first["algorithm"]
    assert rec["method_variant"] == method_variant(options) and rec["method_variant"]
    program = rec["program"]
    assert program["detach_and_roll_block"] == program["aligned_hidden_states"][-1]
    assert rec["losses"]["per_variable"]["final_result"]["accuracy"] is not None
    if "ce_ramp" in options:  # the answer's cross-entropy at weight 0.5 in step 0, then 1
        assert first["loss"] < first["algorithm"] + first["kl"] + first["ce"]
        assert second["loss"] == pytest.approx(second["algorithm"] + second["kl"] + second["ce"])
