"""``tracr-bench probe``: a hypothesis search for inputs the model gets wrong, beyond the training
lengths, and the model wrapper the probe and the pytest plugin share.

Scoring is evaluation's: greedy generation of the answer after the prompt, cut at the first
newline, exact match against the target with surrounding whitespace ignored
(``lm_eval_tasks.score``), at most ``lm_eval_tasks.max_gen_toks`` new tokens.

The search (``probe``) runs hypothesis twice with the same seed (``derandomize``, no example
database, so a run is reproducible):

1. generate ``max_examples`` inputs over the task's length domain (``strategies.inputs``: an
   input length drawn first, then an input of that length from the split's own generator), and
   answer them all in batches: the failure rate, and per length how many were tried and failed;
2. if any failed, run the same search again with the property "the model is right"; hypothesis
   replays the generation (answers cached) up to the first failure, then shrinks it: the length
   first, then toward the simplest input of that length. That is the minimal failing input.

The length frontier is the longest length L such that no input of length <= L was found wrong
(the shortest failing length minus one; the longest length tried if none failed).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from tracr_bench.evaluate.lm_eval_configs import max_gen_toks
from tracr_bench.evaluate.scoring import score
from tracr_bench.task import Symbols, Task, TaskError, get_task, strategies

_NO_MAX = 1000000000000000019884624838656  # tokenizers' "no limit" model_max_length


def _task(task: Task | str) -> Task:
    return get_task(task) if isinstance(task, str) else task


@cache
def gen_tokens(task: Task, split: str) -> int:
    """New tokens generated for a split: the same budget as the lm-eval config's."""
    return max_gen_toks(task, split)


class ModelRunner:
    """A causal LM and its tokenizer, answering task inputs by batched greedy generation.

    Answers are cached per (prompt, token budget). ``accuracy(task, split, limit=...)`` scores the
    split's first ``limit`` examples (the same examples as ``tracr-bench eval --limit``)."""

    def __init__(self, model, tokenizer, *, device: str = "cpu", batch_size: int = 16, path=None):
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size
        self.path = None if path is None else Path(path)
        self.generate_calls = 0  # batches sent to the model
        self._cache: dict[tuple[str, int], str] = {}
        if tokenizer is not None:
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token

    @classmethod
    def load(cls, model: str | Path | None = "default", *, device: str = "cpu", batch_size=16):
        """Load a local HF causal LM folder or ``default``; one-line ``ModelError`` if it
        cannot be used."""
        from tracr_bench.models import load_model, resolve_model_path

        if batch_size < 1:
            raise TaskError(f"--batch-size must be at least 1, got {batch_size}")
        path = resolve_model_path(model)
        lm, tok = load_model(path, device=device)
        return cls(lm, tok, device=device, batch_size=batch_size, path=path)

    # ------------------------------------------------------------------ generation

    @property
    def max_length(self) -> int:
        """The context length, found as lm-eval's HFLM finds it."""
        cfg = getattr(self.model, "config", None)
        for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
            if cfg is not None and getattr(cfg, attr, None):
                return int(getattr(cfg, attr))
        limit = getattr(self.tokenizer, "model_max_length", _NO_MAX)
        return int(limit) if limit and limit < _NO_MAX else 2048

    def prompt_tokens(self, prompts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(list(prompts)).input_ids]

    def _generate(self, prompts: list[str], max_new_tokens: int) -> list[str]:
        """Greedy continuations of one batch, cut at the first newline."""
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        with torch.no_grad():
            out = self.model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
                stop_strings=["\n"],
                tokenizer=self.tokenizer,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [t.split("\n", 1)[0] for t in texts]

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
        """Greedy answers (cut at the first newline), batched; cached per prompt."""
        todo = list(dict.fromkeys(p for p in prompts if (p, max_new_tokens) not in self._cache))
        todo.sort(key=len)  # similar lengths together: less padding
        for i in range(0, len(todo), self.batch_size):
            batch = todo[i : i + self.batch_size]
            self.generate_calls += 1
            for p, text in zip(batch, self._generate(batch, max_new_tokens), strict=True):
                self._cache[(p, max_new_tokens)] = text
        return [self._cache[(p, max_new_tokens)] for p in prompts]

    # ------------------------------------------------------------------ tasks

    def answers(
        self, task: Task | str, inputs: Iterable[Sequence[str]], split: str = "test"
    ) -> list[str]:
        """The model's answers (generated text) to task inputs, with ``split``'s token budget."""
        task = _task(task)
        prompts = [task.prompt(tuple(i)) for i in inputs]
        return self.generate(prompts, gen_tokens(task, split))

    def answer(self, task: Task | str, inp: Sequence[str], split: str = "test") -> str:
        return self.answers(task, [inp], split)[0]

    def correct(self, task: Task | str, inp: Sequence[str], split: str = "test") -> bool:
        task = _task(task)
        return score(self.answer(task, inp, split), task.target(tuple(inp)))

    def accuracy(
        self, task: Task | str, split: str = "test", limit: int | None = 100, seed: int = 0
    ) -> float:
        """Exact-match accuracy on the split's first ``limit`` examples (all if None)."""
        task = _task(task)
        if limit is not None and limit < 1:
            raise TaskError(f"limit must be a positive number of examples, got {limit}")
        exs = task.examples(split, size=limit, seed=seed)
        got = self.answers(task, [e.input for e in exs], split)
        return sum(score(g, e.target) for g, e in zip(got, exs, strict=True)) / max(1, len(exs))

    def probe(self, task: Task | str, **kwargs) -> ProbeResult:
        return probe(self, task, **kwargs)


# ---------------------------------------------------------------------------- the search


@dataclass
class ProbeResult:
    task: str
    domain: str  # the split searched, or strategies.DOMAIN
    train_lengths: tuple[int, int]
    lengths: tuple[int, int]  # the lengths searched (inclusive)
    max_examples: int
    seed: int
    tried: int = 0  # distinct inputs answered in the search phase
    failures: int = 0
    failure_rate: float = 0.0
    frontier: int | None = None
    shortest_failing_length: int | None = None
    minimal_failure: dict | None = None  # input, length, prompt, target, answer
    per_length: dict[int, list[int]] = field(default_factory=dict)  # length -> [tried, failed]
    shrink_calls: int = 0  # inputs hypothesis tried while shrinking
    generate_batches: int = 0
    context_note: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["per_length"] = {str(k): v for k, v in sorted(self.per_length.items())}
        return d

    def summary(self) -> str:
        lines = [
            f"{self.task}: {self.failures} of {self.tried} inputs wrong "
            f"({100 * self.failure_rate:.1f}%) over lengths {self.lengths[0]}-{self.lengths[1]} "
            f"({self.domain}; training lengths {self.train_lengths[0]}-{self.train_lengths[1]})",
        ]
        if self.frontier is not None:
            lines.append(f"length frontier: no failure found up to length {self.frontier}")
        if self.minimal_failure is not None:
            m = self.minimal_failure
            lines.append(
                f"minimal failing input (length {m['length']}): {' '.join(m['input'])!r}: "
                f"expected {m['target'].strip()!r}, got {m['answer'].strip()!r}"
            )
        if self.context_note:
            lines.append(f"note: {self.context_note}")
        return "\n".join(lines)


class _Wrong(AssertionError):
    def __init__(self, inp: Symbols):
        super().__init__(" ".join(inp))
        self.input = inp


def _fits(runner: ModelRunner, task: Task, split, lengths: list[int], budget: int) -> list[int]:
    """The lengths whose pooled inputs' prompts all fit in the model's context."""
    ok = []
    room = runner.max_length - budget
    for n in lengths:
        pool = strategies._source(task, split, n)
        if max(runner.prompt_tokens([task.prompt(i) for i in pool])) <= room:
            ok.append(n)
        else:
            break
    return ok


def probe(
    runner: ModelRunner,
    task: Task | str,
    *,
    max_examples: int = 200,
    seed: int = 0,
    split: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
) -> ProbeResult:
    """Search ``task``'s inputs for ones ``runner`` gets wrong; see the module docstring."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis.reporting import with_reporter

    t0 = time.time()
    task = _task(task)
    if max_examples < 1:
        raise TaskError(f"--max-examples must be at least 1, got {max_examples}")
    if split is not None:
        task.split(split)
    lengths = strategies.lengths(task, split, min_length=min_length, max_length=max_length)
    budget_splits = (
        [split] if split is not None else sorted(set(strategies.domain_sources(task).values()))
    )
    budget = max(gen_tokens(task, s) for s in budget_splits)
    fitting = _fits(runner, task, split, lengths, budget)
    note = None
    if not fitting:
        raise TaskError(
            f"no {task.name} prompt of length {lengths[0]} fits the model's context of "
            f"{runner.max_length} tokens (with {budget} tokens to generate)"
        )
    if len(fitting) < len(lengths):
        note = (
            f"lengths above {fitting[-1]} skipped: their prompts exceed the model's context of "
            f"{runner.max_length} tokens"
        )
    lo, hi = fitting[0], fitting[-1]
    strategy = strategies.inputs(task, split, min_length=lo, max_length=hi)
    train = task.splits["train"]
    res = ProbeResult(
        task=task.name,
        domain=split or strategies.DOMAIN,
        train_lengths=(train.min_length, train.max_length),
        lengths=(lo, hi),
        max_examples=max_examples,
        seed=seed,
        context_note=note,
    )
    base = dict(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )

    def target(inp: Symbols) -> str:
        return task.target(inp)

    def wrong(inp: Symbols) -> bool:
        return not score(runner.generate([task.prompt(inp)], budget)[0], target(inp))

    # 1. the search: collect, then answer in batches
    seen: list[Symbols] = []

    @hseed(seed)
    @settings(phases=[Phase.generate], **base)
    @given(strategy)
    def collect(inp: Symbols) -> None:
        seen.append(inp)

    with with_reporter(lambda _msg: None):
        collect()
    tried = list(dict.fromkeys(seen))
    got = runner.generate([task.prompt(i) for i in tried], budget)
    failing: list[Symbols] = []
    for inp, g in zip(tried, got, strict=True):
        bad = not score(g, target(inp))
        row = res.per_length.setdefault(len(inp), [0, 0])
        row[0] += 1
        row[1] += bad
        if bad:
            failing.append(inp)
    res.tried, res.failures = len(tried), len(failing)
    res.failure_rate = res.failures / max(1, res.tried)

    # 2. shrink the first failure hypothesis finds
    if failing:
        shrink_seen: list[Symbols] = []

        @hseed(seed)
        @settings(phases=[Phase.generate, Phase.shrink], **base)
        @given(strategy)
        def check(inp: Symbols) -> None:
            shrink_seen.append(inp)
            if wrong(inp):
                raise _Wrong(inp)

        minimal: Symbols | None = None
        with with_reporter(lambda _msg: None):
            try:
                check()
            except _Wrong as err:
                minimal = err.input
        res.shrink_calls = len(shrink_seen)
        known = failing + [i for i in dict.fromkeys(shrink_seen) if wrong(i)]
        if minimal is None:  # pragma: no cover - hypothesis replays the search deterministically
            minimal = min(failing, key=lambda i: (len(i), strategies._simplicity(i)))
        res.shortest_failing_length = min(len(i) for i in known)
        res.frontier = res.shortest_failing_length - 1
        res.minimal_failure = {
            "input": list(minimal),
            "length": len(minimal),
            "prompt": task.prompt(minimal),
            "target": target(minimal),
            "answer": runner.generate([task.prompt(minimal)], budget)[0],
        }
    else:
        res.frontier = max(res.per_length) if res.per_length else None
    res.generate_batches = runner.generate_calls
    res.seconds = round(time.time() - t0, 3)
    return res


__all__ = ["ModelRunner", "ProbeResult", "gen_tokens", "probe"]
