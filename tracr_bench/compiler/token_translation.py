"""Translate a Hugging Face tokenizer's ids into a compiled program's input symbols.

One lookup table per (task, tokenizer), built once: every LM token id maps to the compiled
symbol it stands for (a task symbol, the answer trigger) or to the task's filler. Translating a
batch is then a single indexing operation, with no Python loop per token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tracr_bench.task import Example, Task, TaskError

BOS = "BOS"
PAD = "PAD"


class TokenizerMismatch(TaskError):
    """The tokenizer cannot express a task: a symbol is not one token, or an answer splits
    differently from the task's answer units."""


def token_text(tokenizer, token_id: int) -> str:
    """The surface text of one token, with at most one leading space removed."""
    piece = tokenizer.convert_ids_to_tokens(token_id)
    text = tokenizer.convert_tokens_to_string([piece])
    return text[1:] if text.startswith(" ") else text


@dataclass
class TranslatedExample:
    example: Example
    lm_ids: list[int]  # prompt + target token ids (no BOS)
    symbols: list[str]  # compiled symbols, BOS first: len(lm_ids) + 1
    answer_positions: list[int]  # indices into ``symbols`` where the program's answer is read
    answer_units: list[str]


class Translator:
    """Maps LM token ids of ``tokenizer`` to the compiled symbols of ``task``."""

    def __init__(self, task: Task, tokenizer) -> None:
        self.task = task
        self.tokenizer = tokenizer
        tm = task.token_map
        surface = dict(tm.symbols)
        surface[tm.trigger] = tm.trigger_symbol
        for sym in surface:
            for text in (sym, " " + sym):
                ids = tokenizer.encode(text, add_special_tokens=False)
                if len(ids) != 1:
                    pieces = [tokenizer.convert_ids_to_tokens(i) for i in ids]
                    raise TokenizerMismatch(
                        f"task {task.name!r} reads the symbol {text!r}, but this tokenizer "
                        f"splits it into {pieces}; use a tokenizer where it is one token "
                        "(for GPT-2-style BPE, derive one without the merges that join symbols)"
                    )
        self.vocab_symbols: list[str] = sorted(tm.compiler_vocab()) + [BOS, PAD]
        index = {s: i for i, s in enumerate(self.vocab_symbols)}
        n = max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1)
        table = torch.full((n,), index[tm.filler], dtype=torch.long)
        for tid in range(n):
            try:
                text = token_text(tokenizer, tid)
            except Exception:  # ids without a token (holes in a vocab) stay filler
                continue
            if text in surface:
                table[tid] = index[surface[text]]
        self.table = table  # LM id -> index into vocab_symbols
        self.bos_index = index[BOS]
        self.pad_index = index[PAD]

    def lookup(self, encoding_map: dict[str, int]) -> torch.Tensor:
        """LM id -> compiled program input id, for a program with ``encoding_map``."""
        missing = [s for s in self.vocab_symbols if s not in encoding_map]
        if missing:
            raise TaskError(f"compiled program has no input encoding for {missing}")
        remap = torch.tensor([encoding_map[s] for s in self.vocab_symbols], dtype=torch.long)
        return remap[self.table]

    def symbols_of(self, lm_ids: Sequence[int]) -> list[str]:
        """Compiled symbols of a sequence of LM ids, BOS prepended."""
        idx = self.table[torch.as_tensor(list(lm_ids), dtype=torch.long)]
        return [BOS] + [self.vocab_symbols[i] for i in idx.tolist()]

    def encode_example(self, example: Example) -> TranslatedExample:
        tok = self.tokenizer
        prompt_ids = tok.encode(example.prompt, add_special_tokens=False)
        target_ids = tok.encode(example.target, add_special_tokens=False)
        task = self.task
        if not prompt_ids or token_text(tok, prompt_ids[-1]) != task.token_map.trigger:
            raise TokenizerMismatch(
                f"task {task.name!r}: the prompt must end with the trigger token "
                f"{task.token_map.trigger!r}; it ends with "
                f"{tok.convert_ids_to_tokens(prompt_ids[-1:]) if prompt_ids else 'nothing'}"
            )
        units = task.answer_units(example.target)
        got = [token_text(tok, t) for t in target_ids]
        if got != units:
            raise TokenizerMismatch(
                f"task {task.name!r}: answer {example.target!r} tokenizes as {got}, "
                f"but the program answers one unit per token: {units}"
            )
        lm_ids = prompt_ids + target_ids
        first = len(prompt_ids)  # BOS shifts the trigger (at len-1) to len
        return TranslatedExample(
            example,
            lm_ids,
            self.symbols_of(lm_ids),
            [first + j for j in range(len(units))],
            units,
        )
