"""Hypothesis strategies over the tasks' inputs, for property tests and ``tracr-bench probe``.

Every input comes from a split's own generator (``Split.draw`` or ``Split.enumerate``), so it is
valid for the task by construction; the task's ``target`` gives the right answer.

Two kinds of strategy:

- ``inputs(task, split)`` with no length bounds: ``st.randoms(use_true_random=False)`` fed to
  ``split.draw`` (or ``sampled_from(split.enumerate())``). Every input the generator can make
  can come out, and hypothesis shrinks the generator's own random choices, which for the
  bundled tasks means shorter inputs made of the first symbols.
- ``inputs(task, split, min_length=..., max_length=...)``, and ``split=None`` (the *length
  domain*: ``train`` lengths, then the ``length`` split beyond them): *length first*. An integer
  length is drawn first (hypothesis shrinks it toward the shortest length), then one input of
  exactly that length from a pool of up to ``POOL_SIZE`` distinct inputs the split's generator
  made with a fixed seed, sorted simplest first (fewest distinct symbols, then in order), so the
  index shrinks toward the simplest input of that length. No split generator needs a length
  argument: the pool is filled by drawing and sorting the draws by length, once per
  (task, split, seed), and lengths the generator cannot make are never drawn.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from hypothesis import strategies as st

from tracr_bench.task import Example, Split, Symbols, Task, TaskError, get_task

POOL_SIZE = 64  # distinct inputs kept per (split, length)
POOL_DRAWS = 20  # at most POOL_DRAWS / 10 draws per (length in the split's range x POOL_SIZE)
DOMAIN = "train+length"  # the name of the split=None length domain


def _task(task: Task | str) -> Task:
    return get_task(task) if isinstance(task, str) else task


def _simplicity(inp: Symbols) -> tuple:
    return (len(set(inp)), inp)


@dataclass(frozen=True)
class LengthPool:
    """Distinct inputs of one split by length, simplest first (seeded, deterministic)."""

    split: str
    by_length: dict[int, tuple[Symbols, ...]]

    @property
    def lengths(self) -> list[int]:
        return sorted(self.by_length)


@cache
def length_pool(task: Task, split: str, seed: int = 0) -> LengthPool:
    """Up to ``POOL_SIZE`` distinct inputs per input length, made by the split's generator."""
    sp = task.split(split)
    buckets: dict[int, set[Symbols]] = {}
    if sp.enumerate is not None:
        for inp in sp.enumerate():
            inp = tuple(inp)
            b = buckets.setdefault(len(inp), set())
            if len(b) < POOL_SIZE:
                b.add(inp)
    else:
        rng = random.Random(f"tracr-bench/strategies/{task.name}/v{task.version}/{split}/{seed}")
        span = max(1, sp.max_length - sp.min_length + 1)
        full = 0
        for _ in range(POOL_DRAWS * span * POOL_SIZE // 10 + 1000):
            inp = tuple(sp.draw(rng))  # type: ignore[misc]
            b = buckets.setdefault(len(inp), set())
            if len(b) < POOL_SIZE:
                b.add(inp)
                if len(b) == POOL_SIZE:
                    full += 1
                    if full >= span:
                        break
    return LengthPool(
        split, {n: tuple(sorted(b, key=_simplicity)) for n, b in sorted(buckets.items()) if b}
    )


def domain_sources(task: Task | str) -> dict[int, str]:
    """The split that makes each length of the ``split=None`` domain: ``train`` over the
    training lengths, the ``length`` split (if the task has one) beyond them."""
    task = _task(task)
    out = {n: "train" for n in length_pool(task, "train").lengths}
    if "length" in task.splits:
        train_max = task.splits["train"].max_length
        for n in length_pool(task, "length").lengths:
            if n > train_max or n not in out:
                out[n] = "length"
    return out


def length_range(task: Task | str, split: str | None = None) -> tuple[int, int]:
    """The (shortest, longest) input length the split (or the domain) can make."""
    task = _task(task)
    lengths = sorted(domain_sources(task)) if split is None else length_pool(task, split).lengths
    if not lengths:
        raise TaskError(f"split {task.name}/{split} makes no inputs")
    return lengths[0], lengths[-1]


def _lengths(task: Task, split: str | None, min_length, max_length) -> list[int]:
    if split is None:
        avail = sorted(domain_sources(task))
    else:
        avail = length_pool(task, split).lengths
    lo = avail[0] if min_length is None else min_length
    hi = avail[-1] if max_length is None else max_length
    chosen = [n for n in avail if lo <= n <= hi]
    if not chosen:
        where = DOMAIN if split is None else split
        raise TaskError(
            f"no input of {task.name}/{where} has a length in [{lo}, {hi}]; "
            f"its lengths run {avail[0]}-{avail[-1]}"
        )
    return chosen


def _source(task: Task, split: str | None, n: int) -> tuple[Symbols, ...]:
    name = split if split is not None else domain_sources(task)[n]
    return length_pool(task, name).by_length[n]


def inputs(
    task: Task | str,
    split: str | None = None,
    *,
    min_length: int | None = None,
    max_length: int | None = None,
) -> st.SearchStrategy[Symbols]:
    """Valid inputs (tuples of surface symbols) of ``task``.

    ``split=None`` is the length domain (``train`` then the ``length`` split beyond the
    training lengths); ``min_length``/``max_length`` bound the input length (inclusive). Raises
    ``TaskError`` for an unknown split or a length range with no input."""
    task = _task(task)
    if split is not None:
        sp: Split = task.split(split)
        if min_length is None and max_length is None:
            if sp.enumerate is not None:
                return st.sampled_from([tuple(i) for i in sp.enumerate()])
            return st.randoms(use_true_random=False).map(lambda r: tuple(sp.draw(r)))
    return _length_first(task, split, _lengths(task, split, min_length, max_length))


def _length_first(task: Task, split: str | None, lengths: Sequence[int]):
    # integers() over the index of the length shrinks toward the shortest length; the pool is
    # sorted simplest first, so the second index shrinks toward the simplest input.
    @st.composite
    def strategy(draw) -> Symbols:
        n = lengths[draw(st.integers(0, len(lengths) - 1))]
        pool = _source(task, split, n)
        return pool[draw(st.integers(0, len(pool) - 1))]

    return strategy()


def lengths(
    task: Task | str,
    split: str | None = None,
    *,
    min_length: int | None = None,
    max_length: int | None = None,
) -> list[int]:
    """The input lengths ``inputs(...)`` with the same arguments can produce (length first)."""
    return _lengths(_task(task), split, min_length, max_length)


def examples(
    task: Task | str,
    split: str | None = None,
    *,
    min_length: int | None = None,
    max_length: int | None = None,
) -> st.SearchStrategy[Example]:
    """``Example``s (input, prompt, target, length) of ``inputs(...)``."""
    task = _task(task)
    return inputs(task, split, min_length=min_length, max_length=max_length).map(task.example)


__all__ = [
    "DOMAIN",
    "POOL_SIZE",
    "LengthPool",
    "domain_sources",
    "examples",
    "inputs",
    "length_pool",
    "length_range",
    "lengths",
]
