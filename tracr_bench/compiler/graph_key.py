"""The canonical description of a RASP program graph: what keys the cache and names the residual.

The description lists every expression of the program in a canonical order (depth-first
pre-order from the output over its children in order) with its type, name, children, encoding
and value set, and the table of every function over those values: a Map's ``x -> f(x)``, a
SequenceMap's ``(x, y) -> f(x, y)``, a Select's predicate over all key/query pairs. Value sets
come from tracr's own ``rasp_to_graph`` + ``basis_inference``, so the tables are exactly the
ones the compiler will tabulate. Two programs with the same description compile to the same
weights, whatever lambdas or tracr unique ids they were built with.

The canonical name of an SOp is its ``name`` when that is unique in the program, else
``<name>_<k>`` with ``k`` its rank in the canonical order (see ``labels`` for their use).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from typing import Any

from tracr_bench.compiler.cache import FORMAT_VERSION, tracr_version
from tracr_bench.compiler.program import BOS, PAD


@dataclasses.dataclass(frozen=True)
class ProgramGraph:
    """A program's canonical description and its SOps' canonical names."""

    description: list[dict[str, Any]]  # one entry per expression, in canonical order
    names: dict[str, str]  # tracr label of each SOp -> canonical name


def value_key(value: Any) -> str:
    """A type-tagged string for a RASP value (1, 1.0, True and '1' all differ)."""
    return f"{type(value).__name__}:{value!r}"


def describe_program(program: Any, vocab: set[str], max_seq_len: int) -> ProgramGraph:
    """The canonical description of ``program`` (a ``rasp.SOp``) for this vocabulary and length."""
    from tracr.compiler import basis_inference, nodes, rasp_to_graph

    extracted = rasp_to_graph.extract_rasp_graph(program)
    graph = extracted.graph
    basis_inference.infer_bases(graph, extracted.sink, set(vocab), max_seq_len)

    def value_set(expr: Any) -> list[Any]:
        return sorted(graph.nodes[expr.label].get(nodes.VALUE_SET, set()), key=value_key)

    order = canonical_order(program)
    index = {expr.label: i for i, expr in enumerate(order)}
    description = [describe_expression(expr, index, value_set) for expr in order]
    return ProgramGraph(description, canonical_names(order))


def canonical_order(program: Any) -> list[Any]:
    """Every expression once: depth-first pre-order from the output over ``children`` in order."""
    order: list[Any] = []
    seen: set[str] = set()
    stack = [program]
    while stack:
        expr = stack.pop()
        if expr.label in seen:
            continue
        seen.add(expr.label)
        order.append(expr)
        stack.extend(reversed(list(expr.children)))
    return order


def describe_expression(expr: Any, index: dict[str, int], value_set: Any) -> dict[str, Any]:
    """One entry of the description: type, name, children (by index), values and tables."""
    from tracr.rasp import rasp
    from tracr.utils import errors

    entry: dict[str, Any] = {
        "type": type(expr).__name__,
        "name": expr.name,
        "children": [index[c.label] for c in expr.children],
    }
    if isinstance(expr, rasp.SOp):
        entry["encoding"] = rasp.get_encoding(expr).value
        entry["values"] = [value_key(v) for v in value_set(expr)]
    if isinstance(expr, rasp.Map):
        f = errors.ignoring_arithmetic_errors(expr.f)
        entry["table"] = [[value_key(x), value_key(f(x))] for x in value_set(expr.inner)]
    elif isinstance(expr, rasp.SequenceMap):
        f = errors.ignoring_arithmetic_errors(expr.f)
        entry["table"] = [
            [value_key(x), value_key(y), value_key(f(x, y))]
            for x, y in itertools.product(value_set(expr.fst), value_set(expr.snd))
        ]
        if isinstance(expr, rasp.LinearSequenceMap):
            entry["factors"] = [value_key(expr.fst_fac), value_key(expr.snd_fac)]
    elif isinstance(expr, rasp.Select):
        entry.update(_select_table(expr, value_set))
    elif isinstance(expr, rasp.Aggregate):
        entry["default"] = value_key(expr.default)
    elif isinstance(expr, rasp.Full):
        entry["fill"] = value_key(expr.fill)
    elif isinstance(expr, (rasp.ConstantSOp, rasp.ConstantSelector)):
        entry["value"] = repr(expr.value)
    return entry


def _select_table(expr: Any, value_set: Any) -> dict[str, Any]:
    """A Select's comparison (when it is one) and its predicate over all (key, query) pairs."""
    from tracr.rasp import rasp

    pred = expr.predicate
    entry: dict[str, Any] = {}
    if isinstance(pred, rasp.Comparison):
        entry["predicate"] = pred.name
    table: list[bool | None] = []
    for k, q in itertools.product(value_set(expr.keys), value_set(expr.queries)):
        try:
            table.append(bool(pred(k, q)))
        except Exception:  # tracr evaluates the same pairs; record the failure
            table.append(None)
    entry["table"] = table
    return entry


def canonical_names(order: list[Any]) -> dict[str, str]:
    """tracr label -> canonical name for the SOps of ``order``: the name itself when unique in
    the program, else ``name_k`` (``k``: rank among the SOps of that name)."""
    from tracr.rasp import rasp

    sops = [e for e in order if isinstance(e, rasp.SOp)]
    counts: dict[str, int] = {}
    for e in sops:
        counts[e.name] = counts.get(e.name, 0) + 1
    names: dict[str, str] = {}
    used: set[str] = set()
    seen: dict[str, int] = {}
    for e in sops:
        if counts[e.name] == 1:
            canon = e.name
        else:
            seen[e.name] = seen.get(e.name, 0) + 1
            canon = f"{e.name}_{seen[e.name]}"
        while canon in used:
            canon += "_"
        used.add(canon)
        names[e.label] = canon
    return names


def graph_key(
    description: list[dict[str, Any]],
    vocab: set[str],
    max_seq_len: int,
    *,
    causal: bool,
    mlp_exactness: int,
) -> str:
    """sha256 hex digest of a compilation: the description, the compiler arguments, the cache
    format and the tracr version."""
    payload = {
        "format_version": FORMAT_VERSION,
        "tracr_version": tracr_version(),
        "program": description,
        "vocab": sorted(vocab),
        "max_seq_len": int(max_seq_len),
        "causal": bool(causal),
        "mlp_exactness": mlp_exactness,
        "bos": BOS,
        "pad": PAD,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()
