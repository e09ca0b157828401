"""The per-split rows of ``tracr-bench eval`` before lm-eval runs: what lm-eval does not know.

Each (task, split) gets a ``results.SplitResult``: ``check_context`` marks the splits whose
prompts do not fit the model's context (lm-eval would cut them on the left without a word),
and ``count_lengths`` the number of evaluated inputs per length bucket; ``oracle_column`` adds
the compiled program's accuracy on the same examples. All read the one draw of each split
(``lm_eval_data.split_examples``), cut at ``--limit``.
"""

from __future__ import annotations

from tracr_bench.evaluate.lm_eval_configs import max_gen_toks
from tracr_bench.evaluate.lm_eval_data import split_examples
from tracr_bench.evaluate.results import SplitResult
from tracr_bench.evaluate.scoring import length_buckets
from tracr_bench.evaluate.settings import RunSettings
from tracr_bench.task import Task


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


__all__ = ["check_context", "count_lengths", "evaluated"]
