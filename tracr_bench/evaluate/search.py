"""``tracr-bench search`` (formerly ``probe``): a hypothesis search for inputs the model gets
wrong, beyond the training lengths, and the shortest, simplest one of them.

The model answers through ``runner.ModelRunner`` (evaluation's scoring and token budget). The
search (``search_failures``) runs hypothesis twice with the same seed (``derandomize``, no
example database, so a run is reproducible):

1. generate ``max_examples`` inputs over the task's length domain (``strategies.inputs``: an
   input length drawn first, then an input of that length from the split's own generator), and
   answer them all in batches: the failure rate, and per length how many were tried and failed;
2. if any failed, run the same search again with the property "the model is right"; hypothesis
   replays the generation (answers cached) up to the first failure, then shrinks it: the length
   first, then toward the simplest input of that length. That is the minimal failing input.

The length frontier is the longest length L such that no input of length <= L was found wrong
(the shortest failing length minus one; the longest length tried if none failed). Lengths whose
prompts do not fit the model's context are left out, and the result says so. The result
(``SearchResult``, ``--json``) records the model's weights sha256 when it was loaded from a folder.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from tracr_bench.evaluate.lm_eval_configs import max_gen_toks
from tracr_bench.evaluate.runner import ModelRunner, as_task
from tracr_bench.evaluate.scoring import score
from tracr_bench.task import Symbols, Task, TaskError, strategies


@dataclass
class SearchResult:
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
    weights_sha256: dict[str, str] | None = None  # the model's weights files, when read from disk

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


def search_failures(
    runner: ModelRunner,
    task: Task | str,
    *,
    max_examples: int = 200,
    seed: int = 0,
    split: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
) -> SearchResult:
    """Search ``task``'s inputs for ones ``runner`` gets wrong; see the module docstring."""
    t0 = time.time()
    task = as_task(task)
    if max_examples < 1:
        raise TaskError(f"--max-examples must be at least 1, got {max_examples}")
    if split is not None:
        task.split(split)
    lengths = strategies.lengths(task, split, min_length=min_length, max_length=max_length)
    budget = _token_budget(task, split)
    (lo, hi), note = _lengths_that_fit(runner, task, split, lengths, budget)
    train = task.splits["train"]
    res = SearchResult(
        task=task.name,
        domain=split or strategies.DOMAIN,
        train_lengths=(train.min_length, train.max_length),
        lengths=(lo, hi),
        max_examples=max_examples,
        seed=seed,
        context_note=note,
    )
    strategy = strategies.inputs(task, split, min_length=lo, max_length=hi)
    failing = _try_inputs(runner, task, strategy, budget, res)
    if failing:
        _shrink_first_failure(runner, task, strategy, budget, failing, res)
    else:
        res.frontier = max(res.per_length) if res.per_length else None
    res.generate_batches = runner.generate_calls
    if runner.path is not None:
        from tracr_bench.models import weights_digest

        res.weights_sha256 = weights_digest(runner.path)
    res.seconds = round(time.time() - t0, 3)
    return res


def _token_budget(task: Task, split: str | None) -> int:
    """New tokens to generate: the largest budget of the splits the searched inputs come from."""
    sources = (
        [split] if split is not None else sorted(set(strategies.domain_sources(task).values()))
    )
    return max(max_gen_toks(task, s) for s in sources)


def _lengths_that_fit(
    runner: ModelRunner, task: Task, split: str | None, lengths: list[int], budget: int
) -> tuple[tuple[int, int], str | None]:
    """(shortest, longest) of ``lengths`` to search, and a note if the context cut them short.

    A length fits if every pooled input of it, prompted, leaves ``budget`` tokens of the
    model's context; the range stops at the first length that does not."""
    room = runner.max_length - budget
    fitting: list[int] = []
    for n in lengths:
        pool = strategies._source(task, split, n)
        if max(runner.prompt_tokens([task.prompt(i) for i in pool])) > room:
            break
        fitting.append(n)
    if not fitting:
        raise TaskError(
            f"no {task.name} prompt of length {lengths[0]} fits the model's context of "
            f"{runner.max_length} tokens (with {budget} tokens to generate)"
        )
    note = None
    if len(fitting) < len(lengths):
        note = (
            f"lengths above {fitting[-1]} skipped: their prompts exceed the model's context of "
            f"{runner.max_length} tokens"
        )
    return (fitting[0], fitting[-1]), note


def _hypothesis_settings(max_examples: int) -> dict:
    """Reproducible settings: derandomized, no example database, no health checks or output."""
    from hypothesis import HealthCheck

    return dict(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )


def _try_inputs(
    runner: ModelRunner, task: Task, strategy, budget: int, res: SearchResult
) -> list[Symbols]:
    """Step 1: collect the inputs hypothesis generates, answer them in batches, count the
    failures per length into ``res``; returns the failing inputs."""
    from hypothesis import Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis.reporting import with_reporter

    seen: list[Symbols] = []

    @hseed(res.seed)
    @settings(phases=[Phase.generate], **_hypothesis_settings(res.max_examples))
    @given(strategy)
    def collect(inp: Symbols) -> None:
        seen.append(inp)

    with with_reporter(lambda _msg: None):
        collect()
    tried = list(dict.fromkeys(seen))
    answers = runner.generate([task.prompt(i) for i in tried], budget)
    failing: list[Symbols] = []
    for inp, answer in zip(tried, answers, strict=True):
        wrong = not score(answer, task.target(inp))
        row = res.per_length.setdefault(len(inp), [0, 0])
        row[0] += 1
        row[1] += wrong
        if wrong:
            failing.append(inp)
    res.tried, res.failures = len(tried), len(failing)
    res.failure_rate = res.failures / max(1, res.tried)
    return failing


def _shrink_first_failure(
    runner: ModelRunner,
    task: Task,
    strategy,
    budget: int,
    failing: list[Symbols],
    res: SearchResult,
) -> None:
    """Step 2: replay the search with the property "the model is right" and let hypothesis
    shrink the first failure; record the minimal failing input and the length frontier."""
    from hypothesis import Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis.reporting import with_reporter

    def wrong(inp: Symbols) -> bool:
        return not score(runner.generate([task.prompt(inp)], budget)[0], task.target(inp))

    shrink_seen: list[Symbols] = []

    @hseed(res.seed)
    @settings(phases=[Phase.generate, Phase.shrink], **_hypothesis_settings(res.max_examples))
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
        "target": task.target(minimal),
        "answer": runner.generate([task.prompt(minimal)], budget)[0],
    }


__all__ = ["ModelRunner", "SearchResult", "search_failures"]
