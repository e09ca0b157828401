"""The examples a decode run reads: a split's examples as the sequence the program reads.

As in training (``tracr_bench.inject.data``), the LM reads prompt + answer (no BOS of its own, no
stop newline: the program does not read it) and the program reads BOS + the translation of the
same tokens, so LM position ``t`` is program position ``t + 1``. The answer is read teacher-forced:
the LM's greedy next token at the trigger and at each answer token but the last is compared with
the answer unit the program gives at the same position.

Batches hold whole groups of examples of one length (a group larger than a batch is cut into
near-equal chunks), sorted by length and right-padded: both models are causal, so a padded
position is never seen by a real one and no attention mask is needed. Inside a group every
example (base) is paired with another of the same length (source) for the interchange
interventions: positions line up, and the source's hidden states come from the same pass.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
from torch import Tensor

from tracr_bench.compiler.token_translation import TranslatedExample, Translator
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.task import Task

Item = tuple[int, TranslatedExample]  # (place in the split's list, the example)


@dataclass
class Batch:
    """``B`` examples, ``T`` LM tokens at most (right-padded), ``A`` answer positions."""

    lm_ids: Tensor  # [B, T] prompt + answer tokens, then padding
    program_ids: Tensor  # [B, T + 1] BOS + their translation into program ids, then PAD
    lengths: Tensor  # [B] real LM tokens of each example
    answer_rows: Tensor  # [A] which example each answer position belongs to
    answer_cols: Tensor  # [A] LM position whose next-token prediction is an answer unit
    answer_units: list[str]  # [A] the gold unit at each answer position
    source: Tensor  # [B] interchange partner (same length, never itself); -1: none
    index: Tensor  # [B] each example's place in its split's list

    @property
    def size(self) -> int:
        return self.lm_ids.shape[0]

    @property
    def real(self) -> Tensor:
        """[B, T] bool: a real token, not padding."""
        positions = torch.arange(self.lm_ids.shape[1], device=self.lm_ids.device)
        return positions[None] < self.lengths.to(self.lm_ids.device)[:, None]

    @property
    def answer_mask(self) -> Tensor:
        """[B, T] bool: an answer position (its next-token prediction is an answer unit)."""
        mask = torch.zeros(self.lm_ids.shape, dtype=torch.bool, device=self.lm_ids.device)
        mask[self.answer_rows.to(mask.device), self.answer_cols.to(mask.device)] = True
        return mask

    def to(self, device: torch.device) -> Batch:
        move = [t.to(device) for t in (self.lm_ids, self.program_ids, self.lengths)]
        rows, cols, source = (
            t.to(device) for t in (self.answer_rows, self.answer_cols, self.source)
        )
        return Batch(*move, rows, cols, self.answer_units, source, self.index)


@dataclass
class SplitData:
    """One split, ready to run: its batches and which compiled program gives its values."""

    name: str
    which: str  # "injection" or "oracle"
    n_examples: int
    n_dropped: int  # longer than the injection program and no compatible oracle program
    batches: list[Batch]
    drop_reason: str | None = None  # why ``n_dropped`` examples were skipped

    @property
    def n_pairs(self) -> int:
        return sum(int((b.source >= 0).sum()) for b in self.batches)


def translate(task: Task, translator: Translator, split: str, size: int | None, seed: int):
    """The split's first ``size`` examples (seeded as in evaluation), translated."""
    return [translator.encode_example(ex) for ex in task.examples(split, size=size, seed=seed)]


def make_batches(
    rows: list[TranslatedExample],
    lookup: Tensor,
    program: TorchProgram,
    batch_size: int,
    salt: str,
) -> list[Batch]:
    """Batches of at most ``batch_size`` rows made of whole length groups (see the module
    docstring), each with its seeded interchange pairs."""
    by_length: dict[int, list[Item]] = {}
    for index, row in enumerate(rows):
        by_length.setdefault(len(row.lm_ids), []).append((index, row))
    groups: list[list[Item]] = []
    for length in sorted(by_length):
        group = by_length[length]
        groups += _chunks(group, -(-len(group) // batch_size))
    batches, current = [], []
    for group in groups:
        if current and sum(map(len, current)) + len(group) > batch_size:
            batches.append(_batch(current, lookup, program, f"{salt}/{len(batches)}"))
            current = []
        current.append(group)
    if current:
        batches.append(_batch(current, lookup, program, f"{salt}/{len(batches)}"))
    return batches


def _chunks(items: list, n: int) -> list[list]:
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for k in range(n):
        stop = start + size + (1 if k < extra else 0)
        out.append(items[start:stop])
        start = stop
    return out


def _batch(groups: list[list[Item]], lookup: Tensor, program: TorchProgram, salt: str) -> Batch:
    items = [item for group in groups for item in group]
    rows = [row for _, row in items]
    width = max(len(r.lm_ids) for r in rows)
    lm_ids = torch.zeros((len(rows), width), dtype=torch.long)
    program_ids = torch.full((len(rows), width + 1), program.pad_id, dtype=torch.long)
    program_ids[:, 0] = program.bos_id
    answer_rows, answer_cols, units = [], [], []
    for b, r in enumerate(rows):
        ids = torch.tensor(r.lm_ids, dtype=torch.long)
        lm_ids[b, : len(ids)] = ids
        program_ids[b, 1 : len(ids) + 1] = lookup[ids]
        for position, unit in zip(r.answer_positions, r.answer_units, strict=True):
            answer_rows.append(b)
            answer_cols.append(position - 1)  # symbol index (BOS first) -> LM position
            units.append(unit)
    source, start = [], 0
    for k, group in enumerate(groups):
        source.append(_partners(len(group), f"{salt}/{k}") + start)
        start += len(group)
    return Batch(
        lm_ids,
        program_ids,
        torch.tensor([len(r.lm_ids) for r in rows], dtype=torch.long),
        torch.tensor(answer_rows, dtype=torch.long),
        torch.tensor(answer_cols, dtype=torch.long),
        units,
        torch.cat(source).where(torch.cat(source) >= 0, torch.tensor(-1)),
        torch.tensor([index for index, _ in items], dtype=torch.long),
    )


def _partners(n: int, salt: str) -> Tensor:
    """A seeded cyclic pairing of ``n`` examples: ``source[b] != b``; all -1 when ``n < 2``."""
    if n < 2:
        return torch.full((n,), -(1 << 30), dtype=torch.long)  # stays negative once offset
    generator = torch.Generator().manual_seed(zlib.crc32(salt.encode()))
    order = torch.randperm(n, generator=generator)
    source = torch.empty(n, dtype=torch.long)
    source[order] = order.roll(-1)
    return source
