"""Benchmark: the torch port vs tracr's own model on one batch of inputs.

Usage: python benchmarks/bench_torch_program.py [--max-seq-len 16] [--batch 1000]

Times, for make_shuffle_dyck(["()", "[]", "{}"]) (causal):
  - the torch port: one batched forward call on BATCH inputs (after one warm-up call);
  - tracr's `assembled.apply`, which takes ONE sequence per call: timed on --apply-n
    inputs (after a warm-up) and scaled to BATCH;
  - tracr's batched forward (`assembled.forward(params, ids)`), first call (includes jax's
    per-shape op compilation) and warm.
It also checks that the torch port and tracr agree on every residual.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import torch
from tracr.compiler import lib

from tracr_bench.compiler.compiling import compile_program
from tracr_bench.compiler.torch_program import TorchProgram


def _random_inputs(rng: np.random.Generator, n: int, length: int) -> list[list[str]]:
    """Half uniformly random strings, half balanced (random nesting of 3 pair types)."""
    pairs = ["()", "[]", "{}"]
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append([str(c) for c in rng.choice(list("()[]{}"), size=length)])
            continue
        s: list[str] = []
        stack: list[str] = []
        while len(s) + len(stack) < length:
            if stack and (rng.random() < 0.5 or len(s) + len(stack) + 2 > length):
                s.append(stack.pop())
            else:
                o, c = pairs[rng.integers(3)]
                s.append(o)
                stack.append(c)
        s.extend(reversed(stack))
        s = s[:length]
        out.append(s + [str(rng.choice(list("()[]{}")))] * (length - len(s)))
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _compiled(max_seq_len: int, cache_dir: Path | None):
    """shuffle_dyck over 3 pairs, with tracr's assembled model (compiled again if cached)."""
    cache = cache_dir or Path(tempfile.mkdtemp(prefix="tracr-bench-"))
    program = lib.make_shuffle_dyck(["()", "[]", "{}"])
    cp = compile_program(program, set("()[]{}"), max_seq_len, causal=True, cache_dir=cache)
    if cp.assembled is None:  # loaded from the cache: compile again to get tracr's model
        cp = compile_program(program, set("()[]{}"), max_seq_len, causal=True, use_cache=False)
    print(
        f"program: make_shuffle_dyck(3 pairs), causal, max_seq_len={cp.max_seq_len}: "
        f"{cp.n_layers} layers, residual {cp.residual_width}, {cp.n_params:,} params, "
        f"compiled in {cp.seconds:.1f} s"
    )
    return cp


def _time_torch(cp, ids_np: np.ndarray, args: argparse.Namespace):
    """(module, output, seconds) of one warm batched forward call of the torch port."""
    tp = TorchProgram.from_compiled(cp).to(args.device)
    ids = torch.from_numpy(ids_np).to(args.device)
    with torch.inference_mode():
        tp(ids)  # warm-up
        _sync(args.device)
        t0 = time.perf_counter()
        out = tp(ids)
        _sync(args.device)
        t_torch = time.perf_counter() - t0
    print(f"torch port ({args.device}, {args.threads} thread(s)): {t_torch * 1e3:.1f} ms")
    print(
        f"  (pruned tracr's zero padding: heads kept per layer {tp.layer_heads} of "
        f"{cp.n_heads}, MLP units kept {tp.layer_hidden} of {cp.mlp_hidden_size})"
    )
    if args.unpruned:
        full = TorchProgram.from_compiled(cp, prune=False).to(args.device)
        with torch.inference_mode():
            full(ids)
            t0 = time.perf_counter()
            full(ids)
            _sync(args.device)
            print(f"torch port without pruning: {(time.perf_counter() - t0) * 1e3:.1f} ms")
    return tp, out, t_torch


def _time_apply(cp, batch: list[list[str]], apply_n: int):
    """(decoded outputs, seconds scaled to the batch) of tracr's one-sequence ``apply``."""
    a = cp.assembled
    a.apply([cp.bos, *batch[0]])  # warm-up (jax compiles each op for the shape)
    n = min(apply_n, len(batch))
    t0 = time.perf_counter()
    decoded = [a.apply([cp.bos, *s]).decoded for s in batch[:n]]
    t_apply_n = time.perf_counter() - t0
    t_apply = t_apply_n / n * len(batch)
    print(
        f"tracr .apply: {t_apply_n:.2f} s for {n} inputs -> {t_apply:.1f} s for "
        f"{len(batch)} (scaled linearly: .apply takes one sequence per call)"
    )
    return decoded, t_apply


def _time_forward(cp, ids_np: np.ndarray):
    """(output, warm seconds) of tracr's batched forward; the first call is printed too."""
    a = cp.assembled
    t0 = time.perf_counter()
    ref = a.forward(a.params, jnp.asarray(ids_np))
    ref.transformer_output.output.block_until_ready()
    t_fwd_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = a.forward(a.params, jnp.asarray(ids_np))
    ref.transformer_output.output.block_until_ready()
    t_fwd = time.perf_counter() - t0
    print(
        f"tracr batched forward: {t_fwd_first:.2f} s first call (jax op compiles), "
        f"{t_fwd * 1e3:.1f} ms warm"
    )
    return ref, t_fwd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-seq-len", type=int, default=16)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--apply-n", type=int, default=20, help="sequences timed with .apply")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--unpruned", action="store_true", help="also time prune=False")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cp = _compiled(args.max_seq_len, args.cache_dir)
    batch = _random_inputs(np.random.default_rng(0), args.batch, args.max_seq_len)
    ids_np = cp.encode_batch(batch)
    print(f"batch: {ids_np.shape[0]} inputs x {ids_np.shape[1]} ids (BOS included)")
    tp, out, t_torch = _time_torch(cp, ids_np, args)
    decoded, t_apply = _time_apply(cp, batch, args.apply_n)
    ref, t_fwd = _time_forward(cp, ids_np)

    # agreement on every layer's residual, and of the decoded outputs
    tr = [ref.transformer_output.input_embeddings, *ref.transformer_output.residuals[1::2]]
    err = max(
        float(np.abs(np.asarray(r)[..., cp.tracr_perm] - s.cpu().numpy()).max())
        for r, s in zip(tr, out.residuals, strict=True)
    )
    ours = tp.decode_output(out.final)
    same = sum(ours[i] == d for i, d in enumerate(decoded))
    print(f"max |torch - tracr| over all layer residuals: {err:.2e}")
    print(f"decoded outputs equal to .apply's: {same}/{len(decoded)}")
    print(f"ratio tracr .apply (scaled) / torch: {t_apply / t_torch:,.0f}x")
    print(f"ratio tracr batched forward (warm) / torch: {t_fwd / t_torch:,.1f}x")


if __name__ == "__main__":
    main()
