"""Ready-made split parts: draw functions for ``Split.draw`` and the standard train/test pair.

A task module usually needs one draw function ``draw(rng) -> input`` over a length range; the
standard pair then makes ``train`` (50,000 inputs) and ``test`` (4,000, same distribution) from
it, and the task adds its out-of-distribution splits after them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from tracr_bench.task.spec import Split, Symbols

TRAIN_SIZE = 50_000
TEST_SIZE = 4_000  # the paper's evaluation size; also the default for OOD splits


def uniform_strings(
    alphabet: Sequence[str], lo: int, hi: int
) -> Callable[[random.Random], Symbols]:
    """A ``Split.draw``: a length uniform in ``[lo, hi]``, then each symbol uniform over
    ``alphabet``."""
    alphabet = tuple(alphabet)

    def draw(rng: random.Random) -> Symbols:
        n = rng.randint(lo, hi)
        return tuple(rng.choice(alphabet) for _ in range(n))

    return draw


def standard_splits(
    draw: Callable[[random.Random], Symbols],
    *,
    min_length: int,
    max_length: int,
    description: str,
    train_size: int = TRAIN_SIZE,
    test_size: int = TEST_SIZE,
) -> tuple[Split, Split]:
    """``train`` and ``test`` drawn from the same ``draw`` over inputs of ``min_length`` to
    ``max_length`` symbols (``description`` says what train holds). Train never holds an input of
    test or of an OOD split (see ``Task.examples``)."""
    common = {"min_length": min_length, "max_length": max_length, "draw": draw}
    return (
        Split(name="train", description=description, size=train_size, **common),
        Split(name="test", description="same distribution as train", size=test_size, **common),
    )
