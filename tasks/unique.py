"""Unique digits in order of first appearance: ``Write each digit once, in the order they first
appear: 3 1 3 4 1 =`` -> `` 3 1 4``. Origin: TracrBench (arXiv 2409.13714),
``make_remove_duplicates``: keep the first occurrence of each token, drop its repeats (here the
kept tokens are written out in order, one digit token each).

RASP program (causal, 4 layers; robust to fillers anywhere in the prompt, which has no digits):

1. ``same_digit`` = numerical SelectorWidth of the positions holding this position's digit
   (0 at non-digits); ``triggers`` = numerical SelectorWidth of the trigger ``=`` up to here;
2. ``is_first`` = ``same_digit == 1`` (a first occurrence; answer digits are always repeats);
   ``answering`` = ``triggers > 0`` (the trigger and the answer);
3. ``first_rank`` = categorical SelectorWidth of the first occurrences up to here, counted only
   at first occurrences (0 elsewhere); ``wanted`` = categorical SelectorWidth of the answering
   positions (1 at the trigger, j + 1 after answer token j);
4. ``unique`` = the digit whose ``first_rank`` is ``wanted`` (categorical Aggregate).
"""

from __future__ import annotations

import random

from tracr_bench.task import Split, Task, TokenMap, uniform_strings

DIGITS = tuple("0123456789")
TRIGGER = "="
ASK = "Write each digit once, in the order they first appear: "


def no_repeats(rng: random.Random) -> tuple[str, ...]:
    """2-10 distinct digits: the answer is the input."""
    return tuple(rng.sample(DIGITS, rng.randint(2, 10)))


def repeated_block(rng: random.Random) -> tuple[str, ...]:
    """A block of 2-5 distinct digits repeated 2-4 times: the answer is the block."""
    return tuple(rng.sample(DIGITS, rng.randint(2, 5)) * rng.randint(2, 4))


def program():
    from tracr.rasp import rasp

    tokens = rasp.tokens

    def width(keys, queries, predicate, name, encoding=rasp.categorical):
        return encoding(rasp.SelectorWidth(rasp.Select(keys, queries, predicate))).named(name)

    same = width(tokens, tokens, lambda k, q: k == q and k in DIGITS, "same_digit", rasp.numerical)
    triggers = width(tokens, tokens, lambda k, q: k == TRIGGER, "triggers", rasp.numerical)
    is_first = rasp.categorical(rasp.Map(lambda w: 0.5 < w < 1.5, same)).named("is_first")
    answering = rasp.categorical(rasp.Map(lambda w: w > 0.5, triggers)).named("answering")
    first_rank = width(is_first, is_first, lambda k, q: k and q, "first_rank")
    wanted = width(answering, answering, lambda k, q: k and q, "wanted")
    select = rasp.Select(first_rank, wanted, lambda k, q: q > 0 and k == q)
    return rasp.categorical(rasp.Aggregate(select, tokens)).named("unique")


SPLITS = [  # name, description, input lengths, draw
    ("train", "2-12 uniform digits", 2, 12, uniform_strings(DIGITS, 2, 12)),
    ("test", "same distribution as train", 2, 12, uniform_strings(DIGITS, 2, 12)),
    ("length", "longer: 13-30 uniform digits", 13, 30, uniform_strings(DIGITS, 13, 30)),
    ("no_repeats", "near miss: 2-10 distinct digits (answer = input)", 2, 10, no_repeats),
    ("repeated_block", "2-5 distinct digits repeated 2-4 times", 4, 20, repeated_block),
]

TASK = Task(
    name="unique",
    description="Write each digit of the input once, in the order of first appearance.",
    version=1,
    program=program,
    token_map=TokenMap.identity(DIGITS, trigger=TRIGGER),
    prompt=lambda inp: ASK + " ".join(inp) + " " + TRIGGER,
    target=lambda inp: " " + " ".join(dict.fromkeys(inp)),
    splits={
        name: Split(name, text, lo, hi, 50_000 if name == "train" else 4_000, draw=draw)
        for name, text, lo, hi, draw in SPLITS
    },
)
