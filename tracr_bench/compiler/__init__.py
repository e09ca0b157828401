"""Stage 2, the compiled program: a task's RASP program as transformer weights.

In: a ``Task`` (its RASP program, vocabulary, ``max_seq_len`` and ``mlp_exactness``) and, for the
oracle, an LM tokenizer.
Out: a ``CompiledProgram`` (numpy weights, layer structure, named residual dimensions; cached on
disk as safetensors + JSON), its batched PyTorch port (``TorchProgram``), the translation of LM
token ids into the program's symbols (``Translator``), and the oracle: the compiled program run
on that translation of every split, which must score 100%.
"""
