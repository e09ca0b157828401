"""The model under study, seen the same way whatever it is: hidden states in, answers out.

A subject runs a ``Batch`` and returns (a) the hidden states it was asked to keep, hidden state
``i`` being the input of block ``i`` (``0``: the embeddings; the last one: the final normed state)
at the LM positions, and (b) its greedy answer unit at each answer position. One edit may be
applied on the way: a function that rewrites hidden state ``i`` before block ``i`` reads it.

- ``LMSubject``: a Hugging Face causal LM. The edit is a forward pre-hook on block ``i`` (the
  blocks found by ``tracr_bench.inject.blocks``, so GPT-2, Llama, GPT-NeoX, ... alike); the
  answers come from the language-model head applied at the answer positions only.
- ``ProgramSubject``: the compiled program itself (its torch port) as if it were the LM, its
  residual stream being its hidden states. It is its own perfect model: the tests check that
  decoding and interventions score 100% on it.

Plain forward hooks rather than pyvene or nnsight: the interventions here are one edit of one
hidden state, the blocks are found generically already, and the same edit must also run inside
the compiled program, which neither library knows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from tracr_bench.compiler.token_translation import token_text
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.decode.data import Batch
from tracr_bench.inject.blocks import find_blocks, hidden_size, replace_hidden

Edit = tuple[int, Callable[[Tensor], Tensor]]  # (hidden state index, [B, T, H] -> [B, T, H])


@dataclass
class Run:
    hidden: dict[int, Tensor]  # hidden state index -> [B, T, H]
    answers: list[str]  # the greedy unit at each answer position of the batch


class LMSubject:
    """A causal LM (``model.base_model`` + the output embeddings as the head)."""

    def __init__(self, lm: torch.nn.Module, tokenizer) -> None:
        self.lm = lm.eval()
        self.tokenizer = tokenizer
        self.blocks = find_blocks(lm)
        self.n_hidden = len(self.blocks) + 1
        self.width = hidden_size(lm)
        self.max_edit_layer = len(self.blocks) - 1  # an edit is a pre-hook on a block
        self.device = next(lm.parameters()).device
        self._texts: dict[int, str] = {}
        self._template = None  # a block's output, to mimic when blocks are skipped

    def _text(self, token_id: int) -> str:
        if token_id not in self._texts:
            self._texts[token_id] = token_text(self.tokenizer, token_id)
        return self._texts[token_id]

    @torch.no_grad()
    def run(
        self,
        batch: Batch,
        *,
        keep: Sequence[int] = (),
        edit: Edit | None = None,
        start: Tensor | None = None,
        answers: bool = True,
    ) -> Run:
        """Hidden states ``keep`` and the answers. ``start``: the hidden state that ``edit``
        rewrites, known from a clean pass of this batch; the blocks before it are then skipped
        (they would compute exactly ``start``). A run for answers only stops at the last answer
        position (causal: later tokens change no answer); one for hidden states only stops at
        the last block it needs."""
        ids = batch.lm_ids
        if answers and not keep:
            ids = ids[:, : int(batch.answer_cols.max()) + 1]
        if keep and not answers and edit is None and max(keep) < len(self.blocks):
            return Run(self._hidden_only(ids, sorted(set(keep))), [])
        with contextlib.ExitStack() as stack:
            if edit is not None:
                stack.enter_context(self._edited(edit, start))
            if keep and self._template is None:
                stack.enter_context(self._recording_template())
            out = self.lm.base_model(input_ids=ids, output_hidden_states=bool(keep))
        hidden = {i: out.hidden_states[i] for i in keep}
        texts: list[str] = []
        if answers:
            last = out.last_hidden_state[batch.answer_rows, batch.answer_cols]
            texts = [
                self._text(i) for i in self.lm.get_output_embeddings()(last).argmax(-1).tolist()
            ]
        return Run(hidden, texts)

    def _hidden_only(self, ids: Tensor, keep: list[int]) -> dict[int, Tensor]:
        """Hidden states ``keep`` (inputs of blocks) from a pass that stops when the last of
        them is reached: later blocks cannot change them."""
        caught: dict[int, Tensor] = {}

        def grab(i: int):
            def hook(module, args, kwargs):
                caught[i] = args[0] if args else kwargs["hidden_states"]
                if i == keep[-1]:
                    raise _Stop

            return hook

        with contextlib.ExitStack() as stack:
            if self._template is None:
                stack.enter_context(self._recording_template())
            for i in keep:
                hook = self.blocks[i].register_forward_pre_hook(grab(i), with_kwargs=True)
                stack.callback(hook.remove)
            try:
                self.lm.base_model(input_ids=ids)
            except _Stop:
                pass
        return caught

    @contextlib.contextmanager
    def _edited(self, edit: Edit, start: Tensor | None):
        """``edit`` as a pre-hook on its block; with ``start``, the blocks before pass through."""
        layer, fn = edit
        skipped = []
        if start is not None and self._template is not None:
            fn = _from_start(fn, start)
            for block in self.blocks[:layer]:
                block.forward = _passthrough(self._template)
                skipped.append(block)
        handle = self.blocks[layer].register_forward_pre_hook(_pre_hook(fn), with_kwargs=True)
        try:
            yield
        finally:
            handle.remove()
            for block in skipped:
                del block.forward

    @contextlib.contextmanager
    def _recording_template(self):
        """Keep the structure of a block's output (a tensor, or a tuple led by one)."""

        def hook(module, args, output):
            self._template = output

        handle = self.blocks[0].register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the hidden states needed are in hand."""


def _pre_hook(fn: Callable[[Tensor], Tensor]):
    def hook(module, args, kwargs):
        if args:
            return (fn(args[0]), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": fn(kwargs["hidden_states"])}

    return hook


def _from_start(fn: Callable[[Tensor], Tensor], start: Tensor) -> Callable[[Tensor], Tensor]:
    """``fn`` applied to ``start`` (cut to the run's length) instead of what arrives."""
    return lambda h: fn(start[:, : h.shape[1]])


def _passthrough(template):
    """A block's forward that returns its input hidden state in the block's output format."""

    def forward(*args, **kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        return replace_hidden(template, hidden)

    return forward


class ProgramSubject:
    """The compiled program as the model: residual ``i`` (BOS dropped) is hidden state ``i``."""

    def __init__(self, program: TorchProgram) -> None:
        self.program = program.eval()
        self.n_hidden = program.n_layers + 1
        self.width = len(program.residual_labels)
        self.max_edit_layer = program.n_layers
        self.device = program.token_embed.device

    @torch.no_grad()
    def run(
        self,
        batch: Batch,
        *,
        keep: Sequence[int] = (),
        edit: Edit | None = None,
        start: Tensor | None = None,
        answers: bool = True,
    ) -> Run:
        """As ``LMSubject.run``; ``start`` is not needed (the program is cheap to rerun)."""
        residuals = program_residuals(self.program, batch.program_ids, edit)
        hidden = {i: residuals[i][:, 1:] for i in keep}
        texts = program_answers(self.program, residuals[-1], batch) if answers else []
        return Run(hidden, texts)


def program_residuals(program: TorchProgram, ids: Tensor, edit: Edit | None = None) -> list[Tensor]:
    """The program's residual after the embedding and after each layer, [B, T + 1, D] each;
    with ``edit``, residual ``i`` (LM positions, BOS kept as it is) is rewritten before layer
    ``i`` reads it. Without an edit this is ``program(ids).residuals``."""
    if edit is None:
        return program(ids).residuals
    layer, fn = edit
    mask = program.attention_mask(ids)
    x = program.embed(ids)
    out = []
    for i in range(program.n_layers + 1):
        if i == layer:
            x = torch.cat([x[:, :1], fn(x[:, 1:])], dim=1)
        out.append(x)
        if i < program.n_layers:
            x = program.layer_step(x, i, mask)
    return out


def program_answers(program: TorchProgram, final: Tensor, batch: Batch) -> list[str]:
    """The program's output at every answer position of ``batch`` (as unit strings)."""
    decoded = program.decode_output(final)
    rows, cols = batch.answer_rows.tolist(), batch.answer_cols.tolist()
    return [str(decoded[r][c + 1]) for r, c in zip(rows, cols, strict=True)]


def example_correct(predicted: list[str], expected: list[str], batch: Batch) -> Tensor:
    """[B] bool: every answer position of the example has the expected unit."""
    wrong = torch.tensor([p != e for p, e in zip(predicted, expected, strict=True)])
    count = torch.zeros(batch.size, dtype=torch.long)
    count.index_add_(0, batch.answer_rows.cpu(), wrong.long())
    return count == 0
