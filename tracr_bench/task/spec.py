"""The task model: what an injection task is and how its splits are generated.

A task is one module under ``tasks/`` (the ``tracr_bench_tasks`` package) that defines a
module-level ``TASK = Task(...)``. The registry imports every module of that package, so adding
a task is writing one file and nothing else.

Conventions every task follows (the oracle and the injector rely on them):

- ``Example.input`` is the task's input as a tuple of *surface symbols* (e.g. ``("(", "]")``,
  ``("x", "y", "x")`` or the digits of ``a`` and ``b``); ``prompt(input)`` is the text the LM sees;
  ``target(input)`` is the answer text the LM must generate, with its leading space.
- The answer is read one *unit* at a time: ``answer_units(target)`` lists the surface text of each
  answer token (``" 12"`` -> ``["1", "2"]``, ``" yes"`` -> ``["yes"]``). The compiled program's
  output at the answer trigger's position must equal unit 0, and its output at the position of
  answer token j-1 must equal unit j (next-token convention, as in the LM).
- The LM's tokens are translated to the program's vocabulary by ``token_map``: a token whose text,
  leading space stripped, is a key of ``token_map.symbols`` becomes that compiled symbol; the
  trigger token becomes ``token_map.trigger_symbol``; anything else becomes ``token_map.filler``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

Symbols = tuple[str, ...]


class TaskError(ValueError):
    """Bad task name, split name or task definition; the message says what to do."""


@dataclass(frozen=True)
class TokenMap:
    """How LM tokens become the compiled program's input symbols."""

    symbols: dict[str, str]  # surface text (no leading space) -> compiled symbol
    filler: str  # compiled symbol for every other token
    trigger: str  # surface text of the answer trigger token, e.g. ":" of "Answer:" or "="
    trigger_symbol: str  # compiled symbol of the trigger

    def compiler_vocab(self) -> set[str]:
        return set(self.symbols.values()) | {self.filler, self.trigger_symbol}


@dataclass(frozen=True)
class Split:
    """A named split: ``draw(rng)`` returns one random input; ``enumerate()`` (optional) lists
    every input of a finite split in order, and then ``size`` is at most its length."""

    name: str
    description: str
    min_length: int  # in input symbols
    max_length: int
    size: int
    draw: Callable[[random.Random], Symbols] | None = None
    enumerate: Callable[[], Iterable[Symbols]] | None = None
    # None: the oracle program must score 100% here. Otherwise why it cannot (e.g. the split
    # uses symbols outside the program's vocabulary).
    oracle_exempt: str | None = None


@dataclass(frozen=True)
class Example:
    input: Symbols
    prompt: str
    target: str
    length: int


@dataclass(frozen=True, eq=False)  # hashed by identity: tasks are registry singletons
class Task:
    name: str
    description: str
    version: int
    program: Callable[[], object]  # returns the output rasp.SOp (tracr)
    token_map: TokenMap
    prompt: Callable[[Symbols], str]
    target: Callable[[Symbols], str]  # the reference solver, formatted as the answer text
    splits: dict[str, Split]
    # Compiled sizes, counted in translated tokens (BOS excluded) of prompt + answer with the
    # default LM's tokenizer: the injection program covers ``train``; the oracle every split.
    injection_max_seq_len: int
    oracle_max_seq_len: int
    mlp_exactness: int = 100
    # A separate factory for the oracle program when the injection program cannot cover the
    # OOD splits (None: the oracle is ``program`` compiled at ``oracle_max_seq_len``).
    oracle_program: Callable[[], object] | None = None
    answer_units: Callable[[str], list[str]] = field(default=lambda t: t.split())
    source: str = ""  # the module that defined it (set by the registry)

    def __post_init__(self) -> None:
        if "train" not in self.splits or "test" not in self.splits:
            raise TaskError(f"task {self.name!r} must define 'train' and 'test' splits")
        for key, split in self.splits.items():
            if key != split.name:
                raise TaskError(f"task {self.name!r}: split key {key!r} != name {split.name!r}")
            if (split.draw is None) == (split.enumerate is None):
                raise TaskError(f"split {self.name}/{key} needs exactly one of draw, enumerate")

    @property
    def eval_splits(self) -> list[str]:
        """``test`` and the out-of-distribution splits, in definition order."""
        return [s for s in self.splits if s != "train"]

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise TaskError(
                f"unknown split {name!r} for task {self.name!r}; "
                f"choose from: {', '.join(self.splits)}"
            )
        return self.splits[name]

    def example(self, inp: Sequence[str]) -> Example:
        inp = tuple(inp)
        return Example(inp, self.prompt(inp), self.target(inp), len(inp))

    def examples(self, split: str, size: int | None = None, seed: int = 0) -> list[Example]:
        """The split's examples, deterministic in (task, version, split, seed).

        ``size`` scales a split down (or up, for ``train``); the first ``size`` examples of a
        larger draw are the same examples, so a smaller split is a prefix of a larger one.
        ``train`` never contains an input of ``test`` or of an OOD split (at the same seed and
        their default sizes).
        """
        sp = self.split(split)
        size = sp.size if size is None else size
        if size < 0:
            raise TaskError(f"split size must be >= 0, got {size}")
        exclude = self._eval_inputs(seed) if split == "train" else frozenset()
        return [self.example(i) for i in _generate(self, sp, size, seed, exclude)]

    @cache  # noqa: B019 - tasks are module-level singletons
    def _eval_inputs(self, seed: int) -> frozenset[Symbols]:
        out: set[Symbols] = set()
        for name in self.eval_splits:
            sp = self.splits[name]
            out.update(_generate(self, sp, sp.size, seed, frozenset()))
        return frozenset(out)


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


def split_seed(task: Task, split: str, seed: int) -> str:
    """A string seed for ``random.Random``; string seeds are hashed with SHA-512 by Python, so
    the stream is the same on every platform and Python version."""
    return f"tracr-bench/{task.name}/v{task.version}/{split}/{seed}"


def _generate(
    task: Task, sp: Split, size: int, seed: int, exclude: frozenset[Symbols]
) -> list[Symbols]:
    if sp.enumerate is not None:
        items = [tuple(i) for i in sp.enumerate() if tuple(i) not in exclude]
        return items[:size]
    rng = random.Random(split_seed(task, sp.name, seed))
    seen: set[Symbols] = set()
    out: list[Symbols] = []
    misses = 0
    while len(out) < size:
        inp = tuple(sp.draw(rng))  # type: ignore[misc]
        if inp in seen or inp in exclude:
            misses += 1
            if misses > 50 * size + 1000:
                break  # the split has fewer distinct inputs than asked: keep what exists
            continue
        seen.add(inp)
        out.append(inp)
    return out


def examples_digest(examples: Sequence[Example]) -> str:
    """SHA-256 over a split's examples: same seed, same digest."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(repr((ex.input, ex.prompt, ex.target)).encode())
    return h.hexdigest()
