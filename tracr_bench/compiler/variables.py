"""The program's variables as groups of residual dimensions, read off the residual labels alone.

tracr gives a categorical SOp one residual dimension per value (labels ``name:value``, a one-hot)
and a numerical SOp one dimension (label ``name``) holding the value. Grouping the labels by the
part before the first ``:`` gives the SOps, plus tracr's own helper dimensions, which are not
SOps and are left out: ``one`` (constant 1) and ``<sop>_selector_width_attn_output`` (the
attention output a SelectorWidth's MLP reads). These are the variables ``decode`` reports (it
names them from the RASP graph; the two agree, see tests/test_inject_options.py).

``written_at`` is the first residual index (0: after the embeddings; i: after i layers) at which
some weight writes to a variable's dimensions: before it the compiled residual holds 0 there.
Nothing here needs torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracr_bench.compiler.program import CompiledProgram

HELPER_SUFFIX = "_selector_width_attn_output"
ONE = "one"


@dataclass(frozen=True)
class ResidualVariable:
    """One SOp of a compiled program: its residual dimensions and the first residual index that
    holds it."""

    name: str
    categorical: bool  # one-hot over len(dims) values; else one numerical dimension
    dims: tuple[int, ...]
    written_at: int


def is_helper(name: str) -> bool:
    """tracr's own dimensions, which are no SOp's: ``one`` and selector-width outputs."""
    return name == ONE or name.endswith(HELPER_SUFFIX)


def residual_variables(compiled: CompiledProgram) -> list[ResidualVariable]:
    """Every SOp with residual dimensions, in the order of its first dimension (the canonical
    residual order: by name)."""
    groups: dict[str, list[int]] = {}
    for d, label in enumerate(compiled.residual_labels):
        groups.setdefault(label.split(":", 1)[0], []).append(d)
    out = []
    for name, dims in groups.items():
        if is_helper(name):
            continue
        categorical = ":" in compiled.residual_labels[dims[0]]
        out.append(ResidualVariable(name, categorical, tuple(dims), written_at(compiled, dims)))
    return out


def written_at(compiled: CompiledProgram, dims: list[int]) -> int:
    """The first residual index at which some weight has written to ``dims``: 0 for the
    embeddings, i + 1 for layer i's attention or MLP output."""
    w = compiled.weights
    if w["token_embed/embeddings"][:, dims].any() or w["pos_embed/embeddings"][:, dims].any():
        return 0
    for i in range(compiled.n_layers):
        prefix = f"transformer/layer_{i}/"
        for part in ("attn/linear/w", "attn/linear/b", "mlp/linear_2/w", "mlp/linear_2/b"):
            if w[prefix + part][..., dims].any():
                return i + 1
    return compiled.n_layers
