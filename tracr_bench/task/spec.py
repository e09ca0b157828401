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
- The program is compiled *causally*: at each position it sees only the prefix up to there
  (check it with ``tracr.rasp.causal_eval``, not ``rasp.evaluate``).

What a task may leave out is computed (``tracr_bench.compiler.task_programs``): the compiled
lengths (``injection_max_seq_len``, ``oracle_max_seq_len``) from the splits and the default LM's
tokenizer, and ``mlp_exactness`` from the program's numerical steps.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
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

    def __post_init__(self) -> None:
        reserved = {"BOS", "PAD"} & self.compiler_vocab()
        if reserved:
            raise TaskError(f"token map uses the reserved symbols {sorted(reserved)}")
        if self.filler in set(self.symbols.values()) | {self.trigger_symbol}:
            raise TaskError(f"the filler {self.filler!r} is also a task symbol or the trigger")

    @classmethod
    def identity(cls, symbols: Iterable[str], trigger: str = ":", filler: str = "_") -> TokenMap:
        """Each symbol read as itself, the trigger token as itself (``":"`` of ``"Answer:"``, or
        ``"="``), every other token as ``filler``."""
        return cls({s: s for s in symbols}, filler=filler, trigger=trigger, trigger_symbol=trigger)

    def compiler_vocab(self) -> set[str]:
        return set(self.symbols.values()) | {self.filler, self.trigger_symbol}


@dataclass(frozen=True)
class Split:
    """A named split: ``draw(rng)`` returns one random input; ``enumerate()`` (optional) lists
    every input of a finite split in order, and then ``size`` is at most its length.

    ``min_length``/``max_length`` are the input lengths (in symbols) the split is meant to cover;
    ``tracr-bench tasks`` reports the lengths the drawn inputs really cover."""

    name: str
    description: str
    min_length: int  # in input symbols
    max_length: int
    size: int = 4_000  # the paper's evaluation size (``train`` holds 50,000: ``standard_splits``)
    draw: Callable[[random.Random], Symbols] | None = None
    enumerate: Callable[[], Iterable[Symbols]] | None = None
    # None: the oracle program must score 100% here. Otherwise why it cannot (e.g. the split
    # uses symbols outside the program's vocabulary).
    oracle_exempt: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.min_length <= self.max_length or self.size < 0:
            raise TaskError(
                f"split {self.name!r}: needs 0 <= min_length <= max_length and size >= 0, got "
                f"{self.min_length}, {self.max_length}, {self.size}"
            )


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
    # ``train``, ``test`` and the out-of-distribution splits, in order: a sequence of Splits, or
    # a dict by name (kept as a dict by name).
    splits: Mapping[str, Split] | Sequence[Split]
    # Compiled lengths, in translated tokens (BOS excluded) of prompt + answer with the default
    # LM's tokenizer: the injection program covers ``train``, the oracle every split. None:
    # computed from the splits; a declared value is checked against that when compiling.
    injection_max_seq_len: int | None = None
    oracle_max_seq_len: int | None = None
    # None: chosen per program from its numerical steps (SelectorWidth, numerical Maps).
    mlp_exactness: int | None = None
    # A separate factory for the oracle program when the injection program cannot cover the
    # OOD splits (None: the oracle is ``program`` compiled at the oracle length).
    oracle_program: Callable[[], object] | None = None
    answer_units: Callable[[str], list[str]] = field(default=lambda t: t.split())
    source: str = ""  # the module that defined it (set by the registry)

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", _splits_by_name(self.name, self.splits))
        if "train" not in self.splits or "test" not in self.splits:
            raise TaskError(f"task {self.name!r} must define 'train' and 'test' splits")
        for key, split in self.splits.items():
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


def _splits_by_name(task: str, splits: Mapping[str, Split] | Sequence[Split]) -> dict[str, Split]:
    if isinstance(splits, Mapping):
        for key, split in splits.items():
            if key != split.name:
                raise TaskError(f"task {task!r}: split key {key!r} != name {split.name!r}")
        return dict(splits)
    out: dict[str, Split] = {}
    for split in splits:
        if split.name in out:
            raise TaskError(f"task {task!r}: split {split.name!r} defined twice")
        out[split.name] = split
    return out


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
