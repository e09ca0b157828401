"""Parity of the number of ones in a bit string: ``Is the number of ones in this bit string odd?
1 0 1 1\\nAnswer:`` -> `` yes``. A classic length-generalisation failure for transformers.

RASP program (causal, 2 layers): ``ones`` = numerical SelectorWidth of the ``1`` symbols up to
here (at the trigger: all input bits; the prompt text has no digits), then ``parity`` = a
categorical Map of ``ones`` to ``yes`` (odd) / ``no`` (even).
"""

from __future__ import annotations

import random

from tracr_bench.task import Split, Task, TokenMap, uniform_strings

BITS = ("0", "1")
FILLER = "_"
TRIGGER = ":"
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
    from tracr.rasp import rasp

    ones = rasp.numerical(
        rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, lambda k, q: k == "1"))
    ).named("ones")
    return rasp.categorical(rasp.Map(lambda x: "yes" if round(x) % 2 else "no", ones)).named(
        "parity"
    )


TASK = Task(
    name="parity",
    description="Is the number of ones in a bit string odd? Answer yes or no.",
    version=1,
    program=program,
    token_map=TokenMap(
        symbols={b: b for b in BITS}, filler=FILLER, trigger=TRIGGER, trigger_symbol=TRIGGER
    ),
    prompt=prompt,
    target=target,
    splits={
        "train": Split(
            "train",
            f"{MIN_LEN}-{MAX_LEN} uniform random bits",
            MIN_LEN,
            MAX_LEN,
            50_000,
            draw=uniform_strings(BITS, MIN_LEN, MAX_LEN),
        ),
        "test": Split(
            "test",
            "same distribution as train",
            MIN_LEN,
            MAX_LEN,
            4_000,
            draw=uniform_strings(BITS, MIN_LEN, MAX_LEN),
        ),
        "length": Split(
            "length",
            f"longer inputs: {MAX_LEN + 1}-{OOD_MAX_LEN} uniform random bits",
            MAX_LEN + 1,
            OOD_MAX_LEN,
            4_000,
            draw=uniform_strings(BITS, MAX_LEN + 1, OOD_MAX_LEN),
        ),
        "skewed": Split(
            "skewed",
            f"{MIN_LEN}-{MAX_LEN} bits, each 1 with probability 0.1 or 0.9 (per string)",
            MIN_LEN,
            MAX_LEN,
            4_000,
            draw=_draw_skewed,
        ),
    },
    injection_max_seq_len=33,
    oracle_max_seq_len=57,
    mlp_exactness=10_000,
)
