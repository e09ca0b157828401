"""Count the x's: ``What is the number of 'X' in this text? x y x\\nAnswer:`` -> `` 2`` (the
paper's second task). The answer is written one digit per token.

RASP program (causal, 3 layers; 142 residual dims at the injection length 59):

1. ``n_x``: categorical SelectorWidth of the ``x`` symbols up to here (at the trigger and after
   it: every x of the input; the prompt words and the answer digits are fillers);
   ``prev``: the previous position's symbol (categorical Aggregate on ``indices == q - 1``);
2. ``digit_index``: 0 at the trigger, 1 right after it, 2 elsewhere (the answer has at most
   3 digits; positions before the trigger are never read);
3. ``count_digit``: the ``digit_index``-th decimal digit of ``n_x`` (categorical SequenceMap).

A SelectorWidth decodes 1/(w+1); telling w from w+1 needs ``mlp_exactness`` >= 2 N (N + 1) for
N positions, hence 10**5 for the oracle's 140 (at 10**3 the injection program answers 97.2% of
500 training inputs; ``benchmarks/task_report.py --exactness``).
"""

from __future__ import annotations

import random

from tracr_bench.task import Split, Task, TokenMap, standard_splits

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

    from tracr_bench.task import lib

    n_x = lib.count_so_far(lambda t: t == "x", name="n_x")
    prev = lib.shift_by(1, rasp.tokens, name="prev")
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
    token_map=TokenMap.identity(["x"], trigger=TRIGGER),
    prompt=prompt,
    target=target,
    answer_units=answer_units,
    splits=[
        *standard_splits(
            _with_other(MIN_LEN, MAX_LEN, "y"),
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            description=f"{MIN_LEN}-{MAX_LEN} tokens of x/y with at least one y",
        ),
        Split(
            name="x_only",
            description=f"n x's and nothing else, n = 1..{X_ONLY_MAX}",
            min_length=1,
            max_length=X_ONLY_MAX,
            size=X_ONLY_MAX,
            enumerate=_x_only,
        ),
        Split(
            name="replace_y",
            description="as train, with y replaced by z",
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            draw=_with_other(MIN_LEN, MAX_LEN, "z"),
        ),
        Split(
            name="length",
            description=f"{MIN_LEN}-{OOD_MAX_LEN} tokens of x/y with at least one y",
            min_length=MIN_LEN,
            max_length=OOD_MAX_LEN,
            draw=_with_other(MIN_LEN, OOD_MAX_LEN, "y"),
        ),
    ],
    # the oracle's 140 positions need 2 * 140 * 141 = 39,480; one value for both programs keeps
    # the injection program's weights (and the models injected with it) as they were
    mlp_exactness=100_000,
)
