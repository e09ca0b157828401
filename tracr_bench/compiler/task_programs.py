"""A task's two compiled programs, from the on-disk cache or compiled now.

- ``injection``: compiled for the training lengths (``task.injection_max_seq_len``); the injector
  aligns the LM's hidden states with its residual stream, so it is kept small.
- ``oracle``: compiled for the longest split (``task.oracle_max_seq_len``); checks every split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from tracr_bench.compiler.compiling import CompiledProgram, compile_program
from tracr_bench.task import Task, TaskError

Which = Literal["injection", "oracle"]
OUTPUT_NAME = "final_result"


def program_for(task: Task, which: Which):
    """The task's RASP program for ``which``, its output named ``final_result``."""
    if which == "oracle" and task.oracle_program is not None:
        program = task.oracle_program()
    else:
        program = task.program()
    return program.named(OUTPUT_NAME)


def compile_task(
    task: Task, which: Which = "injection", *, cache_dir: Path | None = None
) -> CompiledProgram:
    if which not in ("injection", "oracle"):
        raise TaskError(f"unknown program kind {which!r}; choose injection or oracle")
    max_seq_len = task.injection_max_seq_len if which == "injection" else task.oracle_max_seq_len
    return compile_program(
        program_for(task, which),
        task.token_map.compiler_vocab(),
        max_seq_len,
        causal=True,
        mlp_exactness=task.mlp_exactness,
        cache_dir=cache_dir,
    )
