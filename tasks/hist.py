"""Histogram: for each letter of the input, how often it occurs in the whole input. ``How many
times does each letter occur? x y x z\\nAnswer:`` -> `` 2 1 2 1``. Origin: tracr lib ``make_hist``
(the RASP paper's histogram). Every count is at most 9, so each is one digit token.

RASP program (causal, 4 layers; robust to fillers anywhere in the prompt, which has no digits):

1. ``letter_rank`` = categorical SelectorWidth of the letters up to here (at a letter: its
   1-based rank); ``digits`` = categorical SelectorWidth of the digits up to here (0 at the
   trigger, j after answer token j: the answer units already written);
2. ``letter_key`` = ``letter_rank`` at letters, 0 elsewhere;
3. ``current`` = the letter whose ``letter_key`` is ``digits + 1`` (categorical Aggregate);
4. ``hist`` = categorical SelectorWidth of the positions holding ``current`` (every letter of
   the input comes before the answer).
"""

from __future__ import annotations

import random

from tracr_bench.task import Split, Task, TokenMap

LETTERS, NEW_LETTER = ("x", "y", "z"), "w"
ALL_LETTERS = LETTERS + (NEW_LETTER,)
DIGITS = tuple("0123456789")


def letters(lo: int, hi: int, alphabet=LETTERS, skew: float = 0.0):
    """A length in [lo, hi] weighted by the number of strings (capped at 3**9, so short lengths
    do not run out), then uniform letters among those not yet used 9 times (``skew``: one letter,
    drawn per string, takes each position with that probability); ``w``, when in the alphabet
    and missing, then replaces every copy of one letter of the string."""
    lengths = list(range(lo, hi + 1))
    weights = [min(len(alphabet) ** n, 3**9) for n in lengths]

    def draw(rng: random.Random) -> tuple[str, ...]:
        n, major = rng.choices(lengths, weights)[0], rng.choice(alphabet)
        s: list[str] = []
        for _ in range(n):
            free = [c for c in alphabet if s.count(c) < 9]
            s.append(major if rng.random() < skew and major in free else rng.choice(free))
        if NEW_LETTER in alphabet and NEW_LETTER not in s:
            old = rng.choice(sorted(set(s)))
            s = [NEW_LETTER if c == old else c for c in s]
        return tuple(s)

    return draw


def program():
    from tracr.rasp import rasp

    from tracr_bench.task.lib import selector_width as width

    tokens = rasp.tokens

    rank = width(tokens, tokens, lambda k, q: k in ALL_LETTERS, "letter_rank")
    digits = width(tokens, tokens, lambda k, q: k in DIGITS, "digits")
    key = rasp.categorical(
        rasp.SequenceMap(lambda r, t: r if t in ALL_LETTERS else 0, rank, tokens)
    ).named("letter_key")
    current = rasp.categorical(
        rasp.Aggregate(rasp.Select(key, digits, lambda k, q: k == q + 1), tokens)
    ).named("current")
    return width(tokens, current, lambda k, q: k == q, "hist")


SPLITS = [  # name, description, input lengths, draw
    ("train", "2-12 letters over x/y/z", 2, 12, letters(2, 12)),
    ("test", "same distribution as train", 2, 12, letters(2, 12)),
    ("length", "longer: 13-24 letters over x/y/z", 13, 24, letters(13, 24)),
    ("new_letter", "unseen letter: w/x/y/z, at least one w", 2, 12, letters(2, 12, ALL_LETTERS)),
    ("skewed", "large counts: one letter with p = 0.7", 6, 12, letters(6, 12, skew=0.7)),
]

TASK = Task(
    name="hist",
    description="For each letter of the input, how many times it occurs; one digit per letter.",
    version=1,
    program=program,
    token_map=TokenMap.identity(ALL_LETTERS + DIGITS, trigger=":"),
    prompt=lambda inp: "How many times does each letter occur? " + " ".join(inp) + "\nAnswer:",
    target=lambda inp: " " + " ".join(str(inp.count(c)) for c in inp),
    splits={
        name: Split(name, text, lo, hi, 50_000 if name == "train" else 4_000, draw=draw)
        for name, text, lo, hi, draw in SPLITS
    },
)
