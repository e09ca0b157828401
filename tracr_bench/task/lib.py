"""Reusable RASP pieces for task programs, in the manner of tracr's ``compiler/lib.py``.

Every program here is compiled *causally*: at each position, attention sees only the positions
up to it. So "so far" below means "from the first position up to this one", and the value read
at the answer trigger covers the whole prompt. Check a program built from these pieces with
``tracr.rasp.causal_eval.evaluate``: ``rasp.evaluate`` sees the whole sequence at every position
and can agree with the solver where the compiled program does not (tracr's ``make_length`` is
the length only at the last position here).

Each function takes the names the caller wants for what it builds (names appear in the residual
stream's labels and in the compile cache key), and builds exactly the SOps it documents, so two
programs made of the same calls compile to the same weights.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from tracr.rasp import rasp


def count_so_far(
    predicate: Callable[[Any], bool],
    *,
    keys: rasp.SOp = rasp.tokens,
    numerical: bool = False,
    name: str = "count_so_far",
) -> rasp.SOp:
    """How many positions up to here hold a ``keys`` value with ``predicate(value)`` true (a
    SelectorWidth; at the trigger: over the whole prompt).

    Categorical (the default) costs one residual dimension per possible count; ``numerical``
    costs one dimension in all, and a numerical-to-categorical Map reads it. Either way it
    decodes 1/(w + 1), so it counts exactly to N only with ``mlp_exactness`` >= 2 N (N + 1)."""
    select = rasp.Select(keys, rasp.tokens, lambda key, query: predicate(key))
    width = rasp.SelectorWidth(select)
    return (rasp.numerical(width) if numerical else rasp.categorical(width)).named(name)


def selector_width(
    keys: rasp.SOp, queries: rasp.SOp, predicate: Callable[[Any, Any], bool], name: str
) -> rasp.SOp:
    """The categorical SelectorWidth of ``Select(keys, queries, predicate)``: at each position,
    how many positions up to here the query selects (``count_so_far`` with a query)."""
    return rasp.categorical(rasp.SelectorWidth(rasp.Select(keys, queries, predicate))).named(name)


def length_so_far(*, numerical: bool = False, name: str = "length_so_far") -> rasp.SOp:
    """The number of positions up to here (tracr's ``make_length`` under causal compilation:
    the position + 1, the whole length only at the last position)."""
    return count_so_far(lambda key: True, numerical=numerical, name=name)


def shift_by(offset: int, sop: rasp.SOp = rasp.tokens, *, name: str | None = None) -> rasp.SOp:
    """``sop`` as it was ``offset`` positions back (None where there is no such position)."""
    select = rasp.Select(rasp.indices, rasp.indices, lambda key, query: key == query - offset)
    if rasp.is_numerical(sop):
        out = rasp.numerical(rasp.Aggregate(select, sop, default=0))
    else:
        out = rasp.categorical(rasp.Aggregate(select, sop))
    return out.named(name or f"shift_by_{offset}")


def value_at(symbol: Hashable, sop: rasp.SOp, *, name: str = "value_at") -> rasp.SOp:
    """``sop``'s value at the position holding the token ``symbol``, moved to that position and
    every later one (None before it). The symbol must occur once, e.g. the answer trigger: a
    categorical Aggregate over several positions would average them."""
    select = rasp.Select(rasp.tokens, rasp.tokens, lambda key, query: key == symbol)
    return rasp.categorical(rasp.Aggregate(select, sop)).named(name)


def prefix() -> rasp.Select:
    """Selects every position up to here (causal): the selector of a mean over the prefix."""
    return rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE)


def indicator(
    predicate: Callable[[Any], bool], sop: rasp.SOp = rasp.tokens, *, name: str = "indicator"
) -> rasp.SOp:
    """Numerical 1 where ``predicate(value)`` holds, else 0: what ``frac_so_far`` averages."""
    return rasp.numerical(rasp.Map(lambda x: 1 if predicate(x) else 0, sop)).named(name)


def frac_so_far(
    bools: rasp.SOp, *, select: rasp.Select | None = None, name: str = "frac_so_far"
) -> rasp.SOp:
    """The fraction of positions up to here where the numerical 0/1 ``bools`` is 1 (tracr's
    ``make_frac_prevs``). Pass one ``prefix()`` as ``select`` to share it between several
    means. Differences of fractions are 1/length apart, where SelectorWidth counts are
    1/length**2 apart: sign tests on fractions need far less ``mlp_exactness``."""
    select = prefix() if select is None else select
    return rasp.numerical(rasp.Aggregate(select, bools, default=0)).named(name)


def yes_no(predicate: Callable[[Any], bool], sop: rasp.SOp, *, name: str = "yes_no") -> rasp.SOp:
    """The answer ``yes`` where ``predicate(value)`` holds, else ``no`` (categorical)."""
    return rasp.categorical(rasp.Map(lambda x: "yes" if predicate(x) else "no", sop)).named(name)


def balanced_tree(
    sops: Sequence[rasp.SOp],
    combine: Callable[[Any, Any], Any],
    *,
    name: Callable[[int, int], str],
) -> rasp.SOp:
    """``combine`` folded over ``sops`` pairwise, level by level (categorical SequenceMaps): one
    layer per level, where a chain costs one layer per step. ``name(lo, hi)`` names the node
    that combines ``sops[lo..hi]``; an odd one out moves up a level unchanged."""
    level = [(i, i, sop) for i, sop in enumerate(sops)]
    if not level:
        raise ValueError("balanced_tree needs at least one SOp")
    while len(level) > 1:
        pairs = zip(level[0::2], level[1::2], strict=False)
        joined = [
            (lo, hi, rasp.categorical(rasp.SequenceMap(combine, a, b)).named(name(lo, hi)))
            for (lo, _, a), (_, hi, b) in pairs
        ]
        level = joined + (level[-1:] if len(level) % 2 else [])
    return level[0][2]
