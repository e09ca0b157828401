"""The program's variables as they live in its residual stream, and their values on a batch.

A variable is one SOp of the RASP program (``tokens``, ``indices`` and every named or unnamed
intermediate, the output included). tracr gives a categorical SOp one residual dimension per
value (labels ``name:value``, one-hot) and a numerical SOp one dimension (label ``name``) that
holds the value itself. tracr's own helper dimensions (``one``, ``*_selector_width_attn_output``)
are not SOps and are not variables.

Values are compared as class indices: a categorical variable's class is the index of its value
among its dimensions; a numerical variable's class is the index of the nearest value of its value
set (tracr's basis inference, the sets the compiler tabulates), so the compiled MLPs' small
approximation errors (4.99997 for 5) and a decoder's read both land on a value of the set.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import torch
from torch import Tensor

from tracr_bench.compiler.compiling import CompiledProgram
from tracr_bench.compiler.graph_key import canonical_order, describe_program
from tracr_bench.compiler.task_programs import program_for
from tracr_bench.compiler.variables import written_at
from tracr_bench.task import Task

PRIMITIVES = ("tokens", "indices")  # read from the input, not computed


@dataclass(frozen=True)
class Variable:
    """One SOp of a compiled program: where it lives and which values it takes."""

    name: str
    categorical: bool
    values: tuple  # categorical: value strings in residual order; numerical: sorted floats
    dims: tuple[int, ...]  # its residual dimensions in this program
    written_at: int  # first residual index (0 = embedding, i = after layer i) that holds it

    @property
    def kind(self) -> str:
        return "categorical" if self.categorical else "numerical"

    def value_tensor(self) -> Tensor:
        """Numerical: the value set as a float tensor (sorted)."""
        return torch.tensor(self.values, dtype=torch.float32)


def program_variables(task: Task, which: str, compiled: CompiledProgram) -> dict[str, Variable]:
    """Every SOp of ``task``'s ``which`` program that has residual dimensions, by name
    (``tokens`` and ``indices`` always: tracr embeds both even when the program reads one)."""
    program = program_for(task, which)  # type: ignore[arg-type]
    graph = describe_program(program, task.token_map.compiler_vocab(), compiled.max_seq_len)
    value_sets: dict[str, list[str]] = {name: [] for name in PRIMITIVES}
    for expr, entry in zip(canonical_order(program), graph.description, strict=True):
        if expr.label in graph.names:
            value_sets[graph.names[expr.label]] = entry.get("values", [])
    out: dict[str, Variable] = {}
    for name in sorted(value_sets):
        dims = compiled.indices_of(name)
        if not dims:
            continue
        labels = [compiled.residual_labels[d] for d in dims]
        categorical = ":" in labels[0]
        if categorical:
            values: tuple = tuple(lab.split(":", 1)[1] for lab in labels)
        else:
            values = tuple(sorted({_number(v) for v in value_sets[name]} - {None}))
        out[name] = Variable(name, categorical, values, tuple(dims), written_at(compiled, dims))
    return out


def _number(value_key: str) -> float | None:
    """The number in a type-tagged value string (``int:3``, ``float:0.5``, ``bool:True``)."""
    try:
        return float(ast.literal_eval(value_key.split(":", 1)[1]))
    except (ValueError, SyntaxError, TypeError):
        return None


def snap(x: Tensor, values: Tensor) -> Tensor:
    """Index of the nearest entry of ``values`` (sorted, 1-D) for every element of ``x``."""
    if values.numel() == 1:
        return torch.zeros_like(x, dtype=torch.long)
    hi = torch.searchsorted(values, x.contiguous()).clamp(1, values.numel() - 1)
    lo = hi - 1
    nearer_lo = (x - values[lo]).abs() <= (values[hi] - x).abs()
    return torch.where(nearer_lo, lo, hi)


@dataclass
class Reference:
    """The program's value of every variable at every LM position of a batch."""

    classes: dict[str, Tensor]  # [B, T] long
    defined: dict[str, Tensor]  # [B, T] bool: the program holds a value there (after writing)


def reference_values(final: Tensor, variables: dict[str, Variable], real: Tensor) -> Reference:
    """Values from the program's final residual ``final`` [B, T + 1, D] (BOS first) at the real
    (not padding) LM positions ``real`` [B, T]: a categorical variable is defined where one of
    its dimensions is on (a categorical Aggregate that selects nothing leaves them all off), a
    numerical one everywhere."""
    body = final[:, 1:]
    classes, defined = {}, {}
    for name, var in variables.items():
        block = body[..., list(var.dims)]
        if var.categorical:
            top, classes[name] = block.max(-1)
            defined[name] = (top > 0.5) & real
        else:
            classes[name] = snap(block[..., 0], var.value_tensor().to(block.device))
            defined[name] = real
    return Reference(classes, defined)


def restricted(reference: Reference, where: Tensor) -> Reference:
    """``reference`` defined only at the positions ``where`` [B, T] (``--positions answer``)."""
    defined = {name: mask & where for name, mask in reference.defined.items()}
    return Reference(reference.classes, defined)


def default_variables(variables: dict[str, Variable]) -> list[str]:
    """All of them, primitives first, then the rest by name."""
    return sorted(variables, key=lambda n: (n not in PRIMITIVES, n))


def intervention_defaults(variables: list[str], output: str) -> list[str]:
    """``--intervene auto``: the output and every computed (non-primitive) variable."""
    return [n for n in variables if n not in PRIMITIVES and n != output] + (
        [output] if output in variables else []
    )
