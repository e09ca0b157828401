"""The per-split rows of ``tracr-bench eval`` before lm-eval runs: what lm-eval does not know.

Each (task, split) gets a ``results.SplitResult``: ``check_context`` marks the splits whose
prompts do not fit the model's context (lm-eval would cut them on the left without a word),
``count_lengths`` the number of evaluated inputs per length bucket, and ``add_oracle`` the
compiled program's accuracy on the same examples through the model's tokenizer. All read the one
draw of each split (``lm_eval_data.split_examples``), cut at ``--limit``. With several
processes, each computes the oracle of its share of the splits and all get every figure.
"""

from __future__ import annotations

from tracr_bench.evaluate.lm_eval_configs import max_gen_toks
from tracr_bench.evaluate.lm_eval_data import split_examples
from tracr_bench.evaluate.processes import Processes
from tracr_bench.evaluate.results import SplitResult
from tracr_bench.evaluate.scoring import length_buckets
from tracr_bench.evaluate.settings import RunSettings
from tracr_bench.task import Task, TaskError, get_task


def evaluated(task: Task, split: str, run: RunSettings) -> tuple:
    """The examples this run evaluates: the first ``limit`` of the split's one draw."""
    return split_examples(task, split, run.seed)[: run.limit]


def check_context(rows: list[SplitResult], run: RunSettings, hflm) -> None:
    """Mark the splits whose longest prompt plus the answer budget exceeds the model's context
    (lm-eval would cut them on the left without a word)."""
    for row, (task, split) in zip(rows, run.pairs, strict=True):
        examples = evaluated(task, split, run)
        if not examples:
            row.skipped = "the split is empty"
            continue
        longest = max(len(hflm.tok_encode(ex.prompt)) for ex in examples)
        row.max_prompt_tokens = longest
        need = longest + max_gen_toks(task, split)
        if need > hflm.max_length:
            row.skipped = (
                f"prompts up to {longest} tokens + {need - longest} to generate exceed the "
                f"model's context of {hflm.max_length} tokens"
            )


def count_lengths(rows: list[SplitResult], run: RunSettings) -> None:
    """Each split's length buckets with the number of evaluated inputs in each (the accuracy
    comes from lm-eval, ``results.add_scores``)."""
    for row, (task, split) in zip(rows, run.pairs, strict=True):
        lengths = [ex.length for ex in evaluated(task, split, run)]
        row.length_buckets = [
            {
                "min_length": b.lo,
                "max_length": b.hi,
                "n": sum(1 for n in lengths if b.lo <= n <= b.hi),
                "accuracy": None,
            }
            for b in length_buckets(task, split)
        ]


def add_oracle(rows: list[SplitResult], run: RunSettings, tokenizer, procs: Processes) -> None:
    """The compiled program on the same examples, read through the model's tokenizer. It is the
    tokenizer lm-eval holds: lm-eval only gives it a pad token and sets its padding side while
    it pads, and the translation reads neither. Each process scores its share of the rows."""
    from tqdm.auto import tqdm

    from tracr_bench.compiler.oracle import run_oracle

    mine = procs.share(rows)
    bar = tqdm(mine, desc="oracle", unit="split", disable=not (run.progress and procs.is_main))
    for i in bar:
        row = rows[i]
        bar.set_postfix_str(f"{row.task}/{row.split}")
        try:
            res = run_oracle(
                get_task(row.task),
                row.split,
                tokenizer,
                limit=run.limit,
                seed=run.seed,
                cache_dir=run.cache_dir,
            )
        except (TaskError, ValueError) as err:
            row.oracle_note = f"n/a: {str(err).splitlines()[0]}"
            continue
        row.oracle_accuracy = res.accuracy
        if res.exempt:
            row.oracle_note = f"exempt: {res.exempt}"
    figures = [(i, rows[i].oracle_accuracy, rows[i].oracle_note) for i in mine]
    for i, accuracy, note in procs.gather(figures):
        rows[i].oracle_accuracy, rows[i].oracle_note = accuracy, note


__all__ = ["add_oracle", "check_context", "count_lengths", "evaluated"]
