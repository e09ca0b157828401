"""Stage 3, injection: the reference injector, tracr-injection and its baseline.

In: a causal LM (any Hugging Face model with one list of transformer blocks, or ``default``), a
task and its compiled program, natural text for the KL term.
Out: a model folder: the trained LM (safetensors), the adapter that reads the program's residual
stream out of the LM's hidden states, ``injection.json`` (every hyperparameter, the base model's
hash, the losses) and resumable checkpoints. ``tracr-bench inject``; from Python,
``tracr_bench.inject.train.inject(InjectConfig(...))``.
"""
