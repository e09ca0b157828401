"""A causal LM answering task inputs by batched greedy generation: the model wrapper of the
pytest plugin's ``tracr_model`` fixture and of ``tracr-bench search``.

Scoring is evaluation's: greedy generation of the answer after the prompt, cut at the first
newline, exact match against the target with surrounding whitespace ignored
(``scoring.score``), at most ``lm_eval_configs.max_gen_toks`` new tokens (the split's budget in
the lm-eval configs). ``accuracy(task, split, limit=n)`` scores the examples ``tracr-bench eval
--limit n`` evaluates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tracr_bench.evaluate.lm_eval_configs import max_gen_toks
from tracr_bench.evaluate.lm_eval_data import split_examples
from tracr_bench.evaluate.scoring import score
from tracr_bench.task import Task, TaskError, get_task

if TYPE_CHECKING:
    from tracr_bench.evaluate.search import SearchResult

_NO_MAX = 1000000000000000019884624838656  # tokenizers' "no limit" model_max_length


def as_task(task: Task | str) -> Task:
    """A ``Task``, from itself or its registered name."""
    return get_task(task) if isinstance(task, str) else task


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
        task = as_task(task)
        prompts = [task.prompt(tuple(i)) for i in inputs]
        return self.generate(prompts, max_gen_toks(task, split))

    def answer(self, task: Task | str, inp: Sequence[str], split: str = "test") -> str:
        return self.answers(task, [inp], split)[0]

    def correct(self, task: Task | str, inp: Sequence[str], split: str = "test") -> bool:
        task = as_task(task)
        return score(self.answer(task, inp, split), task.target(tuple(inp)))

    def accuracy(
        self, task: Task | str, split: str = "test", limit: int | None = 100, seed: int = 0
    ) -> float:
        """Exact-match accuracy on the split's first ``limit`` examples (all if None)."""
        task = as_task(task)
        if limit is not None and limit < 1:
            raise TaskError(f"limit must be a positive number of examples, got {limit}")
        exs = split_examples(task, split, seed)[:limit]
        got = self.answers(task, [e.input for e in exs], split)
        return sum(score(g, e.target) for g, e in zip(got, exs, strict=True)) / max(1, len(exs))

    def search_failures(self, task: Task | str, **kwargs) -> SearchResult:
        """``search.search_failures`` with this model (the keywords are its own)."""
        from tracr_bench.evaluate.search import search_failures

        return search_failures(self, task, **kwargs)


__all__ = ["ModelRunner", "as_task"]
