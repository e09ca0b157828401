"""The torch port reproduces tracr's compiled model on tracr's library programs."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracr.compiler import lib
from tracr.rasp import rasp

from tracr_bench.compiler.compiling import CompiledProgram, compile_program
from tracr_bench.compiler.torch_program import TorchProgram

ATOL = 1e-5

# name -> (program factory, vocab, max_seq_len)
PROGRAMS: dict[str, tuple[Callable[[], rasp.SOp], set[str], int]] = {
    "length": (lib.make_length, {"a", "b", "c"}, 5),
    "reverse": (lambda: lib.make_reverse(rasp.tokens), {"a", "b", "c"}, 5),
    "hist": (lib.make_hist, {"a", "b", "c"}, 6),
    "sort_unique": (
        lambda: lib.make_sort_unique(rasp.tokens, rasp.tokens),
        {"1", "2", "3", "4", "5"},
        5,
    ),
    "shuffle_dyck": (lambda: lib.make_shuffle_dyck(["()", "[]"]), set("()[]"), 6),
    "frac_prevs": (lambda: lib.make_frac_prevs(rasp.tokens == "x"), {"x", "y"}, 7),
}
CONFIGS = [(name, causal) for name in PROGRAMS for causal in (False, True)]
IDS = [f"{name}-{'causal' if causal else 'full'}" for name, causal in CONFIGS]
BATCH = 6  # fixed batch size: each new input shape costs tracr (jax) ~1 s of op compiles


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict:
    cache = tmp_path_factory.mktemp("cache")
    out: dict[tuple[str, bool], tuple[CompiledProgram, TorchProgram]] = {}
    for name, causal in CONFIGS:
        make, vocab, max_len = PROGRAMS[name]
        cp = compile_program(make(), vocab, max_len, causal=causal, cache_dir=cache)
        assert cp.assembled is not None  # compiled in this session
        out[(name, causal)] = (cp, TorchProgram.from_compiled(cp))
    return out


def tracr_sublayers(cp: CompiledProgram, ids: np.ndarray) -> list[np.ndarray]:
    """tracr's embedding + residual after every sublayer, in our residual order."""
    a = cp.assembled
    out = a.forward(a.params, jnp.asarray(ids)).transformer_output
    res = [out.input_embeddings, *out.residuals]
    return [np.asarray(r)[..., cp.tracr_perm] for r in res]


def _batch(draw: Callable, vocab: set[str], max_len: int) -> list[list[str]]:
    n = draw(st.sampled_from(sorted({1, 3, max_len})))
    seq = st.lists(st.sampled_from(sorted(vocab)), min_size=n, max_size=n)
    return draw(st.lists(seq, min_size=BATCH, max_size=BATCH))


@pytest.mark.parametrize(("name", "causal"), CONFIGS, ids=IDS)
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_matches_tracr_every_sublayer(compiled: dict, name: str, causal: bool, data) -> None:
    cp, tp = compiled[(name, causal)]
    _, vocab, max_len = PROGRAMS[name]
    batch = _batch(data.draw, vocab, max_len)
    ids = cp.encode_batch(batch)
    ref = tracr_sublayers(cp, ids)
    out = tp(torch.from_numpy(ids), sublayers=True)
    assert len(out.sublayer_residuals) == len(ref) == 2 * cp.n_layers + 1
    assert len(out.residuals) == cp.n_layers + 1
    for i, (r, s) in enumerate(zip(ref, out.sublayer_residuals, strict=True)):
        np.testing.assert_allclose(s.numpy(), r, rtol=0, atol=ATOL, err_msg=f"sublayer {i}")
    for i, r in enumerate(out.residuals):  # per-layer residuals = every other sublayer
        assert torch.equal(r, out.sublayer_residuals[2 * i])


@pytest.mark.parametrize(("name", "causal"), CONFIGS, ids=IDS)
def test_matches_tracr_apply(compiled: dict, name: str, causal: bool) -> None:
    """tracr's own `apply` (one sequence): residuals per layer and the decoded output."""
    cp, tp = compiled[(name, causal)]
    _, vocab, max_len = PROGRAMS[name]
    rng = np.random.default_rng(0)
    tokens = [str(t) for t in rng.choice(sorted(vocab), size=max_len)]
    ref = cp.assembled.apply([cp.bos, *tokens])
    out = tp(torch.tensor([cp.encode(tokens)]))
    unpruned = TorchProgram.from_compiled(cp, prune=False)(torch.tensor([cp.encode(tokens)]))
    tracr_res = [ref.input_embeddings, *ref.residuals[1::2]]  # after each attn+MLP layer
    assert len(tracr_res) == len(out.residuals) == len(unpruned.residuals)
    for r, s, u in zip(tracr_res, out.residuals, unpruned.residuals, strict=True):
        np.testing.assert_allclose(s.numpy(), np.asarray(r)[..., cp.tracr_perm], atol=ATOL)
        np.testing.assert_allclose(u.numpy(), np.asarray(r)[..., cp.tracr_perm], atol=ATOL)
    decoded = tp.decode_output(out.final)[0]
    assert decoded[0] == ref.decoded[0] == cp.bos
    if cp.categorical_output:
        assert decoded == ref.decoded
        tracr_map = {i: v for v, i in cp.assembled.output_encoder.encoding_map.items()}
        assert cp.output_decoding == tracr_map
    else:
        np.testing.assert_allclose(decoded[1:], ref.decoded[1:], atol=ATOL)


@pytest.mark.parametrize(("name", "causal"), CONFIGS, ids=IDS)
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_padding_equivalence(compiled: dict, name: str, causal: bool, data) -> None:
    """A right-padded batch gives, at each non-pad position, the unpadded result."""
    cp, tp = compiled[(name, causal)]
    _, vocab, max_len = PROGRAMS[name]
    seq = st.lists(st.sampled_from(sorted(vocab)), max_size=max_len)
    batch = data.draw(st.lists(seq, min_size=1, max_size=8))
    ids = torch.from_numpy(cp.encode_batch(batch))
    padded = tp(ids, sublayers=True)
    for row, tokens in enumerate(batch):
        n = len(tokens) + 1
        alone = tp(torch.tensor([cp.encode(tokens)]), sublayers=True)
        for p, a in zip(padded.sublayer_residuals, alone.sublayer_residuals, strict=True):
            torch.testing.assert_close(p[row : row + 1, :n], a, rtol=0, atol=1e-6)
        assert not padded.pad_mask[row, :n].any() and padded.pad_mask[row, n:].all()
    decoded = tp.decode_output(padded.final, ids)
    assert [len(d) for d in decoded] == [len(t) + 1 for t in batch]


def test_slice_labels_and_decode(compiled: dict) -> None:
    cp, tp = compiled[("sort_unique", False)]
    tokens = ["3", "1", "5"]
    ids = torch.tensor([cp.encode(tokens)])
    out = tp(ids)
    assert tp.labels_of("tokens") == [
        lab for lab in cp.residual_labels if lab.startswith("tokens:")
    ]
    tok = tp.slice(out.residuals[0], "tokens")
    assert tok.shape == (1, 4, len(tp.labels_of("tokens")))
    labels = tp.labels_of("tokens")
    assert [labels[i] for i in tok[0].argmax(-1).tolist()] == [
        "tokens:BOS",
        "tokens:3",
        "tokens:1",
        "tokens:5",
    ]
    # Position 0 (BOS) has no index; position p has indices:p-1.
    idx = tp.slice(out.residuals[0], "indices")[0]
    assert idx[0].abs().sum() == 0
    assert idx[1:].argmax(-1).tolist() == [0, 1, 2]
    assert tp.slice(out.final, "sort").shape[-1] == len(tp.labels_of("sort"))
    assert tp.decode_output(out.final) == [["BOS", "1", "3", "5"]]
    assert "target_pos" in tp.names()
    with pytest.raises(KeyError, match="no residual dimension named 'nope'"):
        tp.slice(out.final, "nope")


def test_numerical_decode(compiled: dict) -> None:
    cp, tp = compiled[("frac_prevs", True)]
    out = tp(tp.encode([["x", "y", "x", "x"], ["y"]]))
    dec = tp.decode_output(out.final, tp.encode([["x", "y", "x", "x"], ["y"]]))
    np.testing.assert_allclose(dec[0][1:], [1, 1 / 2, 2 / 3, 3 / 4], atol=1e-4)
    np.testing.assert_allclose(dec[1][1:], [0], atol=1e-4)
    assert tp.slice(out.final, "frac_prevs").shape == (2, 5, 1)


def test_bad_inputs(compiled: dict) -> None:
    cp, tp = compiled[("length", False)]
    with pytest.raises(ValueError, match="longer than"):
        tp(torch.zeros(1, cp.max_seq_len + 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[batch, seq\]"):
        tp(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown tokens"):
        tp.encode([["a", "q"]])


def test_device_and_dtype(compiled: dict) -> None:
    cp, tp = compiled[("shuffle_dyck", True)]
    assert all(b.dtype == torch.float32 for b in tp.buffers() if b.is_floating_point())
    assert not list(tp.parameters())  # fixed weights: nothing for an optimiser to touch
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    ids = tp.encode([["(", ")", "[", "]"], ["("]])
    ref = tp(ids).final
    for dev in devices:
        moved = TorchProgram.from_compiled(cp).to(dev)
        got = moved(ids.to(dev)).final
        assert got.device.type == dev
        torch.testing.assert_close(got.cpu(), ref, rtol=0, atol=ATOL)


def test_layer_step_replays_forward(compiled: dict) -> None:
    """``embed`` then ``layer_step`` per layer gives forward()'s residuals exactly; a residual
    edited between layers changes what the next step computes."""
    cp, tp = compiled[("sort_unique", True)]
    ids = tp.encode([["3", "1", "2"], ["5", "4"]])
    plain = tp(ids).residuals
    mask = tp.attention_mask(ids)
    x = tp.embed(ids)
    torch.testing.assert_close(x, plain[0], rtol=0, atol=0)
    for i in range(tp.n_layers):
        x = tp.layer_step(x, i, mask)
        torch.testing.assert_close(x, plain[i + 1], rtol=0, atol=0)
    assert not torch.equal(tp.layer_step(plain[0] * 0, 0, mask), plain[1])
    with pytest.raises(IndexError, match="out of range"):
        tp.layer_step(plain[0], tp.n_layers, mask)
