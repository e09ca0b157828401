"""A batched, device-agnostic PyTorch port of a tracr-compiled program.

It reproduces tracr's `CompiledTransformerModel` (tracr/transformer/model.py with the
configuration tracr's assembler sets): one-hot token embedding plus position embedding
(BOS at position 0 gets no position vector, position p >= 1 gets `indices:p-1`), then for
each layer a residual attention sublayer (logits / sqrt(key_size), masked logits set to
-1e30, softmax over keys) and a residual ReLU MLP, no layer norm, all in float32.

Unlike tracr's own model (which never masks PAD), keys holding PAD are masked out, so with
right-padding every non-pad position gets exactly what its unpadded sequence gets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tracr_bench.compiler.program import CompiledProgram

_NEG = -1e30  # tracr's mask value


@dataclasses.dataclass
class ProgramOutput:
    """Residual streams of one forward pass."""

    residuals: list[Tensor]  # [B, T, D]: after the embedding and after each layer (L + 1)
    sublayer_residuals: list[Tensor] | None  # after the embedding and every sublayer (2L + 1)
    pad_mask: Tensor  # [B, T] bool, True where the input is PAD

    @property
    def final(self) -> Tensor:
        """The residual stream after the last layer."""
        return self.residuals[-1]


class TorchProgram(nn.Module):
    """The compiled program as a torch module; weights are fixed float32 buffers."""

    def __init__(self, cp: CompiledProgram, *, prune: bool = True) -> None:
        super().__init__()
        self.compiled = cp
        self.n_layers = cp.n_layers
        self.n_heads = cp.n_heads
        self.key_size = cp.key_size
        self.causal = cp.causal
        self.max_seq_len = cp.max_seq_len
        self.bos_id = cp.bos_id
        self.pad_id = cp.pad_id
        self.residual_labels = list(cp.residual_labels)
        self.output_name = cp.output_name
        self.output_decoding = cp.output_decoding
        self._index_cache: dict[str, list[int]] = {}
        self._scale = float(np.sqrt(np.float32(cp.key_size)))

        self.prune = prune
        self.register_buffer("token_embed", _tensor(cp.weights["token_embed/embeddings"]))
        self.register_buffer("pos_embed", _tensor(cp.weights["pos_embed/embeddings"]))
        self.layer_heads: list[int] = []
        self.layer_hidden: list[int] = []
        for i in range(self.n_layers):
            layer = _layer_weights(cp.weights, i, self.n_heads, self.key_size, prune)
            self.layer_heads.append(layer.pop("heads"))
            self.layer_hidden.append(layer.pop("units"))
            for short, array in layer.items():
                self.register_buffer(f"{short}_{i}", _tensor(array))
        out_idx = self._indices(cp.output_name)
        self.register_buffer("output_index", torch.tensor(out_idx, dtype=torch.long))

    @classmethod
    def from_compiled(cls, cp: CompiledProgram, *, prune: bool = True) -> TorchProgram:
        """Build the module from a `CompiledProgram`.

        With `prune` (default), attention heads and MLP hidden units that provably add
        exactly zero (tracr pads every layer to the widest one) are dropped; outputs are
        unchanged up to float summation order.
        """
        return cls(cp, prune=prune)

    def _w(self, short: str, i: int) -> Tensor:
        return getattr(self, f"{short}_{i}")

    # ------------------------------------------------------------------ forward

    def embed(self, ids: Tensor) -> Tensor:
        """Token + position embedding, [B, T] -> [B, T, D]."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        return self.token_embed[ids] + self.pos_embed[positions][None]

    def attention_mask(self, ids: Tensor) -> Tensor:
        """[B, 1, T, T] bool: query t may attend key s (key not PAD, and s <= t if causal)."""
        keep = (ids != self.pad_id)[:, None, None, :]
        if self.causal:
            T = ids.shape[1]
            tril = torch.ones(T, T, dtype=torch.bool, device=ids.device).tril()
            keep = keep & tril[None, None]
        return keep

    def forward(self, ids: Tensor, *, sublayers: bool = False) -> ProgramOutput:
        """Run the program on token ids [B, T] (BOS first, right-padded with PAD)."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be [batch, seq]; got shape {tuple(ids.shape)}")
        if ids.shape[1] > self.max_seq_len + 1:
            raise ValueError(
                f"sequence of {ids.shape[1]} ids (BOS included) is longer than "
                f"max_seq_len + 1 = {self.max_seq_len + 1}"
            )
        ids = ids.to(self.token_embed.device).long()
        mask = self.attention_mask(ids)

        x = self.embed(ids)
        residuals = [x]
        subs = [x] if sublayers else None
        for i in range(self.n_layers):
            after_attention = x + self._attention(x, mask, i)
            x = after_attention + self._mlp(after_attention, i)
            if subs is not None:
                subs += [after_attention, x]
            residuals.append(x)
        return ProgramOutput(
            residuals=residuals, sublayer_residuals=subs, pad_mask=ids == self.pad_id
        )

    def layer_step(self, residual: Tensor, i: int, mask: Tensor) -> Tensor:
        """The residual after layer ``i`` (its attention, then its MLP, each added) from the
        residual entering it, [B, T, D] -> [B, T, D]; ``mask`` is ``attention_mask(ids)``.
        ``forward`` is ``embed`` then ``layer_step`` for i = 0..L-1; a caller that rewrites a
        residual between layers (an intervention) runs the same steps itself."""
        if not 0 <= i < self.n_layers:
            raise IndexError(
                f"layer {i} out of range: the program has layers 0..{self.n_layers - 1}"
            )
        x = residual + self._attention(residual, mask, i)
        return x + self._mlp(x, i)

    def _mlp(self, x: Tensor, i: int) -> Tensor:
        """Output of layer i's MLP sublayer (to be added to the residual)."""
        hidden = torch.relu(x @ self._w("w1", i) + self._w("b1", i))
        return hidden @ self._w("w2", i) + self._w("b2", i)

    def _attention(self, x: Tensor, mask: Tensor, i: int) -> Tensor:
        """Output of layer i's attention sublayer (to be added to the residual)."""
        B, T, _ = x.shape
        H, K = self.layer_heads[i], self.key_size
        if H == 0:
            return self._w("bo", i).expand_as(x)
        q = (x @ self._w("wq", i) + self._w("bq", i)).view(B, T, H, K)
        k = (x @ self._w("wk", i) + self._w("bk", i)).view(B, T, H, K)
        v = (x @ self._w("wv", i) + self._w("bv", i)).view(B, T, H, K)
        # tracr divides by sqrt(key_size) computed in float32.
        logits = torch.einsum("bthd,bshd->bhts", q, k) / self._scale
        logits = logits.masked_fill(~mask, _NEG)
        weights = torch.softmax(logits, dim=-1)
        attn = torch.einsum("bhts,bshd->bthd", weights, v).reshape(B, T, H * K)
        return attn @ self._w("wo", i) + self._w("bo", i)

    # ------------------------------------------------------------------ helpers

    def encode(self, batch: Sequence[Sequence[str]], device: Any = None) -> Tensor:
        """Encode token lists (BOS prepended, right-padded with PAD) as a LongTensor."""
        arr = self.compiled.encode_batch(batch)
        return torch.as_tensor(
            arr, device=device if device is not None else self.token_embed.device
        )

    def _indices(self, name: str) -> list[int]:
        if name not in self._index_cache:
            idx = self.compiled.indices_of(name)
            if not idx:
                raise KeyError(
                    f"no residual dimension named {name!r}; names: {sorted(self.names())}"
                )
            self._index_cache[name] = idx
        return self._index_cache[name]

    def names(self) -> set[str]:
        """Variable names in the residual stream (labels without their `:value`)."""
        return {lab.split(":", 1)[0] for lab in self.residual_labels}

    def labels_of(self, name: str) -> list[str]:
        """Residual labels equal to `name` or starting with `name:`."""
        return [self.residual_labels[i] for i in self._indices(name)]

    def slice(self, residual: Tensor, name: str) -> Tensor:
        """The dims of `residual` [..., D] whose label is `name` or starts with `name:`."""
        idx = torch.tensor(self._indices(name), device=residual.device)
        return residual.index_select(-1, idx)

    def decode_output(self, residual: Tensor, ids: Tensor | None = None) -> list[list]:
        """Decode the program's output at every position of `residual` [B, T, D].

        Categorical output: argmax over the output dims mapped through the decoding map;
        numerical: the raw value. Position 0 (BOS) decodes to the BOS token, as in tracr.
        With `ids`, each row stops at its first PAD.
        """
        out = residual.index_select(-1, self.output_index.to(residual.device))
        if self.output_decoding is not None:
            dec = self.output_decoding
            rows = [[dec[j] for j in r] for r in out.argmax(-1).tolist()]
        else:
            rows = out[..., 0].tolist()
        if ids is not None:
            lengths = (ids != self.pad_id).long().sum(-1).tolist()
            rows = [r[:n] for r, n in zip(rows, lengths, strict=True)]
        for r in rows:
            if r:
                r[0] = self.compiled.bos
        return rows

    def extra_repr(self) -> str:
        return (
            f"layers={self.n_layers}, residual={len(self.residual_labels)}, heads={self.n_heads}, "
            f"key_size={self.key_size}, causal={self.causal}, heads_kept={self.layer_heads}, "
            f"hidden_kept={self.layer_hidden}"
        )


def _tensor(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float32, copy=True))


def _layer_weights(
    weights: dict[str, np.ndarray], i: int, n_heads: int, key_size: int, prune: bool
) -> dict[str, Any]:
    """Layer ``i``'s weights by short name (``wq`` ... ``b2``), with the number of heads and of
    MLP hidden units kept (``heads``, ``units``).

    With ``prune``, a head whose value or output weights are all zero (it adds exactly 0; tracr
    pads every layer to the widest one, so most of these are padding) and a hidden unit with no
    input weight and no bias, or no output weight (relu(0) = 0), are dropped."""
    p = f"transformer/layer_{i}/"
    wq, bq = weights[p + "attn/query/w"], weights[p + "attn/query/b"]
    wk, bk = weights[p + "attn/key/w"], weights[p + "attn/key/b"]
    wv, bv = weights[p + "attn/value/w"], weights[p + "attn/value/b"]
    wo, bo = weights[p + "attn/linear/w"], weights[p + "attn/linear/b"]
    w1, b1 = weights[p + "mlp/linear_1/w"], weights[p + "mlp/linear_1/b"]
    w2, b2 = weights[p + "mlp/linear_2/w"], weights[p + "mlp/linear_2/b"]
    K = key_size
    heads = list(range(n_heads))
    units = np.arange(w1.shape[1])
    if prune:
        heads = [
            h
            for h in heads
            if (wv[:, h * K : (h + 1) * K].any() or bv[h * K : (h + 1) * K].any())
            and wo[h * K : (h + 1) * K].any()
        ]
        units = np.flatnonzero((w1.any(0) | (b1 != 0)) & w2.any(1))
    cols = np.concatenate([np.arange(h * K, (h + 1) * K) for h in heads] or [[]])
    cols = cols.astype(np.int64)
    return {
        "heads": len(heads),
        "units": len(units),
        "wq": wq[:, cols],
        "bq": bq[cols],
        "wk": wk[:, cols],
        "bk": bk[cols],
        "wv": wv[:, cols],
        "bv": bv[cols],
        "wo": wo[cols],
        "bo": bo,
        "w1": w1[:, units],
        "b1": b1[units],
        "w2": w2[units],
        "b2": b2,
    }
