"""Parity of the number of ones in a bit string: ``Is the number of ones in this bit string odd?
1 0 1 1\\nAnswer:`` -> `` yes``. A classic length-generalisation failure for transformers.

RASP program (causal, 2 layers): ``ones`` = numerical SelectorWidth of the ``1`` symbols up to
here (at the trigger: all input bits; the prompt text has no digits), then ``parity`` = a
categorical Map of ``ones`` to ``yes`` (odd) / ``no`` (even).
"""

from __future__ import annotations

import random

from tracr_bench.task import Split, Task, TokenMap, standard_splits, uniform_strings

BITS = ("0", "1")
MIN_LEN, MAX_LEN = 4, 16  # train / test input lengths, in bits
OOD_MAX_LEN = 40


def prompt(inp: tuple[str, ...]) -> str:
    return "Is the number of ones in this bit string odd? " + " ".join(inp) + "\nAnswer:"


def target(inp: tuple[str, ...]) -> str:
    return " yes" if inp.count("1") % 2 else " no"


def _draw_skewed(rng: random.Random) -> tuple[str, ...]:
    """Train lengths, but almost all zeros or almost all ones (each bit 1 w.p. 0.1 or 0.9)."""
    n = rng.randint(MIN_LEN, MAX_LEN)
    p = rng.choice((0.1, 0.9))
    return tuple("1" if rng.random() < p else "0" for _ in range(n))


def program():
    from tracr_bench.task import lib  # imports tracr: only when the program is built

    ones = lib.count_so_far(lambda t: t == "1", numerical=True, name="ones")
    return lib.yes_no(lambda x: round(x) % 2, ones, name="parity")


TASK = Task(
    name="parity",
    description="Is the number of ones in a bit string odd? Answer yes or no.",
    version=1,
    program=program,
    token_map=TokenMap.identity(BITS, trigger=":"),
    prompt=prompt,
    target=target,
    splits=[
        *standard_splits(
            uniform_strings(BITS, MIN_LEN, MAX_LEN),
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            description=f"{MIN_LEN}-{MAX_LEN} uniform random bits",
        ),
        Split(
            name="length",
            description=f"longer inputs: {MAX_LEN + 1}-{OOD_MAX_LEN} uniform random bits",
            min_length=MAX_LEN + 1,
            max_length=OOD_MAX_LEN,
            draw=uniform_strings(BITS, MAX_LEN + 1, OOD_MAX_LEN),
        ),
        Split(
            name="skewed",
            description=f"{MIN_LEN}-{MAX_LEN} bits, each 1 with probability 0.1 or 0.9 "
            "(per string)",
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            draw=_draw_skewed,
        ),
    ],
)
