"""Stage 4b, decoding: does the model carry the program's variables, and does it use them?

In: a model folder (an injected one with its ``adapter.safetensors``, a baseline, or any causal
LM, ``default`` included), a task and its splits; the task's compiled injection program (and the
oracle program for splits longer than it).
Out: for every variable of the program (its residual labels: a one-hot block ``name:value`` or
one numerical dimension ``name``) and every hidden state, the decoding accuracy of the adapter
readout (the trained adapter itself, argmax per variable) and of linear probes fitted on train
(with a shuffled-label control); interchange intervention accuracy (IIA) against the program's
own counterfactual, with random subspaces of the same dimension as control; the accuracy left
under noise in the output subspace. A terminal table, a JSON file, a heatmap per readout.
``tracr-bench decode``; from Python, ``tracr_bench.decode.run.decode(DecodeConfig(...))``.

``setup`` checks and loads; ``data`` and ``programs`` build the batches and the reference
values; ``subjects`` runs the model (or the compiled program in its place) with one edit;
``readouts``, ``probes`` and ``scoring`` decode; ``interventions`` intervenes; ``run`` is the
pass, top to bottom; ``report`` and ``plot`` present it.
"""
