"""Rebuild the default LM: corpus, tokenizer and pretraining (``tracr-bench pretrain``)."""
