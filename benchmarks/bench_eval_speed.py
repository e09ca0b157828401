"""Benchmark: the speed of ``tracr-bench eval`` against the reference approach and the floor.

Usage: python benchmarks/bench_eval_speed.py [--model default] [--per-split 250]
           [--batch-size 16] [--retention-docs 16] [--repeats 2] [--skip-lm-eval]

One run, one model (default: the shipped LM), the same examples: the first ``--per-split`` of
the ``test`` split of each of ``--tasks`` (default shuffle_dyck, count, int_sum, parity: 4 x 250
= 1,000 examples), at seed 0, exactly those ``tracr-bench eval --limit N`` evaluates. Times:

  (a)  ``evaluate()`` with the fast engine (the default of ``tracr-bench eval``), oracle and
       retention off: the whole call, model loading and lm-eval's task setup included;
  (a') the same with ``engine="lm-eval"`` (lm-eval's own ``HFLM`` generation); its numbers must
       equal (a)'s, which the script checks;
  (b)  the reference approach: one ``model.generate`` call per example, batch 1, greedy, with
       room for exactly the gold answer's tokens (as the paper's evaluation code does);
  (c)  the floor: one batched forward pass over the same prompts (sorted by length as lm-eval
       sorts them, ``--batch-size`` each, left-padded), no generation;
  (c') the same forward pass with logits at the last prompt position only (``logits_to_keep=1``):
       the least work that reads the first answer token.

Then retention on the first ``--retention-docs`` documents of the retention shard: lm-eval's
``loglikelihood_rolling`` against the fast engine's (and the figures' largest relative
difference), and the floor: one forward pass over the same rolling windows.

(a), (c), (c') and the three retention timings are run ``--repeats`` times, interleaved, and
the fastest of each counts; (b) and (a') once. Every figure is a ratio against a reference
measured in the same run; the load average is printed, since other processes on the machine
slow the timings unevenly.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from tracr_bench.evaluate.lm_eval_data import split_examples
from tracr_bench.evaluate.retention import retention_docs
from tracr_bench.models import load_model, resolve_model_path
from tracr_bench.task import get_task


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def reference_generate(lm, tok, examples) -> tuple[float, float]:
    """(b): one generate call per example, batch 1; returns (seconds, accuracy)."""
    correct = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for ex in examples:
            ids = tok(ex.prompt, return_tensors="pt").input_ids
            gold = tok.encode(ex.target, add_special_tokens=False)
            out = lm.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=len(gold),
                do_sample=False,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else 0,
            )
            correct += out[0, ids.shape[1] :].tolist() == gold
    return time.perf_counter() - t0, correct / len(examples)


def floor_forward(lm, tok, prompts: list[str], batch_size: int, last_only: bool = False) -> float:
    """(c): one forward pass over the prompts, sorted by length as lm-eval sorts them; with
    ``last_only``, logits at the last prompt position only (c')."""
    extra = {"logits_to_keep": 1} if last_only else {}
    order = sorted(prompts, key=lambda p: (-len(tok.encode(p)), p))
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        t0 = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(order), batch_size):
                enc = tok(order[i : i + batch_size], return_tensors="pt", padding="longest")
                lm(
                    input_ids=enc.input_ids,
                    attention_mask=enc.attention_mask,
                    use_cache=False,
                    **extra,
                )
        return time.perf_counter() - t0
    finally:
        tok.padding_side = side


def retention(lm, tok, n_docs: int, batch_size: int, repeats: int) -> dict:
    from lm_eval import utils as lm_utils
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from tracr_bench.evaluate.fast_engine import FastHFLM

    docs = retention_docs()[:n_docs]
    reqs = [Instance("loglikelihood_rolling", {}, (d["text"],), 0) for d in docs]
    stock = HFLM(pretrained=lm, tokenizer=tok, batch_size=batch_size)
    fast = FastHFLM(pretrained=lm, tokenizer=tok, batch_size=batch_size, progress=False)
    # the floor: the same windows, sorted by length, one forward pass per batch
    windows = []
    for d in docs:
        for ctx, cont in map(
            lm_utils.make_disjoint_window,
            lm_utils.get_rolling_token_windows(
                fast.tok_encode(d["text"]), fast.prefix_token_id, fast.max_length, 1
            ),
        ):
            windows.append((ctx + cont)[-(fast.max_length + 1) :][:-1])
    windows.sort(key=len, reverse=True)

    def floor() -> None:
        with torch.no_grad():
            for i in range(0, len(windows), batch_size):
                part = windows[i : i + batch_size]
                ids = torch.zeros((len(part), len(part[0])), dtype=torch.long)
                for r, w in enumerate(part):
                    ids[r, : len(w)] = torch.tensor(w)
                lm(input_ids=ids, use_cache=False)

    times: dict[str, list[float]] = {"fast_s": [], "lm_eval_s": [], "floor_s": []}
    for _ in range(repeats):  # interleaved; the fastest of each counts
        t0 = time.perf_counter()
        ll_fast = fast.loglikelihood_rolling(reqs, disable_tqdm=True)
        times["fast_s"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ll_stock = stock.loglikelihood_rolling(reqs, disable_tqdm=True)
        times["lm_eval_s"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        floor()
        times["floor_s"].append(time.perf_counter() - t0)
    rel = max(abs(a - b) / abs(b) for a, b in zip(ll_fast, ll_stock, strict=True))
    return {
        "docs": len(docs),
        "windows": len(windows),
        "tokens": sum(len(w) for w in windows),
        **{k: min(v) for k, v in times.items()},
        "max_rel_diff": rel,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--tasks", default="shuffle_dyck,count,int_sum,parity")
    ap.add_argument("--per-split", type=int, default=250, help="examples per test split")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--retention-docs", type=int, default=16)
    ap.add_argument("--skip-lm-eval", action="store_true", help="do not time (a')")
    ap.add_argument(
        "--repeats", type=int, default=2, help="runs of (a), (c), (c'), retention; fastest counts"
    )
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import lm_eval  # noqa: F401  (imports are not timed)
    from lm_eval.models.huggingface import HFLM  # noqa: F401

    from tracr_bench.evaluate.fast_engine import FastHFLM  # noqa: F401
    from tracr_bench.evaluate.run import evaluate

    path = resolve_model_path(args.model)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    # each split is drawn once per process (split_examples): here, outside the timings
    examples = [ex for t in tasks for ex in split_examples(get_task(t), "test")[: args.per_split]]
    lm, tok = load_model(path)
    print(
        f"model {args.model}: {sum(p.numel() for p in lm.parameters()) / 1e6:.1f}M params; "
        f"{len(examples)} examples ({', '.join(tasks)}, test, {args.per_split} each); "
        f"batch size {args.batch_size}; torch threads {torch.get_num_threads()}"
    )
    print(f"load average at start: {_load()}")

    def run_eval(engine: str) -> tuple[float, dict]:
        t0 = time.perf_counter()
        data = evaluate(
            path,
            tasks=tasks,
            splits="test",
            limit=args.per_split,
            batch_size=args.batch_size,
            oracle=False,
            retention=False,
            progress=False,
            engine=engine,
        )
        return time.perf_counter() - t0, data

    prompts = [ex.prompt for ex in examples]
    floor_forward(lm, tok, prompts[:32], args.batch_size)  # warm-up
    times: dict[str, list[float]] = {"a": [], "c": [], "c2": []}
    for _ in range(args.repeats):  # interleaved, so that a change of load hits all three
        times["c"].append(floor_forward(lm, tok, prompts, args.batch_size))
        times["c2"].append(floor_forward(lm, tok, prompts, args.batch_size, last_only=True))
        t, data_a = run_eval("fast")
        times["a"].append(t)
    t_a, t_c, t_c2 = (min(times[k]) for k in ("a", "c", "c2"))
    t_b, acc_b = reference_generate(lm, tok, examples)
    t_a2 = None
    if not args.skip_lm_eval:
        t_a2, data_a2 = run_eval("lm-eval")
        names = [r["lm_eval_task"] for r in data_a["tracr_bench"]["splits"]]
        same = all(data_a["results"][n] == data_a2["results"][n] for n in names)
        print(f"(a) and (a') give identical lm-eval results: {same}")
        if not same:
            raise SystemExit("the fast engine disagrees with lm-eval")

    acc_a = {r["task"]: r["accuracy"] for r in data_a["tracr_bench"]["splits"]}
    print(f"accuracy (a): {acc_a}; (b) overall: {acc_b:.4f}")
    print(f"fast path: {data_a['tracr_bench']['fast_path']}")
    if args.repeats > 1:
        print(
            "each repeat, seconds: "
            + "; ".join(f"{k}: {', '.join(f'{x:.2f}' for x in v)}" for k, v in times.items())
        )
    print(f"\n{'':40}{'seconds':>9}{'ms/example':>12}")
    rows = [
        ("(a) tracr-bench eval (fast engine)", t_a),
        ("(a') tracr-bench eval --engine lm-eval", t_a2),
        ("(b) generate per example, batch 1", t_b),
        ("(c) floor: one batched forward pass", t_c),
        ("(c') the same, last-position logits", t_c2),
    ]
    for name, t in rows:
        if t is not None:
            print(f"{name:40}{t:9.2f}{1000 * t / len(examples):12.2f}")
    print(f"\na / c = {t_a / t_c:.2f}   (goal: <= 1.3); a / c' = {t_a / t_c2:.2f}")
    print(f"b / a = {t_b / t_a:.2f}   (goal: >= 3)")
    if t_a2 is not None:
        print(f"a' / a = {t_a2 / t_a:.2f}   a' / c = {t_a2 / t_c:.2f}")
    print(f"load average after the task timings: {_load()}")

    if args.retention_docs > 0:
        r = retention(lm, tok, args.retention_docs, args.batch_size, args.repeats)
        n = r["docs"]
        print(
            f"\nretention, {n} documents ({r['windows']} windows, {r['tokens']} tokens), "
            f"batch size {args.batch_size}:"
        )
        for name, key in [
            ("lm-eval loglikelihood_rolling", "lm_eval_s"),
            ("fast engine", "fast_s"),
            ("floor: one forward pass per window", "floor_s"),
        ]:
            print(f"  {name:36}{r[key]:8.2f} s {r[key] / n:7.2f} s/document")
        print(
            f"  lm-eval / fast = {r['lm_eval_s'] / r['fast_s']:.2f}; "
            f"fast / floor = {r['fast_s'] / r['floor_s']:.2f}; "
            f"largest relative difference of the log-likelihoods: {r['max_rel_diff']:.1e}"
        )
        print(f"load average at the end: {_load()}")


if __name__ == "__main__":
    main()
