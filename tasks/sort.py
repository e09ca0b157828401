"""Sort a sequence of digits (duplicates kept): ``Sort the digits: 3 1 4 1 =`` -> `` 1 1 3 4``.

The answer is a sequence, read one digit token at a time.

RASP program (causal, 8 layers). Write ``c_v`` for the number of input digits ``<= v`` and ``k``
for the number of answer digits already written. The next answer digit is
``y_k = #{v in 0..8 : c_v <= k}``. The answer digits are fed back (teacher-forced), so the
count ``A_v`` of *all* digits ``<= v`` seen so far (input and answer) is ``c_v + min(k, c_v)``,
and ``c_v <= k`` exactly when ``A_v <= 2k``; this needs no "before the trigger" test on the
keys, so it is robust to fillers anywhere in the prompt.

- ``count_le_v`` (v = 0..8): numerical SelectorWidth of the digits ``<= v`` (``A_v``);
- ``trigger_pos``: the index of the trigger, moved to every later position;
- ``answers_plus_one``: numerical SelectorWidth of positions at or after the trigger (``k + 1``);
- ``slack_v = A_v - 2 (k + 1)`` and ``done_v = [slack_v <= -2]`` (= ``[c_v <= k]``);
- the nine ``done_v`` summed in a balanced tree of categorical SequenceMaps -> the digit.
"""

from __future__ import annotations

import random

from tracr_bench.task import Split, Task, TokenMap, standard_splits, uniform_strings

DIGITS = tuple("0123456789")
TRIGGER = "="
MIN_LEN, MAX_LEN = 2, 10  # train / test input lengths, in digits
OOD_MAX_LEN = 16


def prompt(inp: tuple[str, ...]) -> str:
    return "Sort the digits: " + " ".join(inp) + " " + TRIGGER


def target(inp: tuple[str, ...]) -> str:
    return " " + " ".join(sorted(inp))


def _draw_sorted(rng: random.Random) -> tuple[str, ...]:
    """Train lengths, already in ascending order (the answer repeats the input)."""
    return tuple(sorted(uniform_strings(DIGITS, MIN_LEN, MAX_LEN)(rng)))


def _draw_descending(rng: random.Random) -> tuple[str, ...]:
    """Train lengths, in descending order (the answer is the input reversed)."""
    return tuple(sorted(uniform_strings(DIGITS, MIN_LEN, MAX_LEN)(rng), reverse=True))


def program():
    from tracr.rasp import rasp

    from tracr_bench.task import lib

    counts = [
        lib.count_so_far(lambda k, v=v: k in DIGITS and int(k) <= v, numerical=True,
                         name=f"count_le_{v}")
        for v in range(9)
    ]  # fmt: skip
    trigger_pos = lib.value_at(TRIGGER, rasp.indices, name="trigger_pos")
    answers_plus_one = rasp.numerical(
        rasp.SelectorWidth(
            rasp.Select(rasp.indices, trigger_pos, lambda k, q: q is not None and k >= q)
        )
    ).named("answers_plus_one")
    done = []
    for v, count in enumerate(counts):
        slack = rasp.numerical(rasp.LinearSequenceMap(count, answers_plus_one, 1, -2)).named(
            f"slack_{v}"
        )
        done.append(rasp.categorical(rasp.Map(lambda x: int(x < -1.5), slack)).named(f"done_{v}"))
    done_0_7 = lib.balanced_tree(done[:8], lambda x, y: x + y, name=lambda a, b: f"done_{a}_{b}")
    return rasp.categorical(rasp.SequenceMap(lambda x, y: str(x + y), done_0_7, done[8])).named(
        "sort"
    )


TASK = Task(
    name="sort",
    description="Sort a sequence of digits in ascending order, duplicates kept; answered one "
    "digit token at a time.",
    version=1,
    program=program,
    token_map=TokenMap.identity(DIGITS, trigger=TRIGGER),
    prompt=prompt,
    target=target,
    splits=[
        *standard_splits(
            uniform_strings(DIGITS, MIN_LEN, MAX_LEN),
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            description=f"{MIN_LEN}-{MAX_LEN} digits, each uniform over 0-9",
        ),
        Split(
            name="length",
            description=f"longer inputs: {MAX_LEN + 1}-{OOD_MAX_LEN} uniform digits",
            min_length=MAX_LEN + 1,
            max_length=OOD_MAX_LEN,
            draw=uniform_strings(DIGITS, MAX_LEN + 1, OOD_MAX_LEN),
        ),
        Split(
            name="sorted",
            description=f"near miss: {MIN_LEN}-{MAX_LEN} digits already in ascending order",
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            draw=_draw_sorted,
        ),
        Split(
            name="descending",
            description=f"near miss: {MIN_LEN}-{MAX_LEN} digits in descending order",
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            draw=_draw_descending,
        ),
    ],
)
