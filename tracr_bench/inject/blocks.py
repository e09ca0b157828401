"""Find a Hugging Face causal LM's list of transformer blocks, whatever its architecture.

GPT-2 keeps them at ``transformer.h``, Llama/Mistral/Qwen at ``model.layers``, GPT-NeoX at
``gpt_neox.layers``, OPT at ``model.decoder.layers``: rather than a table of names, we take the
one ``nn.ModuleList`` whose length is the config's layer count and whose members all have the
same class. ``hidden_states`` (``output_hidden_states=True``) then gives the input of block ``i``
as ``hidden_states[i]`` for every ``i`` below the layer count.
"""

from __future__ import annotations

import torch
from torch import nn

from tracr_bench.inject.config import InjectError

_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")


def num_layers(model: nn.Module) -> int | None:
    cfg = getattr(model, "config", None)
    for key in _LAYER_KEYS:
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def find_blocks(model: nn.Module) -> nn.ModuleList:
    """The model's transformer blocks, in order; InjectError when they cannot be found."""
    n = num_layers(model)
    candidates = []
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            if n is not None and len(module) != n:
                continue
            if len({type(m) for m in module}) != 1:
                continue
            candidates.append((name, module))
    if n is None and candidates:
        best = max(len(m) for _, m in candidates)
        candidates = [(k, m) for k, m in candidates if len(m) == best]
    if len(candidates) != 1:
        what = "no" if not candidates else f"{len(candidates)} ({[k for k, _ in candidates]})"
        raise InjectError(
            f"cannot find the transformer blocks of {type(model).__name__}: {what} module lists "
            f"of {n if n is not None else 'the'} layers; the injector needs a causal LM with one "
            "list of blocks (GPT-2, Llama, GPT-NeoX, ...)"
        )
    return candidates[0][1]


def hidden_size(model: nn.Module) -> int:
    cfg = getattr(model, "config", None)
    for key in ("hidden_size", "n_embd", "d_model"):
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    emb = model.get_input_embeddings()
    return int(emb.weight.shape[1])


def replace_hidden(output, hidden: torch.Tensor):
    """A block's output with its hidden state replaced (blocks return a tensor or a tuple)."""
    if isinstance(output, torch.Tensor):
        return hidden
    return (hidden, *output[1:])


def hidden_of(output) -> torch.Tensor:
    return output if isinstance(output, torch.Tensor) else output[0]
