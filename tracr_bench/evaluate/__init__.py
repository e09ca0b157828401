"""Stage 4, evaluation: how well a causal LM solves the tasks, and what it keeps.

In: a local Hugging Face causal LM (or ``default``, the shipped LM), the tasks and splits.
Out: a results JSON (lm-eval's own results plus a ``tracr_bench`` block: exact match per split
and per length bucket, oracle accuracy, retention perplexity, hashes, timings), a terminal table,
a length plot, and a hypothesis search for the shortest inputs the model gets wrong. The tasks
are lm-evaluation-harness tasks (configs generated under ``tasks/lm_eval``); the numbers are
lm-eval's, computed by its own engine or by the faster one here that gives the same results.
"""
