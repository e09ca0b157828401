"""Benchmark: the speed of ``tracr-bench eval`` against the reference approach and the floor.

``python benchmarks/bench_eval_speed.py [--help]``. One run, one model (default: the shipped
LM), the same examples: the first ``--per-split`` of the ``test`` split of each of ``--tasks``
(default shuffle_dyck, count, int_sum, parity: 4 x 250 = 1,000 examples), at seed 0, exactly
those ``tracr-bench eval --limit N`` evaluates. Times:

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

(a), (c), (c') and the retention timings run ``--repeats`` times, interleaved; the fastest of
each counts; (b) and (a') once. Every ratio is between timings of the same run.

Load. Other processes slow the timings unevenly (the forward passes use every core, the Python
around them one), so ratios taken on a busy machine are not the figures. The script records the
1-minute load average before and after, and the CPU time other processes used while it ran
(``/proc/stat`` minus its own: the load average after includes the benchmark itself). Above
``--max-load`` per core (default 0.25: 0.5 on 2 cores), either before the start (checked at
once) or by the others during the run, it refuses in one line (exit status 3) to report ratios,
unless ``--allow-load`` is given: the ratios are then marked as taken under load.

``--profile FILE`` runs one more (a) under cProfile, writes the statistics to FILE and prints
where that call spends its time (profiling slows Python, not torch: read shares, not seconds).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import torch

from tracr_bench.evaluate.lm_eval_data import split_examples
from tracr_bench.evaluate.retention import retention_docs
from tracr_bench.models import load_model, resolve_model_path
from tracr_bench.task import get_task


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class LoadWatch:
    """The machine's load around the benchmark: the 1-minute load average before and after,
    and the CPU cores other processes kept busy on average meanwhile (Linux ``/proc/stat``)."""

    def __init__(self, max_load_per_core: float) -> None:
        self.cores = os.cpu_count() or 1
        self.limit = max_load_per_core * self.cores
        self.before = os.getloadavg()[0]
        self._start = (time.perf_counter(), _busy_seconds(), _own_cpu_seconds())

    def others(self) -> float | None:
        """Cores used by other processes since the start, on average (None off Linux)."""
        wall0, busy0, own0 = self._start
        busy = _busy_seconds()
        if busy is None or busy0 is None:
            return None
        wall = time.perf_counter() - wall0
        return max(0.0, (busy - busy0) - (_own_cpu_seconds() - own0)) / wall

    def verdict(self, others: float | None = None) -> str | None:
        """Why the ratios cannot be reported, or None."""
        if self.before > self.limit:
            return f"load average {self.before:.2f} before the start"
        if others is not None and others > self.limit:
            return f"other processes used {others:.2f} cores on average during the run"
        return None

    def refuse(self, why: str) -> None:
        print(
            f"bench_eval_speed: refused: {why}, above --max-load {self.limit / self.cores:.2f} "
            f"per core ({self.limit:.2f} on {self.cores} cores); run on an idle machine or "
            "pass --allow-load",
            file=sys.stderr,
        )
        raise SystemExit(3)


def _busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (None without /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


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
                ids, mask = enc.input_ids, enc.attention_mask
                lm(input_ids=ids, attention_mask=mask, use_cache=False, **extra)
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

    runs = {
        "fast_s": lambda: fast.loglikelihood_rolling(reqs, disable_tqdm=True),
        "lm_eval_s": lambda: stock.loglikelihood_rolling(reqs, disable_tqdm=True),
        "floor_s": floor,
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    got: dict = {}
    for _ in range(repeats):  # interleaved; the fastest of each counts
        for key, fn in runs.items():
            t0 = time.perf_counter()
            got[key] = fn()
            times[key].append(time.perf_counter() - t0)
    pairs = zip(got["fast_s"], got["lm_eval_s"], strict=True)
    rel = max(abs(a - b) / abs(b) for a, b in pairs)
    return {
        "docs": len(docs),
        "windows": len(windows),
        "tokens": sum(len(w) for w in windows),
        **{k: min(v) for k, v in times.items()},
        "max_rel_diff": rel,
    }


PROFILED = [  # (label, file name ending, function): what the profile of one (a) call shows
    ("evaluate(): the whole call", "evaluate/run.py", "evaluate"),
    ("  model and tokenizer loading", "evaluate/run.py", "load_engine"),
    ("  context check (tokenize the prompts)", "evaluate/split_rows.py", "check_context"),
    ("  lm-eval: task set-up (TaskManager.load)", "lm_eval/tasks/manager.py", "load"),
    ("  lm-eval: request building", "lm_eval/api/task.py", "build_all_requests"),
    ("  fast engine: generate_until", "evaluate/fast_engine.py", "generate_until"),
    ("    step 1: a pass per lm-eval batch", "evaluate/fast_engine.py", "_decide_lm_eval_batches"),
    ("    step 2: along the gold; extensions", "evaluate/fast_engine.py", "_extend_undecided"),
    ("    step 3: lm-eval's own generation", "evaluate/fast_engine.py", "_generate_the_rest"),
    ("    the forward passes of steps 1-2", "evaluate/fast_engine.py", "_forward"),
    ("  lm-eval: scoring and aggregation", "lm_eval/evaluator_utils.py", "_process_results"),
]


def profile_eval(run_eval, path: str) -> None:
    """One more (a) under cProfile: statistics to ``path``, and the shares of PROFILED."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    run_eval("fast")
    prof.disable()
    prof.dump_stats(path)
    cumulative: dict[tuple[str, str], float] = {}
    for (file, _, name), (_, _, _, cum, _) in pstats.Stats(prof).stats.items():
        for _, end, func in PROFILED:
            if name == func and file.endswith(end):
                cumulative[end, func] = max(cumulative.get((end, func), 0.0), cum)
    total = cumulative.get(("evaluate/run.py", "evaluate"), 0.0) or 1.0
    print(f"\nprofile of one (a) call (cProfile, statistics in {path}):")
    for label, end, func in PROFILED:
        t = cumulative.get((end, func), 0.0)
        print(f"  {label:46}{t:8.2f} s {100 * t / total:6.1f} %")


def time_tasks(args, lm, tok, examples, run_eval) -> dict:
    """(a), (c), (c') interleaved ``--repeats`` times (the fastest counts), then (b), (a')."""
    prompts = [ex.prompt for ex in examples]
    floor_forward(lm, tok, prompts[:32], args.batch_size)  # warm-up
    times: dict[str, list[float]] = {"a": [], "c": [], "c2": []}
    for _ in range(args.repeats):  # interleaved, so that a change of load hits all three
        times["c"].append(floor_forward(lm, tok, prompts, args.batch_size))
        times["c2"].append(floor_forward(lm, tok, prompts, args.batch_size, last_only=True))
        t, data_a = run_eval("fast")
        times["a"].append(t)
    out = {k: min(v) for k, v in times.items()}
    out.update(repeats=times, data_a=data_a, a2=None)
    out["b"], out["acc_b"] = reference_generate(lm, tok, examples)
    if not args.skip_lm_eval:
        out["a2"], data_a2 = run_eval("lm-eval")
        names = [r["lm_eval_task"] for r in data_a["tracr_bench"]["splits"]]
        same = all(data_a["results"][n] == data_a2["results"][n] for n in names)
        print(f"(a) and (a') give identical lm-eval results: {same}")
        if not same:
            raise SystemExit("the fast engine disagrees with lm-eval")
    return out


def report_tasks(t: dict, n_examples: int, under_load: bool) -> None:
    data_a = t["data_a"]
    acc_a = {r["task"]: r["accuracy"] for r in data_a["tracr_bench"]["splits"]}
    print(f"accuracy (a): {acc_a}; (b) overall: {t['acc_b']:.4f}")
    print(f"fast path: {data_a['tracr_bench']['fast_path']}")
    print(
        "each repeat, seconds: "
        + "; ".join(f"{k}: {', '.join(f'{x:.2f}' for x in v)}" for k, v in t["repeats"].items())
    )
    print(f"\n{'':40}{'seconds':>9}{'ms/example':>12}")
    rows = [
        ("(a) tracr-bench eval (fast engine)", t["a"]),
        ("(a') tracr-bench eval --engine lm-eval", t["a2"]),
        ("(b) generate per example, batch 1", t["b"]),
        ("(c) floor: one batched forward pass", t["c"]),
        ("(c') the same, last-position logits", t["c2"]),
    ]
    for name, secs in rows:
        if secs is not None:
            print(f"{name:40}{secs:9.2f}{1000 * secs / n_examples:12.2f}")
    mark = "   (UNDER LOAD: not final)" if under_load else ""
    print(
        f"\na / c = {t['a'] / t['c']:.2f}   (goal: <= 1.3); a / c' = {t['a'] / t['c2']:.2f}{mark}"
    )
    print(f"b / a = {t['b'] / t['a']:.2f}   (goal: >= 3){mark}")
    if t["a2"] is not None:
        print(f"a' / a = {t['a2'] / t['a']:.2f}   a' / c = {t['a2'] / t['c']:.2f}{mark}")


def report_retention(r: dict) -> None:
    n = r["docs"]
    print(f"\nretention, {n} documents ({r['windows']} windows, {r['tokens']} tokens):")
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


def parse_args() -> argparse.Namespace:
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
    ap.add_argument(
        "--max-load",
        type=float,
        default=0.25,
        help="most load per core (before, and by others during the run) to report ratios at",
    )
    ap.add_argument("--allow-load", action="store_true", help="report ratios under load too")
    ap.add_argument("--profile", default=None, metavar="FILE", help="profile one more (a)")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    watch = LoadWatch(args.max_load)
    print(f"load average at start: {_load()}")
    if watch.verdict() and not args.allow_load:
        watch.refuse(watch.verdict())
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
    t0 = time.perf_counter()  # each split is drawn once per process: here, outside the timings
    examples = [ex for t in tasks for ex in split_examples(get_task(t), "test")[: args.per_split]]
    draw_s = time.perf_counter() - t0
    lm, tok = load_model(path)
    print(
        f"model {args.model}: {sum(p.numel() for p in lm.parameters()) / 1e6:.1f}M params; "
        f"{len(examples)} examples ({', '.join(tasks)}, test, {args.per_split} each; the "
        f"splits drawn in {draw_s:.2f} s, not timed); batch size {args.batch_size}; "
        f"torch threads {torch.get_num_threads()}"
    )

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

    timed = time_tasks(args, lm, tok, examples, run_eval)
    ret = None
    if args.retention_docs > 0:
        ret = retention(lm, tok, args.retention_docs, args.batch_size, args.repeats)
    others = watch.others()
    print(
        f"load average at the end: {_load()} (includes this benchmark); other processes used "
        + ("?" if others is None else f"{others:.2f}")
        + f" of {watch.cores} cores on average during the run"
    )
    why = watch.verdict(others)
    if why and not args.allow_load:
        watch.refuse(why)
    report_tasks(timed, len(examples), under_load=why is not None)
    if ret is not None:
        report_retention(ret)
    if args.profile:
        profile_eval(run_eval, args.profile)


if __name__ == "__main__":
    main()
