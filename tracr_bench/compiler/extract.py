"""From tracr's assembled model to a ``CompiledProgram``: weights in the canonical residual order.

tracr's ``AssembledTransformerModel`` holds haiku parameters (``<module>/<param>``), its raw
residual labels, the model configuration and the input/output encoders. Here the residual axis
of every weight is permuted into the canonical order of ``labels.canonical_residual``, each layer
is summarised as a ``BlockSpec``, and the categorical output's decoding is keyed by position
among the output dimensions in that order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracr_bench.compiler.labels import canonical_residual, label_matches
from tracr_bench.compiler.program import BOS, PAD, BlockSpec, CompiledProgram


def extract_program(
    assembled: Any,
    names: dict[str, str],
    output_label: str,
    *,
    key: str,
    vocab: set[str],
    max_seq_len: int,
    causal: bool,
    mlp_exactness: int,
) -> CompiledProgram:
    """The ``CompiledProgram`` of ``assembled`` (``seconds`` left at 0 for the caller to set).

    ``names`` maps tracr labels to canonical names (``graph_key.canonical_names``) and
    ``output_label`` is the tracr label of the program's output SOp."""
    cfg = assembled.model_config
    raw_labels = list(assembled.residual_labels)
    perm, residual_labels = canonical_residual(raw_labels, names)
    weights = permuted_weights(assembled.params, perm)
    output_name = names[output_label]
    return CompiledProgram(
        key=key,
        weights=weights,
        blocks=block_specs(weights, cfg, causal),
        residual_labels=residual_labels,
        input_encoding={str(k): int(v) for k, v in assembled.input_encoder.encoding_map.items()},
        output_decoding=output_decoding(assembled.output_encoder, residual_labels, output_name),
        output_name=output_name,
        vocab=sorted(vocab),
        bos=BOS,
        pad=PAD,
        max_seq_len=int(max_seq_len),
        causal=bool(causal),
        mlp_exactness=mlp_exactness,
        n_params=int(sum(a.size for a in weights.values())),
        n_heads=int(cfg.num_heads),
        key_size=int(cfg.key_size),
        seconds=0.0,
        from_cache=False,
        assembled=assembled,
        tracr_perm=perm,
        raw_residual_labels=raw_labels,
    )


def residual_axis(name: str) -> int | None:
    """The axis of weight ``name`` that runs over the residual stream (None: it has none)."""
    if name.endswith("embeddings"):
        return 1
    if name.endswith(("attn/query/w", "attn/key/w", "attn/value/w", "mlp/linear_1/w")):
        return 0
    if name.endswith(("attn/linear/w", "mlp/linear_2/w")):
        return 1
    if name.endswith(("attn/linear/b", "mlp/linear_2/b")):
        return 0
    return None


def permuted_weights(params: Any, perm: np.ndarray) -> dict[str, np.ndarray]:
    """haiku parameters as contiguous float32 arrays, residual axes in canonical order."""
    weights: dict[str, np.ndarray] = {}
    for module, module_params in params.items():
        for param_name, value in module_params.items():
            name = f"{module}/{param_name}"
            array = np.asarray(value, dtype=np.float32)
            axis = residual_axis(name)
            if axis is not None:
                array = np.take(array, perm, axis=axis)
            weights[name] = np.ascontiguousarray(array)
    return weights


def block_specs(weights: dict[str, np.ndarray], cfg: Any, causal: bool) -> list[BlockSpec]:
    """One ``BlockSpec`` per layer, with the heads and hidden units that have weights."""
    blocks = []
    for i in range(cfg.num_layers):
        query = weights[f"transformer/layer_{i}/attn/query/w"]
        query = query.reshape(-1, cfg.num_heads, cfg.key_size)
        hidden_in = weights[f"transformer/layer_{i}/mlp/linear_1/w"]
        blocks.append(
            BlockSpec(
                index=i,
                n_heads=cfg.num_heads,
                key_size=cfg.key_size,
                causal=causal,
                mlp_hidden_size=cfg.mlp_hidden_size,
                active_heads=int(np.any(query != 0, axis=(0, 2)).sum()),
                active_mlp_hidden=int(np.any(hidden_in != 0, axis=0).sum()),
            )
        )
    return blocks


def output_decoding(
    output_encoder: Any, residual_labels: list[str], output_name: str
) -> dict[int, Any] | None:
    """Position among the output dims (canonical order) -> value; None for numerical output.

    Matched to tracr's values by label, so the argmax over ``indices_of(output)`` decodes
    directly."""
    if not hasattr(output_encoder, "encoding_map"):
        return None
    by_str = {str(v): v for v in output_encoder.encoding_map}
    out_labels = [lab for lab in residual_labels if label_matches(lab, output_name)]
    decoding = {j: by_str[lab.partition(":")[2]] for j, lab in enumerate(out_labels)}
    if len(decoding) != len(output_encoder.encoding_map):  # pragma: no cover - defensive
        raise RuntimeError("output dims do not match tracr's output encoder")
    return decoding
