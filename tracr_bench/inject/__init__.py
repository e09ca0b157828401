"""Stage 3, injection: the reference injector, tracr-injection and its baseline.

In: a causal LM (any Hugging Face model with one list of transformer blocks, or ``default``), a
task and its compiled program, natural text for the KL term, and an ``InjectConfig`` (``config``:
the one definition of the options, from which the ``tracr-bench inject`` flags are derived).
Out: a model folder: the trained LM (safetensors), the adapter that reads the program's residual
stream out of the LM's hidden states, ``injection.json`` (every hyperparameter, the base model's
hash, the losses) and resumable checkpoints. ``tracr-bench inject``; from Python,
``tracr_bench.inject.train.inject(InjectConfig(task=...), output=DIR)``.

``train`` is the run, top to bottom; ``injector`` holds the model, program, adapter, data and
optimiser and computes a step; ``processes`` runs it on one process or data parallel on several
(``torchrun`` / ``accelerate launch``); ``stops`` ends a diverged or interrupted run in one line;
``blocks``, ``losses``, ``alignment`` (the per-variable losses), ``data``,
``checkpoint``, ``run_folder``, ``record`` and ``split_symbols`` are its parts.
"""
