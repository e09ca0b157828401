"""Is a digit string sorted? ``Are these digits in ascending order (repeats allowed)? 1 3 3 7
\\nAnswer:`` -> `` yes``. Origin: TracrBench (arXiv 2409.13714), ``make_check_increasing``: one
iff the sequence is non-decreasing (every token at least the previous one).

Training uses the digits 0-7 (8 and 9 are held out). Half the strings are sorted (uniform over
the sorted strings of the drawn length), half not; lengths are weighted by how many sorted
strings they have (capped at 8,000), so short lengths do not run out of distinct inputs.

RASP program (causal, 3 layers): ``prev`` = the previous position's token (categorical Aggregate
on ``indices == q - 1``); ``descent`` = both are digits and ``prev > token``; ``descents`` =
numerical SelectorWidth of the descents up to here (at the trigger: the whole input);
``is_sorted`` = ``yes`` when there is none.
"""

from __future__ import annotations

import random
from math import comb

from tracr_bench.task import Split, Task, TokenMap

DIGITS = tuple("0123456789")
TRAIN_DIGITS, NEW_DIGITS = DIGITS[:8], DIGITS[8:]


def sorted_string(rng: random.Random, n: int, digits: tuple[str, ...]) -> list[str]:
    """Uniform over the sorted strings of length ``n`` (stars and bars)."""
    stars = sorted(rng.sample(range(n + len(digits) - 1), n))
    return [digits[p - i] for i, p in enumerate(stars)]


def mixed(lo: int, hi: int, digits=TRAIN_DIGITS, swap: bool = False):
    """Half sorted; half uniform unsorted strings, or (``swap``) sorted strings with one adjacent
    pair of unequal digits swapped (one descent). Over all ten digits: an 8 or 9 is put in."""
    lengths = list(range(lo, hi + 1))
    weights = [min(comb(n + len(digits) - 1, n), 8_000) for n in lengths]

    def draw(rng: random.Random) -> tuple[str, ...]:
        n, want_sorted = rng.choices(lengths, weights)[0], rng.random() < 0.5
        while True:
            s = sorted_string(rng, n, digits)
            if not want_sorted and swap:
                i = rng.choice([i for i in range(n - 1) if s[i] != s[i + 1]] or [0])
                s[i : i + 2] = s[i + 1], s[i]
            elif not want_sorted:
                s = [rng.choice(digits) for _ in range(n)]
            if digits != TRAIN_DIGITS and not set(s) & set(NEW_DIGITS):  # the largest, if sorted
                s[-1 if want_sorted else rng.randrange(n)] = rng.choice(NEW_DIGITS)
            if (s == sorted(s)) == want_sorted:
                return tuple(s)

    return draw


def program():
    from tracr.rasp import rasp

    tokens = rasp.tokens
    previous = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1)
    prev = rasp.categorical(rasp.Aggregate(previous, tokens)).named("prev")
    descent = rasp.categorical(
        rasp.SequenceMap(lambda p, t: p in DIGITS and t in DIGITS and p > t, prev, tokens)
    ).named("descent")
    descents = rasp.numerical(
        rasp.SelectorWidth(rasp.Select(descent, tokens, lambda k, q: k is True))
    ).named("descents")
    return rasp.categorical(rasp.Map(lambda n: "no" if n > 0.5 else "yes", descents)).named(
        "is_sorted"
    )


SPLITS = [  # name, description, input lengths, draw
    ("train", "2-12 digits over 0-7, half sorted", 2, 12, mixed(2, 12)),
    ("test", "same distribution as train", 2, 12, mixed(2, 12)),
    ("length", "longer: 13-30 digits over 0-7, half sorted", 13, 30, mixed(13, 30)),
    ("new_digits", "unseen: 0-9 with an 8 or 9, half sorted", 2, 12, mixed(2, 12, DIGITS)),
    ("one_swap", "near miss: sorted, or one adjacent swap", 2, 12, mixed(2, 12, swap=True)),
]
ASK = "Are these digits in ascending order (repeats allowed)? "

TASK = Task(
    name="is_sorted",
    description="Are the digits in non-decreasing order? Answer yes or no.",
    version=1,
    program=program,
    token_map=TokenMap.identity(DIGITS, trigger=":"),
    prompt=lambda inp: ASK + " ".join(inp) + "\nAnswer:",
    target=lambda inp: " yes" if list(inp) == sorted(inp) else " no",
    splits={
        name: Split(name, text, lo, hi, 50_000 if name == "train" else 4_000, draw=draw)
        for name, text, lo, hi, draw in SPLITS
    },
)
