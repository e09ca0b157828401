"""Reverse a sequence of digits: ``Reverse the digits: 3 1 4 =`` -> `` 4 1 3``.

The answer is a sequence, read one digit token at a time. Training uses the digits 0-6 only, so
``new_digits`` probes symbols the LM never reversed (the program's vocabulary has all ten digits,
so the oracle still scores 100% there).

RASP program (causal, 3 layers; robust to fillers anywhere in the prompt):

- ``digits_so_far`` = SelectorWidth(digits up to here): at an input digit, its 1-based rank
  among the input digits; at the trigger, the number ``n`` of input digits; at the position of
  answer token ``k`` (1-based), ``n + k`` (the answer digits are digits too).
- ``n_inputs`` = the ``digits_so_far`` of the trigger, moved to every later position.
- ``digit_rank`` = ``digits_so_far`` at digit positions, 0 elsewhere (keys).
- ``wanted_rank`` = ``2 n - digits_so_far`` (queries): ``n`` at the trigger, ``n - k`` after
  answer token ``k``.
- ``reverse`` = the token at the key whose ``digit_rank`` equals ``wanted_rank``.
"""

from __future__ import annotations

import random

from tracr_bench.task import Split, Task, TokenMap, standard_splits, uniform_strings

DIGITS = tuple("0123456789")
TRAIN_DIGITS = DIGITS[:7]  # 0-6; 7-9 are held out for the ``new_digits`` split
NEW_DIGITS = DIGITS[7:]
TRIGGER = "="
MIN_LEN, MAX_LEN = 2, 12  # train / test input lengths, in digits
OOD_MAX_LEN = 20


def prompt(inp: tuple[str, ...]) -> str:
    return "Reverse the digits: " + " ".join(inp) + " " + TRIGGER


def target(inp: tuple[str, ...]) -> str:
    return " " + " ".join(reversed(inp))


def _draw_new_digits(rng: random.Random) -> tuple[str, ...]:
    """Train lengths over all ten digits, at least one of them from 7-9."""
    n = rng.randint(MIN_LEN, MAX_LEN)
    seq = [rng.choice(DIGITS) for _ in range(n)]
    seq[rng.randrange(n)] = rng.choice(NEW_DIGITS)
    return tuple(seq)


def _draw_repeats(rng: random.Random) -> tuple[str, ...]:
    """Train lengths, two training digits in runs of 2-5 (e.g. ``3 3 3 5 5 3 3``)."""
    n = rng.randint(MIN_LEN, MAX_LEN)
    a, b = rng.sample(TRAIN_DIGITS, 2)
    seq: list[str] = []
    cur = a
    while len(seq) < n:
        seq.extend([cur] * rng.randint(2, 5))
        cur = b if cur == a else a
    return tuple(seq[:n])


def program():
    from tracr.rasp import rasp

    from tracr_bench.task import lib

    def is_digit(x) -> bool:
        return x in DIGITS

    digits_so_far = lib.count_so_far(is_digit, name="digits_so_far")
    n_inputs = lib.value_at(TRIGGER, digits_so_far, name="n_inputs")
    digit_rank = rasp.SequenceMap(
        lambda d, t: d if is_digit(t) else 0, digits_so_far, rasp.tokens
    ).named("digit_rank")

    def wanted(n: int | None, d: int) -> int:
        if n is None:  # before the trigger, in RASP's own (uncompiled) evaluation
            return 0
        w = 2 * n - d
        return w if 1 <= w <= n else 0

    wanted_rank = rasp.SequenceMap(wanted, n_inputs, digits_so_far).named("wanted_rank")
    return rasp.Aggregate(
        rasp.Select(digit_rank, wanted_rank, lambda k, q: q is not None and q > 0 and k == q),
        rasp.tokens,
    ).named("reverse")


TASK = Task(
    name="reverse",
    description="Reverse a sequence of digits; answered one digit token at a time.",
    version=1,
    program=program,
    token_map=TokenMap.identity(DIGITS, trigger=TRIGGER),
    prompt=prompt,
    target=target,
    splits=[
        *standard_splits(
            uniform_strings(TRAIN_DIGITS, MIN_LEN, MAX_LEN),
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            description=f"{MIN_LEN}-{MAX_LEN} digits, each uniform over 0-6",
        ),
        Split(
            name="length",
            description=f"longer inputs: {MAX_LEN + 1}-{OOD_MAX_LEN} digits over 0-6",
            min_length=MAX_LEN + 1,
            max_length=OOD_MAX_LEN,
            draw=uniform_strings(TRAIN_DIGITS, MAX_LEN + 1, OOD_MAX_LEN),
        ),
        Split(
            name="new_digits",
            description=f"unseen digits: {MIN_LEN}-{MAX_LEN} digits over 0-9, at least one of 7-9",
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            draw=_draw_new_digits,
        ),
        Split(
            name="repeats",
            description=f"{MIN_LEN}-{MAX_LEN} digits: two digits of 0-6 in runs of 2-5",
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            draw=_draw_repeats,
        ),
    ],
)
