"""Count the x's: ``What is the number of 'X' in this text? x y x\\nAnswer:`` -> `` 2`` (the
paper's second task). The answer is written one digit per token.

RASP program (causal, 3 layers; 142 residual dims at the injection length 59):

1. ``n_x``: categorical SelectorWidth of the ``x`` symbols up to here (at the trigger and after
   it: every x of the input; the prompt words and the answer digits are fillers);
   ``prev``: the previous position's symbol (categorical Aggregate on ``indices == q - 1``);
2. ``digit_index``: 0 at the trigger, 1 right after it, 2 elsewhere (the answer has at most
   3 digits; positions before the trigger are never read);
3. ``count_digit``: the ``digit_index``-th decimal digit of ``n_x`` (categorical SequenceMap).

A SelectorWidth decodes 1/(w+1); telling w from w+1 needs ``mlp_exactness`` > ~max_seq_len**2,
hence 10**5 (measured exact up to 140 positions).
"""

from __future__ import annotations

import random

from tracr_bench.task import Split, Task, TokenMap

FILLER = "_"
TRIGGER = ":"
MIN_LEN, MAX_LEN = 5, 40
OOD_MAX_LEN = 120
X_ONLY_MAX = 40


def prompt(inp: tuple[str, ...]) -> str:
    return "What is the number of 'X' in this text? " + " ".join(inp) + "\nAnswer:"


def target(inp: tuple[str, ...]) -> str:
    return f" {sum(1 for s in inp if s == 'x')}"


def answer_units(text: str) -> list[str]:
    return list(text.strip())


def _with_other(lo: int, hi: int, other: str):
    """Length uniform in [lo, hi], the number of x's uniform in [0, length - 1]: at least one
    ``other`` symbol."""

    def draw(rng: random.Random) -> tuple[str, ...]:
        n = rng.randint(lo, hi)
        k = rng.randint(0, n - 1)
        xs = set(rng.sample(range(n), k))
        return tuple("x" if i in xs else other for i in range(n))

    return draw


def _x_only():
    return [("x",) * n for n in range(1, X_ONLY_MAX + 1)]


def program():
    from tracr.rasp import rasp

    n_x = rasp.categorical(
        rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, lambda k, q: k == "x"))
    ).named("n_x")
    prev = rasp.categorical(
        rasp.Aggregate(
            rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1), rasp.tokens
        )
    ).named("prev")
    digit_index = rasp.categorical(
        rasp.SequenceMap(
            lambda tok, p: 0 if tok == TRIGGER else (1 if p == TRIGGER else 2), rasp.tokens, prev
        )
    ).named("digit_index")

    def digit(n: int, i: int) -> str:
        s = str(n)
        return s[i] if i < len(s) else "0"

    return rasp.categorical(rasp.SequenceMap(digit, n_x, digit_index)).named("count_digit")


TASK = Task(
    name="count",
    description="How many times does x occur in a space-separated string of x/y? Answer digits.",
    version=1,
    program=program,
    token_map=TokenMap(symbols={"x": "x"}, filler=FILLER, trigger=TRIGGER, trigger_symbol=TRIGGER),
    prompt=prompt,
    target=target,
    answer_units=answer_units,
    splits={
        "train": Split(
            "train",
            f"{MIN_LEN}-{MAX_LEN} tokens of x/y with at least one y",
            MIN_LEN,
            MAX_LEN,
            50_000,
            draw=_with_other(MIN_LEN, MAX_LEN, "y"),
        ),
        "test": Split(
            "test",
            "same distribution as train",
            MIN_LEN,
            MAX_LEN,
            4_000,
            draw=_with_other(MIN_LEN, MAX_LEN, "y"),
        ),
        "x_only": Split(
            "x_only",
            f"n x's and nothing else, n = 1..{X_ONLY_MAX}",
            1,
            X_ONLY_MAX,
            X_ONLY_MAX,
            enumerate=_x_only,
        ),
        "replace_y": Split(
            "replace_y",
            "as train, with y replaced by z",
            MIN_LEN,
            MAX_LEN,
            4_000,
            draw=_with_other(MIN_LEN, MAX_LEN, "z"),
        ),
        "length": Split(
            "length",
            f"{MIN_LEN}-{OOD_MAX_LEN} tokens of x/y with at least one y",
            MIN_LEN,
            OOD_MAX_LEN,
            4_000,
            draw=_with_other(MIN_LEN, OOD_MAX_LEN, "y"),
        ),
    },
    injection_max_seq_len=59,
    oracle_max_seq_len=140,
    mlp_exactness=100_000,
)
