"""Dyck-1: are the round brackets balanced? ``Are the round brackets here correctly matched?
(()())\\nAnswer:`` -> `` yes``. Origin: tracr lib ``make_pair_balance`` (the RASP paper's pair
balance, opens minus closes over the prefix) as used by ``make_shuffle_dyck`` with one pair.

Balanced strings are uniform over the balanced strings of their length (shuffles of equal
counts, drawn until balanced); the others are uniform strings. Lengths are weighted by how many
strings of each kind exist (capped at 4,000), so short lengths do not run out of inputs.

RASP program (causal, 5 layers): ``opens`` / ``closes`` = numerical SelectorWidths of ``(`` and
``)`` up to here; ``depth`` = their difference (LinearSequenceMap); ``depth_sign`` = neg / zero /
pos (categorical Map); ``dips`` = categorical SelectorWidth of the positions where it was
negative; ``dyck1`` = ``yes`` iff no dip and depth zero. Other brackets are fillers (``[]{}`` of
the ``distractors`` split are not asked about).
"""

from __future__ import annotations

import random
from math import comb

from tracr_bench.task import Split, Task, TokenMap

OPEN, CLOSE = "(", ")"


def balanced(inp) -> bool:
    depths = [0]
    for s in inp:
        depths.append(depths[-1] + (s == OPEN) - (s == CLOSE))
    return min(depths) == 0 == depths[-1]


def mixed(lo: int, hi: int, near_miss: bool = False, others: int = 0):
    """Half balanced; half uniform strings, or (``near_miss``) as many ``(`` as ``)`` but dipping
    below zero; ``others``: then 1 to that many of ``[]{}`` inserted anywhere."""
    lengths, even = list(range(lo, hi + 1)), list(range(lo + lo % 2, hi + 1, 2))
    weights = [min(2**n, 4_000) for n in lengths]
    even_weights = [min(comb(n, n // 2) // (n // 2 + 1), 4_000) for n in even]

    def draw(rng: random.Random) -> tuple[str, ...]:
        if near_miss or rng.random() < 0.5:
            n, want = rng.choices(even, even_weights)[0], not near_miss or rng.random() < 0.5
            s = [OPEN, CLOSE] * (n // 2)
            while rng.shuffle(s) or balanced(s) != want:
                pass
        else:
            s = [rng.choice((OPEN, CLOSE)) for _ in range(rng.choices(lengths, weights)[0])]
        for _ in range(rng.randint(1, others) if others else 0):
            s.insert(rng.randint(0, len(s)), rng.choice("[]{}"))
        return tuple(s)

    return draw


def program():
    from tracr.rasp import rasp

    def count(token, name):
        select = rasp.Select(rasp.tokens, rasp.tokens, lambda k, q: k == token)
        return rasp.numerical(rasp.SelectorWidth(select)).named(name)

    depth = rasp.numerical(
        rasp.LinearSequenceMap(count(OPEN, "opens"), count(CLOSE, "closes"), 1, -1)
    ).named("depth")
    sign = rasp.categorical(
        rasp.Map(lambda d: "neg" if d < -0.5 else ("pos" if d > 0.5 else "zero"), depth)
    ).named("depth_sign")
    dips = rasp.categorical(
        rasp.SelectorWidth(rasp.Select(sign, rasp.tokens, lambda k, q: k == "neg"))
    ).named("dips")
    return rasp.categorical(
        rasp.SequenceMap(lambda d, s: "yes" if d == 0 and s == "zero" else "no", dips, sign)
    ).named("dyck1")


SPLITS = [  # name, description, input lengths, draw
    ("train", "2-32 brackets, half balanced", 2, 32, mixed(2, 32)),
    ("test", "same distribution as train", 2, 32, mixed(2, 32)),
    ("length", "longer: 34-80 brackets, half balanced", 34, 80, mixed(34, 80)),
    ("near_miss", "equal ( and ) counts, half dip below 0", 2, 32, mixed(2, 32, near_miss=True)),
    ("distractors", "as test, plus 1-8 of []{} (not asked)", 3, 40, mixed(2, 32, others=8)),
]
ASK = "Are the round brackets here correctly matched? "

TASK = Task(
    name="dyck1",
    description="Are the round brackets () correctly matched? Answer yes or no.",
    version=1,
    program=program,
    token_map=TokenMap.identity((OPEN, CLOSE), trigger=":"),
    prompt=lambda inp: ASK + "".join(inp) + "\nAnswer:",
    target=lambda inp: " yes" if balanced(inp) else " no",
    splits={
        name: Split(name, text, lo, hi, 50_000 if name == "train" else 4_000, draw=draw)
        for name, text, lo, hi, draw in SPLITS
    },
)
