"""tracr-bench: inject tracr-compiled RASP algorithms into language models and measure them.

One package per stage of the data flow (each package's docstring says what comes in and out):

- ``task``: a task module under ``tasks/`` -> ``Task`` and its seeded splits;
- ``compiler``: a ``Task`` -> its compiled program (cached), the PyTorch port, the translation of
  LM tokens into program symbols, and the oracle;
- ``inject``: an LM + a compiled program -> an injected (or baseline) model folder;
- ``evaluate``: a model folder -> a results JSON (through lm-evaluation-harness);
- ``leaderboard``: results JSONs -> submissions and rendered tables;
- ``pretrain``: offline text -> the small LM shipped in ``data/default_lm``.

Shared by all: ``models`` (finding and loading LMs, the shipped one included) and ``files``
(atomic writes). ``cli`` registers each stage's subcommands.
"""
