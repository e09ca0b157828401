"""The compiled program that gives the reference values of a split.

The model was aligned with the task's ``injection`` program, compiled for the training lengths.
A split whose sequences fit it is read by it. A longer split (``length``) is read by the
``oracle`` program (the same RASP program compiled for every split) when it is layer for layer
the same program: the same number of layers and the same variables, only with larger value sets.
Otherwise the examples longer than the injection program are skipped, and the JSON and the
terminal say how many and why. That is int_sum's case: its oracle is a different program (11
layers, operands of 4 digits, against the injection program's 10), so neither the adapter
(trained on the injection program's residual) nor the program-layer alignment carries over,
and its ``decimals`` examples (14 or 15 tokens of the default LM) are all longer than the
injection program's 11. Reading them with the oracle would compare the model with values of a
program it was never aligned with; recompiling the injection program for longer inputs gives a
different residual (more positions, larger value sets) that the adapter does not read either.
Skipping, with the count, is the honest answer; the task's answer accuracy on such a split is
``tracr-bench eval``'s to give.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from tracr_bench.compiler.compiling import CompiledProgram
from tracr_bench.compiler.task_programs import compile_task
from tracr_bench.compiler.token_translation import TranslatedExample, Translator
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.decode.variables import Variable, program_variables
from tracr_bench.task import Task


@dataclass
class ProgramRef:
    """One compiled program, its torch port, its variables and the LM-id lookup into it."""

    which: str
    compiled: CompiledProgram
    module: TorchProgram
    variables: dict[str, Variable]
    lookup: Tensor  # LM token id -> program input id

    @property
    def n_layers(self) -> int:
        return self.compiled.n_layers

    @property
    def max_seq_len(self) -> int:
        return self.compiled.max_seq_len


class Programs:
    """The injection program (always) and the oracle program (compiled when a split needs it)."""

    def __init__(
        self,
        task: Task,
        translator: Translator,
        cache_dir: Path | None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.task = task
        self.translator = translator
        self.cache_dir = cache_dir
        self.device = torch.device(device)
        self.injection = self._load("injection")
        self._oracle: ProgramRef | None = None

    def _load(self, which: str) -> ProgramRef:
        compiled = compile_task(self.task, which, cache_dir=self.cache_dir)  # type: ignore[arg-type]
        module = TorchProgram.from_compiled(compiled).eval().to(self.device)
        variables = program_variables(self.task, which, compiled)
        lookup = self.translator.lookup(compiled.input_encoding)  # stays on the CPU
        return ProgramRef(which, compiled, module, variables, lookup)

    def oracle(self) -> ProgramRef:
        if self._oracle is None:
            self._oracle = self._load("oracle")
        return self._oracle

    def compatible(self, other: ProgramRef, names: list[str]) -> bool:
        """Whether ``other`` has the injection program's layers and the variables ``names``
        with the same kinds and the same residual index of first writing."""
        if other.n_layers != self.injection.n_layers:
            return False
        for name in names:
            mine, theirs = self.injection.variables[name], other.variables.get(name)
            if theirs is None or (mine.categorical, mine.written_at) != (
                theirs.categorical,
                theirs.written_at,
            ):
                return False
        return True

    def for_rows(
        self, rows: list[TranslatedExample], names: list[str], *, allow_oracle: bool = True
    ) -> tuple[ProgramRef, list[TranslatedExample], str | None]:
        """The program that reads ``rows``, the rows it can read, and why the others are
        skipped (None when none is)."""
        fits = self.injection.max_seq_len
        if all(len(r.lm_ids) <= fits for r in rows):
            return self.injection, rows, None
        why = (
            "the oracle program is not read for train (probes are fitted on the injection program)"
        )
        if allow_oracle:
            oracle = self.oracle()
            if not self.compatible(oracle, names):
                why = (
                    f"the oracle program ({oracle.n_layers} layers) is not layer for layer the "
                    f"injection program ({self.injection.n_layers} layers)"
                )
            elif any(len(r.lm_ids) > oracle.max_seq_len for r in rows):
                why = f"some are longer than the oracle program's {oracle.max_seq_len} too"
            else:
                return oracle, rows, None
        why = f"longer than the injection program's {fits} tokens, and {why}"
        return self.injection, [r for r in rows if len(r.lm_ids) <= fits], why
