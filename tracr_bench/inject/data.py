"""Training data of one injection run: the task's examples as padded LM batches with their
translation into the compiled program's ids, and windows of natural text for the KL term.

Everything is tensors on the run's device; a batch is built by indexing, with no Python loop
over tokens. Task batches are consecutive slices of the seeded examples (step ``s`` takes
examples ``s * B .. (s + 1) * B - 1``); windows of natural text start at offsets drawn from a
seeded ``torch.Generator`` whose state is checkpointed.

In a data-parallel run every process holds all the examples and the same generator, draws the
global batch's indices and offsets, and keeps its ``rows`` of them; a shard is padded to the
global batch's width and carries the global batch's loss denominators, so that the processes'
shards are exactly the one-process batch cut in pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from tracr_bench.compiler.token_translation import Translator
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.inject.config import InjectError
from tracr_bench.task import Task


@dataclass
class TaskBatch:
    ids: Tensor  # [B, T] LM ids, right-padded
    attention_mask: Tensor  # [B, T] 1 on real tokens
    answer_mask: Tensor  # [B, T] True on the answer's tokens and the stop token after them
    program_ids: Tensor  # [B, T' + 1] compiled ids, BOS first, PAD-padded (T' <= T)
    program_mask: Tensor  # [B, T'] True where the program reads a token (not the stop token)
    answer_tokens: Tensor  # the global batch's answer tokens (cross-entropy denominator)
    program_tokens: Tensor  # the global batch's positions read by the program (algorithm loss)


STOP = "\n"  # the evaluation's stop sequence (lm-eval ``until``): the LM must learn to end there


def stop_token_id(tokenizer) -> int:
    ids = tokenizer.encode(STOP, add_special_tokens=False)
    if len(ids) == 1:
        return ids[0]
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token_id
    raise InjectError("the tokenizer has neither a single newline token nor an EOS token")


class TaskData:
    """``n`` training examples of ``task``, encoded once with ``tokenizer``: prompt, answer and
    the stop token (a newline) that ends the answer in evaluation. The compiled program reads
    prompt and answer; cross-entropy covers answer and stop token."""

    def __init__(
        self,
        task: Task,
        tokenizer,
        program: TorchProgram,
        n: int,
        seed: int,
        device: torch.device,
    ) -> None:
        translator = Translator(task, tokenizer)
        examples = task.examples("train", size=n, seed=seed)
        if not examples:
            raise InjectError(f"task {task.name!r} has no training examples")
        encoded = [translator.encode_example(ex) for ex in examples]
        longest = max(len(e.lm_ids) for e in encoded)
        if longest > program.max_seq_len:
            raise InjectError(
                f"task {task.name!r}: training sequences reach {longest} tokens with this "
                f"tokenizer, but the injection program was compiled for {program.max_seq_len}; "
                "use a tokenizer that keeps the prompt words whole or raise the task's "
                "injection_max_seq_len"
            )
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        stop = stop_token_id(tokenizer)
        self.ids = torch.full((len(encoded), longest + 1), pad, dtype=torch.long)
        self.answer = torch.zeros((len(encoded), longest + 1), dtype=torch.bool)
        self.lengths = torch.tensor([len(e.lm_ids) + 1 for e in encoded], dtype=torch.long)
        for i, e in enumerate(encoded):
            n = len(e.lm_ids)
            self.ids[i, : n + 1] = torch.tensor([*e.lm_ids, stop])
            self.answer[i, n - len(e.answer_units) : n + 1] = True
        self.max_seq_len = program.max_seq_len
        self.ids = self.ids.to(device)
        self.answer = self.answer.to(device)
        self.lengths = self.lengths.to(device)
        self.lookup = translator.lookup(program.compiled.input_encoding).to(device)
        self.bos_id = program.bos_id
        self.pad_id = program.pad_id
        self.device = device

    def __len__(self) -> int:
        return self.ids.shape[0]

    def batch(self, index: Tensor, rows: slice = slice(None)) -> TaskBatch:
        """The examples ``index[rows]`` (a process's shard of the global batch ``index``; all of
        it by default), padded to the width of the whole batch, with its denominators."""
        index = index.to(self.device)
        width = int(self.lengths[index].max())
        answer_tokens = self.answer[index].sum()
        program_tokens = (self.lengths[index] - 1).sum()
        index = index[rows]
        ids = self.ids[index, :width]
        positions = torch.arange(width, device=self.device)
        lengths = self.lengths[index][:, None]
        real = positions[None, :] < lengths
        read = positions[None, :] < lengths - 1  # the program does not read the stop token
        prog = torch.where(read, self.lookup[ids], torch.full_like(ids, self.pad_id))
        width_p = min(width, self.max_seq_len)  # columns beyond hold only stop tokens or PAD
        bos = torch.full((ids.shape[0], 1), self.bos_id, dtype=torch.long, device=self.device)
        return TaskBatch(
            ids=ids,
            attention_mask=real.long(),
            answer_mask=self.answer[index, :width],
            program_ids=torch.cat([bos, prog[:, :width_p]], dim=1),
            program_mask=read[:, :width_p],
            answer_tokens=answer_tokens,
            program_tokens=program_tokens,
        )


class NaturalText:
    """The KL shard tokenized once; windows of ``seq_len`` tokens at random offsets."""

    def __init__(self, text: str, tokenizer, seq_len: int, device: torch.device) -> None:
        ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        if len(ids) <= seq_len:
            raise InjectError(
                f"the KL text has {len(ids)} tokens, fewer than one window of {seq_len}"
            )
        self.ids = torch.tensor(ids, dtype=torch.long, device=device)
        self.seq_len = seq_len
        self.device = device

    def batch(self, n: int, generator: torch.Generator, rows: slice = slice(None)) -> Tensor:
        """Rows ``rows`` of ``n`` windows at offsets drawn from ``generator`` (all ``n`` are
        drawn whatever ``rows``, so that every process's generator stays in step)."""
        starts = torch.randint(0, len(self.ids) - self.seq_len, (n,), generator=generator)
        offsets = starts[rows, None] + torch.arange(self.seq_len)[None, :]
        return self.ids[offsets.to(self.device)]


def model_context(config: Any) -> int | None:
    """The model's context length from its config (as lm-eval's HFLM finds it), or None."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if value:
            return int(value)
    return None


def check_context(config: Any, task: str, task_tokens: int, kl_tokens: int) -> None:
    """InjectError if the longest training sequence of ``task`` or a KL window is longer than
    the model's context (before any training step: a model would fail or index past its position
    embeddings)."""
    context = model_context(config)
    if context is None:
        return
    if task_tokens > context:
        raise InjectError(
            f"task {task!r}: training sequences reach {task_tokens} tokens, but the model's "
            f"context is {context}; use a model with a longer context"
        )
    if kl_tokens > context:
        raise InjectError(
            f"--kl-seq-len {kl_tokens} is longer than the model's context ({context} tokens); "
            f"pass --kl-seq-len {context} or less"
        )
