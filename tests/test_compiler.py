"""Tests for tracr_bench.compiler.compiling: compile, canonical labels, cache key, on-disk cache."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tracr.compiler import lib
from tracr.rasp import rasp

from tracr_bench.compiler.compiling import (
    META_FILE,
    WEIGHTS_FILE,
    CompiledProgram,
    cache_key,
    compile_program,
    default_cache_dir,
)

VOCAB = {"a", "b", "c"}


def _assert_same(a: CompiledProgram, b: CompiledProgram) -> None:
    assert a.key == b.key
    assert sorted(a.weights) == sorted(b.weights)
    for name in a.weights:
        assert a.weights[name].dtype == b.weights[name].dtype == np.float32
        assert np.array_equal(a.weights[name], b.weights[name]), name
    assert a.residual_labels == b.residual_labels
    assert a.blocks == b.blocks
    assert a.input_encoding == b.input_encoding
    assert a.output_decoding == b.output_decoding
    assert a.output_name == b.output_name
    assert a.n_params == b.n_params


@pytest.fixture(scope="module")
def length_cp(tmp_path_factory: pytest.TempPathFactory) -> CompiledProgram:
    return compile_program(
        lib.make_length(), VOCAB, 5, causal=False, cache_dir=tmp_path_factory.mktemp("c")
    )


def test_metadata(length_cp: CompiledProgram) -> None:
    cp = length_cp
    assert not cp.from_cache
    assert cp.output_name == "length"
    assert cp.n_layers == 1 and len(cp.blocks) == 1
    assert cp.blocks[0].n_heads == cp.n_heads == 1
    assert cp.blocks[0].active_heads == 1
    assert cp.blocks[0].causal is False
    assert cp.residual_width == len(cp.residual_labels) == len(set(cp.residual_labels))
    assert cp.weights["token_embed/embeddings"].shape == (len(VOCAB) + 2, cp.residual_width)
    assert cp.weights["pos_embed/embeddings"].shape == (cp.max_seq_len + 1, cp.residual_width)
    assert cp.n_params == sum(w.size for w in cp.weights.values())
    assert cp.mlp_hidden_size == cp.blocks[0].mlp_hidden_size > 0
    assert set(cp.input_encoding) == VOCAB | {"BOS", "PAD"}
    assert cp.output_decoding == {i: i for i in range(6)}  # lengths 0..5
    # Canonical labels: the program's names, no tracr unique-id suffix.
    assert cp.labels_of("length") == [f"length:{i}" for i in range(6)]
    assert cp.labels_of("indices") == [f"indices:{i}" for i in range(5)]
    assert "one" in cp.residual_labels and "tokens:BOS" in cp.residual_labels
    # tracr's raw labels carry ids; the permutation maps them onto ours.
    assert any(lab.startswith("length_") and ":" in lab for lab in cp.raw_residual_labels)
    for i, lab in enumerate(cp.residual_labels):
        assert re.sub(r"^length_\d+", "length", cp.raw_residual_labels[cp.tracr_perm[i]]) == lab
    assert cp.summary()["n_layers"] == 1


def test_encode_and_unknown_token(length_cp: CompiledProgram) -> None:
    cp = length_cp
    ids = cp.encode(["a", "c"])
    assert ids == [cp.bos_id, cp.input_encoding["a"], cp.input_encoding["c"]]
    with pytest.raises(ValueError, match=r"unknown tokens \['z'\]"):
        cp.encode(["a", "z"])
    with pytest.raises(ValueError, match="max_seq_len"):
        cp.encode(["a"] * 6)
    with pytest.raises(ValueError, match="reserved"):
        cp.encode(["BOS", "a"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.sampled_from(sorted(VOCAB)), max_size=5), min_size=1, max_size=6))
def test_encode_batch_right_pads(length_cp: CompiledProgram, batch: list[list[str]]) -> None:
    arr = length_cp.encode_batch(batch)
    assert arr.shape == (len(batch), 1 + max(len(s) for s in batch))
    for row, seq in zip(arr, batch, strict=True):
        assert row[: len(seq) + 1].tolist() == length_cp.encode(seq)
        assert (row[len(seq) + 1 :] == length_cp.pad_id).all()


def test_bad_vocab() -> None:
    with pytest.raises(ValueError, match="reserved"):
        compile_program(lib.make_length(), {"a", "BOS"}, 4, use_cache=False)


def test_cache_key_stable_and_sensitive() -> None:
    def prog(f):
        return rasp.Map(f, rasp.tokens).named("m")

    base = cache_key(prog(lambda x: x == "a"), VOCAB, 5)
    # Same tables from a different lambda (and different tracr unique ids): same key.
    assert cache_key(prog(lambda t: "a" == t), VOCAB, 5) == base
    # Behaviour, names, vocab and settings change the key.
    assert cache_key(prog(lambda x: x == "b"), VOCAB, 5) != base
    assert cache_key(rasp.Map(lambda x: x == "a", rasp.tokens).named("n"), VOCAB, 5) != base
    assert cache_key(prog(lambda x: x == "a"), VOCAB | {"d"}, 5) != base
    assert cache_key(prog(lambda x: x == "a"), VOCAB, 6) != base
    assert cache_key(prog(lambda x: x == "a"), VOCAB, 5, causal=False) != base
    assert cache_key(prog(lambda x: x == "a"), VOCAB, 5, mlp_exactness=10) != base
    num = rasp.numerical(rasp.Map(lambda x: x == "a", rasp.tokens).named("m"))
    assert cache_key(num, VOCAB, 5) != base
    # Selector predicates are tabulated too.
    s1 = rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ), rasp.tokens)
    s2 = rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LT), rasp.tokens)
    assert cache_key(s1, VOCAB, 5) != cache_key(s2, VOCAB, 5)


def test_cache_key_same_in_another_process() -> None:
    code = (
        "from tracr.compiler import lib\n"
        "from tracr_bench.compiler.compiling import cache_key\n"
        "for _ in range(3): lib.make_hist()\n"  # shift tracr's unique ids
        "print(cache_key(lib.make_shuffle_dyck(['()', '[]']), {'(', ')', '[', ']'}, 6))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    here = cache_key(lib.make_shuffle_dyck(["()", "[]"]), {"(", ")", "[", "]"}, 6)
    assert out.strip().splitlines()[-1] == here


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACR_BENCH_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("TRACR_BENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "tracr-bench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "tracr-bench"


def test_cache_hit_identical_and_faster(tmp_path: Path) -> None:
    def prog():
        return lib.make_shuffle_dyck(["()", "[]", "{}"])

    vocab = set("()[]{}")
    t0 = time.perf_counter()
    first = compile_program(prog(), vocab, 8, cache_dir=tmp_path)
    compile_wall = time.perf_counter() - t0
    entry = tmp_path / first.key
    assert (entry / WEIGHTS_FILE).is_file() and (entry / META_FILE).is_file()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp dirs left
    assert first.cache_path == entry

    t0 = time.perf_counter()
    second = compile_program(prog(), vocab, 8, cache_dir=tmp_path)
    load_wall = time.perf_counter() - t0
    assert second.from_cache and not first.from_cache
    _assert_same(first, second)
    assert second.seconds < first.seconds / 5
    assert load_wall < compile_wall / 3
    assert second.assembled is None

    # use_cache=False compiles again and leaves the entry alone.
    third = compile_program(prog(), vocab, 8, cache_dir=tmp_path, use_cache=False)
    assert not third.from_cache
    _assert_same(first, third)


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate_keep_sha(entry: Path) -> None:
    """Unreadable safetensors whose sha256 in meta.json is updated to match."""
    import hashlib

    w = entry / WEIGHTS_FILE
    w.write_bytes(w.read_bytes()[:40])
    meta = json.loads((entry / META_FILE).read_text())
    meta["weights_sha256"] = hashlib.sha256(w.read_bytes()).hexdigest()
    (entry / META_FILE).write_text(json.dumps(meta))


def _edit_meta(entry: Path, **changes) -> None:
    meta = json.loads((entry / META_FILE).read_text())
    meta.update(changes)
    (entry / META_FILE).write_text(json.dumps(meta))


CORRUPTIONS = {
    "flipped_weight_byte": lambda e: _flip_byte(e / WEIGHTS_FILE),
    "missing_weights": lambda e: (e / WEIGHTS_FILE).unlink(),
    "missing_meta": lambda e: (e / META_FILE).unlink(),
    "garbage_meta": lambda e: (e / META_FILE).write_text("{not json"),
    "wrong_key_in_meta": lambda e: _edit_meta(e, key="0" * 64),
    "wrong_sha_in_meta": lambda e: _edit_meta(e, weights_sha256="0" * 64),
    "meta_shapes_mismatch": lambda e: _edit_meta(e, weights={}),
    "unreadable_safetensors": _truncate_keep_sha,
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_cache_recompiles(tmp_path: Path, corruption: str) -> None:
    def prog():
        return lib.make_hist()

    good = compile_program(prog(), VOCAB, 5, cache_dir=tmp_path)
    entry = tmp_path / good.key
    CORRUPTIONS[corruption](entry)

    again = compile_program(prog(), VOCAB, 5, cache_dir=tmp_path)
    assert not again.from_cache, "a corrupt entry must not be trusted"
    _assert_same(good, again)
    # The entry was overwritten with a good one.
    third = compile_program(prog(), VOCAB, 5, cache_dir=tmp_path)
    assert third.from_cache
    _assert_same(good, third)
    assert sorted(os.listdir(tmp_path)) == [good.key]


def test_numerical_output_metadata(tmp_path: Path) -> None:
    cp = compile_program(lib.make_frac_prevs(rasp.tokens == "x"), {"x", "y"}, 5, cache_dir=tmp_path)
    assert cp.output_decoding is None and not cp.categorical_output
    assert cp.labels_of("frac_prevs") == ["frac_prevs"]
    loaded = compile_program(
        lib.make_frac_prevs(rasp.tokens == "x"), {"x", "y"}, 5, cache_dir=tmp_path
    )
    assert loaded.from_cache and loaded.output_decoding is None
    _assert_same(cp, loaded)


def test_one_hot_basis_vectors_give_tracr_weights() -> None:
    """The compile-time replacement of tracr's ``np.eye(n)[i]`` basis vectors changes no
    weight: the same program compiled by stock tracr and through ``_compile_with_tracr``."""
    from tracr.compiler import compiling as tracr_compiling
    from tracr.craft import bases

    from tracr_bench.compiler.compiling import _compile_with_tracr
    from tracr_bench.compiler.task_programs import program_for
    from tracr_bench.task import get_task

    task = get_task("shuffle_dyck")  # numerical MLPs and categorical attention
    program, vocab = program_for(task, "oracle"), task.token_map.compiler_vocab()
    stock_vector = bases.VectorSpaceWithBasis.vector_from_basis_direction
    ours = _compile_with_tracr(program, vocab, 12, True, 1000)
    assert bases.VectorSpaceWithBasis.vector_from_basis_direction is stock_vector  # restored
    stock = tracr_compiling.compile_rasp_to_model(
        program,
        vocab=vocab,
        max_seq_len=12,
        causal=True,
        compiler_bos="BOS",
        compiler_pad="PAD",
        mlp_exactness=1000,
    )
    assert sorted(ours.params) == sorted(stock.params)
    for layer, params in stock.params.items():
        for name, value in params.items():
            assert np.array_equal(np.asarray(ours.params[layer][name]), np.asarray(value))
    assert ours.residual_labels == stock.residual_labels
