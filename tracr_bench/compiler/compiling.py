"""Compile a RASP program with tracr, through the on-disk cache: the list of the steps.

``compile_program`` returns a ``CompiledProgram`` (``program``): plain numpy float32 weights,
the layer structure, the canonical residual labels and the input/output encodings. Its steps,
each one function with one job:

1. ``graph_key.describe_program``: the program graph's canonical description (every table over
   tracr's inferred value sets) and the canonical names of its SOps;
2. ``graph_key.graph_key``: the cache key, a hash of that description and the compiler arguments;
3. ``cache.load_entry``: the cached program when its entry passes every check;
4. otherwise tracr's ``compile_rasp_to_model``, then ``extract.extract_program``: weights in the
   canonical residual order (``labels``), and ``cache.store_entry``.

tracr builds each basis vector as a row of a fresh identity matrix
(``VectorSpaceWithBasis.vector_from_basis_direction``: ``np.eye(n)[i]``, n^2 work for n
entries); on the wide spaces of long programs that was almost all of the compile time (the
shuffle_dyck oracle at 104 positions: 640 of 706 s in ``np.eye``, 26,603 calls). While tracr
compiles, ``_one_hot_basis_vectors`` builds the same vector directly (the same float64 values,
so the same weights).

Nothing here depends on torch; ``torch_program`` turns a ``CompiledProgram`` into a module.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracr_bench.compiler.cache import (
    FORMAT_VERSION,
    META_FILE,
    WEIGHTS_FILE,
    default_cache_dir,
    load_entry,
    store_entry,
)
from tracr_bench.compiler.extract import extract_program
from tracr_bench.compiler.graph_key import describe_program, graph_key
from tracr_bench.compiler.program import BOS, PAD, BlockSpec, CompiledProgram

__all__ = [
    "BOS",
    "FORMAT_VERSION",
    "META_FILE",
    "PAD",
    "WEIGHTS_FILE",
    "BlockSpec",
    "CompiledProgram",
    "cache_key",
    "compile_program",
    "default_cache_dir",
]


def compile_program(
    program: Any,
    vocab: set[str],
    max_seq_len: int,
    *,
    causal: bool = True,
    mlp_exactness: int = 100,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> CompiledProgram:
    """Compile ``program`` (a ``rasp.SOp``) with tracr, or load it from the on-disk cache.

    BOS/PAD are always "BOS"/"PAD". A cache entry that fails any check (missing or unreadable
    file, weights sha256 or metadata mismatch) is recompiled and overwritten.
    """
    vocab = _checked_vocab(vocab, max_seq_len)
    graph = describe_program(program, vocab, max_seq_len)
    key = graph_key(
        graph.description, vocab, max_seq_len, causal=causal, mlp_exactness=mlp_exactness
    )
    entry = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / key
    if use_cache:
        cached = _load_timed(entry, key)
        if cached is not None:
            return cached

    t0 = time.perf_counter()
    assembled = _compile_with_tracr(program, vocab, max_seq_len, causal, mlp_exactness)
    compiled = extract_program(
        assembled,
        graph.names,
        program.label,
        key=key,
        vocab=vocab,
        max_seq_len=max_seq_len,
        causal=causal,
        mlp_exactness=mlp_exactness,
    )
    compiled.seconds = time.perf_counter() - t0
    if use_cache:
        store_entry(entry, compiled, graph.description)
        compiled.cache_path = entry
    return compiled


def cache_key(
    program: Any,
    vocab: set[str],
    max_seq_len: int,
    *,
    causal: bool = True,
    mlp_exactness: int = 100,
) -> str:
    """sha256 hex digest identifying a compilation (program tables, vocab, settings)."""
    graph = describe_program(program, vocab, max_seq_len)
    return graph_key(
        graph.description, vocab, max_seq_len, causal=causal, mlp_exactness=mlp_exactness
    )


def _checked_vocab(vocab: set[str], max_seq_len: int) -> set[str]:
    vocab = set(vocab)
    bad = [t for t in vocab if not isinstance(t, str)]
    if bad:
        raise TypeError(f"vocab must contain strings only; got {bad!r}")
    if BOS in vocab or PAD in vocab:
        raise ValueError(f"vocab must not contain the reserved tokens {BOS!r} / {PAD!r}")
    if max_seq_len < 1:
        raise ValueError(f"max_seq_len must be >= 1, got {max_seq_len}")
    return vocab


def _load_timed(entry: Path, key: str) -> CompiledProgram | None:
    """The cached program with ``seconds`` set to the loading time, or None."""
    t0 = time.perf_counter()
    cached = load_entry(entry, key)
    if cached is not None:
        cached.seconds = time.perf_counter() - t0
    return cached


def _compile_with_tracr(
    program: Any, vocab: set[str], max_seq_len: int, causal: bool, mlp_exactness: int
) -> Any:
    """tracr's ``AssembledTransformerModel`` of ``program``."""
    from tracr.compiler import compiling

    with _one_hot_basis_vectors():
        return compiling.compile_rasp_to_model(
            program,
            vocab=vocab,
            max_seq_len=max_seq_len,
            causal=causal,
            compiler_bos=BOS,
            compiler_pad=PAD,
            mlp_exactness=mlp_exactness,
        )


@contextlib.contextmanager
def _one_hot_basis_vectors() -> Iterator[None]:
    """While the block runs, tracr's ``vector_from_basis_direction`` fills one entry of a zero
    vector instead of taking a row of ``np.eye(n)`` (same values, n instead of n^2 work)."""
    import numpy as np
    from tracr.craft import bases

    space = bases.VectorSpaceWithBasis
    original = space.vector_from_basis_direction

    def one_hot(self, basis_direction):
        magnitudes = np.zeros(self.num_dims)
        magnitudes[self.index_by_direction[basis_direction]] = 1.0
        return self.make_vector(magnitudes)

    space.vector_from_basis_direction = one_hot
    try:
        yield
    finally:
        space.vector_from_basis_direction = original
