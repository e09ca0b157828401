"""Shuffle-Dyck with three bracket pairs: ``Are parenthesis here correctly matched? ([)]
\\nAnswer:`` -> `` yes`` / `` no`` (the paper's first task).

A string is balanced iff, for every pair separately, no prefix has more closing than opening
brackets and the whole string has as many of each.

RASP program (causal, 8 layers, no ``indices``: its width does not grow with the length). All
counts are *fractions* of the prefix (numerical mean over every position up to here), so the
sign tests have a gap of 1/length instead of the 1/length**2 of a SelectorWidth decode:

1. per pair, numerical Maps ``open_t`` / ``close_t`` (1 at that bracket);
2. ``open_frac_t`` / ``close_frac_t``: numerical means over the prefix (causal attention);
   ``diff_t = open_frac_t - close_frac_t`` (LinearSequenceMap) = (opens - closes) / positions;
3. ``sign_t``: categorical neg / zero / pos of ``diff_t``;
4. ``neg_t``: numerical 0/1 Map of ``sign_t``;
5. ``neg_frac_t``: mean of ``neg_t`` over the prefix, > 0 iff the pair went negative somewhere;
   ``went_neg_t``: categorical Map of it;
6. ``ok_t``: not ``went_neg_t`` and ``sign_t == zero``;
7-8. ``ok_01`` = ``ok_0`` and ``ok_1``; ``balanced`` = ``ok_01`` and ``ok_2`` -> yes / no.

The numerical-to-categorical Maps of ``diff_t`` keep only the breakpoints that can occur:
tracr discretises a numerical input at every value of its *inferred* value set, and for a
difference of two means that set holds ~length**2 values, most of them (like 1/44 - 1/45) no
real prefix can produce; the Maps return None (drop the breakpoint) unless the value is a
fraction k/l with l <= MAX_POSITIONS. Every real value is such a fraction, so a nonzero one is
at least 1/MAX_POSITIONS from 0 and ``mlp_exactness`` 1,000 (the value computed from the
program: ``sign_t`` needs 252) separates them.
"""

from __future__ import annotations

import random
from fractions import Fraction

from tracr_bench.task import Split, Task, TokenMap, standard_splits

PAIRS = ("()", "[]", "{}")
NEW_PAIR = "<>"
BRACKETS = tuple("".join(PAIRS))
MIN_LEN, MAX_LEN = 5, 30
OOD_MAX_LEN = 90
ALMOST_MIN, ALMOST_MAX = 15, 90  # balanced lengths (even), before dropping the last symbol
# The program is exact up to this many positions (with mlp_exactness >= 4 * MAX_POSITIONS).
MAX_POSITIONS = 128


def prompt(inp: tuple[str, ...]) -> str:
    return "Are parenthesis here correctly matched? " + "".join(inp) + "\nAnswer:"


def is_balanced(inp: tuple[str, ...], pairs: tuple[str, ...] = PAIRS + (NEW_PAIR,)) -> bool:
    """Plain-Python reference: every pair's depth never negative and zero at the end."""
    depth = {p: 0 for p in pairs}
    for s in inp:
        for p in pairs:
            if s == p[0]:
                depth[p] += 1
            elif s == p[1]:
                depth[p] -= 1
                if depth[p] < 0:
                    return False
    return all(d == 0 for d in depth.values())


def target(inp: tuple[str, ...]) -> str:
    return " yes" if is_balanced(inp) else " no"


def _balanced(rng: random.Random, n: int, pairs: tuple[str, ...]) -> tuple[str, ...]:
    """A uniformly shuffled balanced string of even length ``n``: a random walk that opens a
    random pair or closes a random currently-open pair, forced closed at the end."""
    depth = {p: 0 for p in pairs}
    out: list[str] = []
    for i in range(n):
        left = n - i
        open_total = sum(depth.values())
        if open_total and (open_total >= left or rng.random() < 0.5):
            p = rng.choice([q for q in pairs if depth[q]])
            depth[p] -= 1
            out.append(p[1])
        else:
            p = rng.choice(pairs)
            depth[p] += 1
            out.append(p[0])
    return tuple(out)


def _mixed(lo: int, hi: int, pairs: tuple[str, ...]):
    """Half uniformly random strings over the brackets, half balanced strings."""
    symbols = tuple("".join(pairs))

    def draw(rng: random.Random) -> tuple[str, ...]:
        if rng.random() < 0.5:
            n = rng.choice([k for k in range(lo, hi + 1) if k % 2 == 0])
            return _balanced(rng, n, pairs)
        n = rng.randint(lo, hi)
        return tuple(rng.choice(symbols) for _ in range(n))

    return draw


def _almost_balanced(rng: random.Random) -> tuple[str, ...]:
    n = rng.choice([k for k in range(ALMOST_MIN, ALMOST_MAX + 1) if k % 2 == 0])
    return _balanced(rng, n, PAIRS)[:-1]


def program():
    from tracr.rasp import rasp

    from tracr_bench.task import lib

    def breakpoints_of_fractions(f):
        """Keep only inputs that are a fraction k/l with l <= MAX_POSITIONS (every value a
        difference of two prefix fractions can take); None drops the others from tracr's
        discretisation, see the module docstring."""

        def g(x):
            r = Fraction(x).limit_denominator(MAX_POSITIONS)
            return f(x) if abs(float(r) - x) < 1e-9 else None

        return g

    everything = lib.prefix().named("prefix")
    oks = []
    for t, (o, c) in enumerate(PAIRS):
        is_o = lib.indicator(lambda s, o=o: s == o, name=f"open_{t}")
        is_c = lib.indicator(lambda s, c=c: s == c, name=f"close_{t}")
        o_frac = lib.frac_so_far(is_o, select=everything, name=f"open_frac_{t}")
        c_frac = lib.frac_so_far(is_c, select=everything, name=f"close_frac_{t}")
        diff = rasp.numerical(rasp.LinearSequenceMap(o_frac, c_frac, 1, -1)).named(f"diff_{t}")
        sign = rasp.categorical(
            rasp.Map(
                breakpoints_of_fractions(
                    lambda x: "neg" if x < 0 else ("pos" if x > 0 else "zero")
                ),
                diff,
            )
        ).named(f"sign_{t}")
        neg = rasp.numerical(
            rasp.Map(lambda x: 1 if x == "neg" else 0, sign, simplify=False)
        ).named(f"neg_{t}")  # simplify=False: composing with sign_t would undo its breakpoints
        neg_frac = lib.frac_so_far(neg, select=everything, name=f"neg_frac_{t}")
        went_neg = rasp.categorical(rasp.Map(lambda x: x > 0, neg_frac)).named(f"went_neg_{t}")
        ok = rasp.categorical(
            rasp.SequenceMap(lambda w, s: (not w) and s == "zero", went_neg, sign)
        ).named(f"ok_{t}")
        oks.append(ok)
    ok01 = rasp.categorical(rasp.SequenceMap(lambda a, b: a and b, oks[0], oks[1])).named("ok_01")
    return rasp.categorical(
        rasp.SequenceMap(lambda a, b: "yes" if a and b else "no", ok01, oks[2])
    ).named("balanced")


TASK = Task(
    name="shuffle_dyck",
    description="Are the brackets ()[]{} correctly matched (each pair separately)? yes / no.",
    version=1,
    program=program,
    token_map=TokenMap.identity(BRACKETS, trigger=":"),
    prompt=prompt,
    target=target,
    splits=[
        *standard_splits(
            _mixed(MIN_LEN, MAX_LEN, PAIRS),
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            description=f"{MIN_LEN}-{MAX_LEN} symbols: half uniform random strings, half balanced",
        ),
        Split(
            name="length",
            description=f"{MIN_LEN}-{OOD_MAX_LEN} symbols, same mix",
            min_length=MIN_LEN,
            max_length=OOD_MAX_LEN,
            draw=_mixed(MIN_LEN, OOD_MAX_LEN, PAIRS),
        ),
        Split(
            name="new_token",
            description=f"adds the pair {NEW_PAIR}: {MIN_LEN}-{MAX_LEN} symbols over 4 pairs, "
            "same mix",
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            draw=_mixed(MIN_LEN, MAX_LEN, PAIRS + (NEW_PAIR,)),
            oracle_exempt=(
                f"the program's vocabulary has no {NEW_PAIR}: those tokens translate to the "
                "filler, so the program cannot check that pair"
            ),
        ),
        Split(
            name="almost_balanced",
            description=f"balanced strings of {ALMOST_MIN + 1}-{ALMOST_MAX} with the last symbol "
            "removed (all 'no')",
            min_length=ALMOST_MIN,
            max_length=ALMOST_MAX - 1,
            draw=_almost_balanced,
        ),
    ],
)
