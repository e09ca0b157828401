"""Stage 4, evaluation: how well a causal LM solves the tasks, and what it keeps.

In: a local Hugging Face causal LM (or ``default``, the shipped LM), the tasks and splits.
Out: a results JSON (lm-eval's own results, with general-ability tasks of its registry when asked
for, plus a ``tracr_bench`` block: exact match per split and per length bucket, oracle accuracy,
retention perplexity, hashes, timings), a terminal table, a length plot, and a hypothesis search
for the shortest inputs the model gets wrong. The tasks
are lm-evaluation-harness tasks (configs generated under ``tasks/lm_eval``); the numbers are
lm-eval's, computed by its own engine or by the faster one here that gives the same results.

Modules: ``run`` (``evaluate``, read as its steps); ``settings`` (the checked arguments);
``split_rows`` (context check, length counts, oracle column); the lm-eval tasks: ``lm_eval_data``
(names, the one draw of each split, datasets), ``scoring``, ``retention``, ``lm_eval_configs``;
``general`` (stock lm-eval tasks and local task folders in the same run); ``processes``
(data-parallel runs under ``torchrun`` / ``accelerate launch``); the fast engine:
``fast_engine`` (the ``HFLM`` subclass) and ``fast_decision`` (its pure rules); the output:
``results`` (rows and the results dict), ``report`` (the table), ``plot``; the failure search:
``runner`` (a model answering task inputs) and ``search``; ``pytest_plugin``; ``cli``.
"""
