"""What each split really holds, and how long its prompts are in an LM tokenizer's tokens.

In: a ``Task`` (its splits at seed 0 and their default sizes, ``train`` included, as
``Task.examples`` makes them) and, for token spans, a tokenizer.
Out: per split, a ``SplitSurvey`` (the input lengths the drawn inputs cover, how many distinct
inputs there are), one-line warnings where a split cannot be drawn as declared, and a
``TokenSpan``: the longest prompt + answer in tokens (BOS excluded, the stop newline excluded:
exactly the ids ``Translator.encode_example`` gives a compiled program) and a bound on it.

What a ``TokenSpan.bound`` is guaranteed to cover (``TokenSpan.covers`` says which case):

- an ``enumerate`` split: every input;
- a ``draw`` split whose prompt + answer token count is one affine function of the input length
  on every drawn input: every input of up to the split's declared ``max_length`` that follows
  the same function (the bound is that function at ``max_length``);
- any other ``draw`` split: the inputs drawn at seed 0 at the default size (what ``eval``,
  ``oracle`` and ``inject`` read by default). Other seeds or sizes can draw longer prompts;
  wherever a compiled program reads one (the oracle, the injector), it is refused in one line.

Everything is computed when first asked for and kept for the process (never on import).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tracr_bench.files import write_json_atomic
from tracr_bench.task.spec import Example, Task, examples_digest

SEED = 0  # the seed whose draw is surveyed (the default of eval, oracle and inject)


@dataclass(frozen=True)
class SplitSurvey:
    split: str
    size: int  # the declared size
    distinct: int  # distinct inputs drawn (= examples made); below ``size`` if it ran out
    lengths: tuple[int, ...]  # the input lengths that occur, ascending

    @property
    def length_range(self) -> tuple[int, int] | None:
        return (self.lengths[0], self.lengths[-1]) if self.lengths else None


@dataclass(frozen=True)
class TokenSpan:
    longest: int  # the longest prompt + answer drawn, in tokens
    bound: int  # >= longest: what a program reading this split must be compiled for
    covers: str  # which inputs ``bound`` is guaranteed to cover (see the module docstring)


@cache
def _survey_and_digest(task: Task, split: str) -> tuple[SplitSurvey, str]:
    examples = task.examples(split, seed=SEED)
    lengths = tuple(sorted({ex.length for ex in examples}))
    found = SplitSurvey(split, task.splits[split].size, len(examples), lengths)
    return found, examples_digest(examples)


def survey(task: Task) -> dict[str, SplitSurvey]:
    """Every split's drawn lengths and distinct inputs, in definition order."""
    return {name: _survey_and_digest(task, name)[0] for name in task.splits}


def _ranges(values: Sequence[int]) -> str:
    """``[4, 5, 6, 9]`` -> ``"4-6, 9"``."""
    parts: list[str] = []
    start = prev = None
    for v in [*values, None]:
        if start is not None and (v is None or v != prev + 1):
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if start is None:
            start = v
        prev = v
    return ", ".join(parts)


def warnings(task: Task) -> list[str]:
    """One line per split that cannot be drawn as declared: fewer distinct inputs than its size,
    or training lengths that the evaluation splits took entirely (train excludes every input
    of an evaluation split, at the same seed)."""
    found = survey(task)
    out = []
    for name, s in found.items():
        if s.distinct < s.size:
            why = " once every evaluation input is excluded" if name == "train" else ""
            out.append(
                f"{task.name}/{name}: only {s.distinct} distinct inputs{why}, "
                f"fewer than its size {s.size}"
            )
    train = task.splits["train"]
    eval_lengths = {n for name in task.eval_splits for n in found[name].lengths}
    lost = [
        n
        for n in range(train.min_length, train.max_length + 1)
        if n not in found["train"].lengths and n in eval_lengths
    ]
    if lost:
        out.append(
            f"{task.name}/train: no input of length {_ranges(lost)} (declared "
            f"{train.min_length}-{train.max_length}): the evaluation splits took every one, "
            "and train excludes evaluation inputs"
        )
    return out


def _token_counts(tokenizer, examples: Sequence[Example]) -> list[int]:
    """prompt + answer tokens of each example, each text encoded on its own without special
    tokens (as ``Translator.encode_example`` does); answers are encoded once per distinct text."""
    prompts = tokenizer([ex.prompt for ex in examples], add_special_tokens=False)["input_ids"]
    answers = {
        t: len(tokenizer.encode(t, add_special_tokens=False))
        for t in {ex.target for ex in examples}
    }
    return [len(p) + answers[ex.target] for p, ex in zip(prompts, examples, strict=True)]


def _affine(lengths: Sequence[int], counts: Sequence[int]) -> tuple[int, int] | None:
    """(a, b) with count = a + b * length on every pair, if there are such integers."""
    by_length: dict[int, set[int]] = {}
    for n, c in zip(lengths, counts, strict=True):
        by_length.setdefault(n, set()).add(c)
    if any(len(cs) > 1 for cs in by_length.values()):
        return None
    points = sorted((n, next(iter(cs))) for n, cs in by_length.items())
    if len(points) < 2:
        return None
    (n0, c0), (n1, c1) = points[0], points[1]
    if (c1 - c0) % (n1 - n0):
        return None
    b = (c1 - c0) // (n1 - n0)
    a = c0 - b * n0
    return (a, b) if all(c == a + b * n for n, c in points) else None


def _span(task: Task, split: str, tokenizer) -> TokenSpan:
    sp = task.splits[split]
    examples = task.examples(split, seed=SEED)
    counts = _token_counts(tokenizer, examples) if examples else [0]
    longest = max(counts)
    if sp.enumerate is not None:
        return TokenSpan(longest, longest, "every input")
    fit = _affine([ex.length for ex in examples], counts) if examples else None
    if fit is not None:
        a, b = fit
        bound = max(longest, a + b * sp.max_length)
        return TokenSpan(longest, bound, f"inputs up to length {sp.max_length}: {a} + {b}/symbol")
    return TokenSpan(longest, longest, f"the seed-{SEED} draw of {len(examples)}")


def token_spans(
    task: Task,
    tokenizer,
    tokenizer_id: str,
    cache_dir: Path | None = None,
    splits: Sequence[str] | None = None,
) -> dict[str, TokenSpan]:
    """The ``TokenSpan`` of each of ``splits`` (default every split) with ``tokenizer``, named by
    ``tokenizer_id`` (e.g. the sha256 of its file). ``tokenizer`` may also be a function that
    loads it, called only when a span is not cached. Tokenizing 50,000 prompts takes seconds, so
    spans are kept for the process and, given ``cache_dir``, on disk under the sha256 of the
    tokenizer id and the split's examples (same examples and tokenizer, same spans)."""
    names = list(task.splits) if splits is None else list(splits)
    return {name: _cached_span(task, name, tokenizer, tokenizer_id, cache_dir) for name in names}


_SPANS: dict[tuple[Task, str, str], TokenSpan] = {}


def _cached_span(task: Task, split: str, tokenizer, tokenizer_id: str, cache_dir: Path | None):
    key = (task, split, tokenizer_id)
    if key in _SPANS:
        return _SPANS[key]
    path = None
    if cache_dir is not None:
        digest = _survey_and_digest(task, split)[1]
        name = hashlib.sha256(f"{tokenizer_id}/{digest}".encode()).hexdigest()
        path = Path(cache_dir) / "token_spans" / f"{name}.json"
    span = _read(path)
    if span is None:
        loaded = tokenizer if hasattr(tokenizer, "encode") else tokenizer()
        span = _span(task, split, loaded)
        _write(path, span)
    _SPANS[key] = span
    return span


def _read(path: Path | None) -> TokenSpan | None:
    try:
        return TokenSpan(**json.loads(path.read_text())) if path is not None else None
    except (OSError, ValueError, TypeError):
        return None  # missing or corrupt: recomputed


def _write(path: Path | None, span: TokenSpan) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, span.__dict__)
    except OSError:
        pass  # a read-only cache only costs the recomputation
