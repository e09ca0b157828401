"""What a compiled program is: plain numpy weights, the layer structure and the named residual.

``CompiledProgram`` is what ``compiling.compile_program`` returns and the on-disk cache stores;
``BlockSpec`` describes one tracr layer. Nothing here depends on torch or on tracr:
``torch_program`` turns a ``CompiledProgram`` into a PyTorch module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tracr_bench.compiler.labels import label_matches

BOS = "BOS"  # the compiler's beginning-of-sequence token, added by ``encode``
PAD = "PAD"  # the compiler's padding token, for batches only


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One tracr layer: an attention sublayer followed by an MLP sublayer."""

    index: int
    n_heads: int  # heads in the attention sublayer (tracr pads all layers to the max)
    key_size: int  # per-head query/key/value size (tracr uses one size for all layers)
    causal: bool
    mlp_hidden_size: int  # width of the MLP hidden layer (padded to the max)
    active_heads: int  # heads with non-zero weights
    active_mlp_hidden: int  # hidden units with non-zero weights

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class CompiledProgram:
    """A tracr-compiled RASP program as plain numpy weights plus metadata."""

    key: str
    weights: dict[str, np.ndarray]
    blocks: list[BlockSpec]
    residual_labels: list[str]
    input_encoding: dict[str, int]
    # Categorical output: position among the output dims (in residual order) -> value, matched
    # to tracr's `output_encoder` by label. None for numerical output.
    output_decoding: dict[int, Any] | None
    output_name: str
    vocab: list[str]
    bos: str
    pad: str
    max_seq_len: int
    causal: bool
    mlp_exactness: int
    n_params: int
    n_heads: int
    key_size: int
    seconds: float  # compiling, or loading from the cache
    from_cache: bool
    cache_path: Path | None = None
    # Only set when compiled in this process (not stored in the cache):
    assembled: Any = dataclasses.field(default=None, repr=False, compare=False)
    # tracr_perm[i] = index in tracr's raw residual order of our residual dimension i.
    tracr_perm: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    raw_residual_labels: list[str] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )

    @property
    def n_layers(self) -> int:
        """Number of attention+MLP blocks."""
        return len(self.blocks)

    @property
    def residual_width(self) -> int:
        return len(self.residual_labels)

    @property
    def mlp_hidden_size(self) -> int:
        return max((b.mlp_hidden_size for b in self.blocks), default=0)

    @property
    def categorical_output(self) -> bool:
        return self.output_decoding is not None

    @property
    def bos_id(self) -> int:
        return self.input_encoding[self.bos]

    @property
    def pad_id(self) -> int:
        return self.input_encoding[self.pad]

    def labels_of(self, name: str) -> list[str]:
        """Residual labels equal to `name` or starting with `name:`."""
        return [lab for lab in self.residual_labels if label_matches(lab, name)]

    def indices_of(self, name: str) -> list[int]:
        """Residual dimensions whose label is `name` or starts with `name:`."""
        return [i for i, lab in enumerate(self.residual_labels) if label_matches(lab, name)]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids for `tokens` with BOS prepended; ValueError on unknown or too many."""
        tokens = list(tokens)
        reserved = [t for t in tokens if t in (self.bos, self.pad)]
        if reserved:
            raise ValueError(
                f"reserved tokens {sorted(set(reserved))} in input: BOS is added by encode() "
                "and PAD is only for batching"
            )
        unknown = sorted({t for t in tokens if t not in self.input_encoding}, key=repr)
        if unknown:
            raise ValueError(
                f"unknown tokens {unknown}: not in the program's vocabulary {self.vocab}"
            )
        if len(tokens) > self.max_seq_len:
            raise ValueError(
                f"input has {len(tokens)} tokens, longer than the program's "
                f"max_seq_len {self.max_seq_len}"
            )
        return [self.bos_id] + [self.input_encoding[t] for t in tokens]

    def encode_batch(self, batch: Sequence[Sequence[str]]) -> np.ndarray:
        """int64 array [B, 1 + longest] of encoded sequences, right-padded with PAD."""
        encoded = [self.encode(seq) for seq in batch]
        width = max((len(e) for e in encoded), default=1)
        out = np.full((len(encoded), width), self.pad_id, dtype=np.int64)
        for row, e in enumerate(encoded):
            out[row, : len(e)] = e
        return out

    def summary(self) -> dict[str, Any]:
        """Size figures for tables and JSON."""
        return {
            "key": self.key,
            "n_layers": self.n_layers,
            "residual_width": self.residual_width,
            "mlp_hidden_size": self.mlp_hidden_size,
            "n_heads": self.n_heads,
            "key_size": self.key_size,
            "n_params": self.n_params,
            "max_seq_len": self.max_seq_len,
            "causal": self.causal,
            "seconds": self.seconds,
            "from_cache": self.from_cache,
        }
