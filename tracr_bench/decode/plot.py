"""``tracr-bench decode --plot decode.png``: one heatmap per readout, variables x hidden states,
one panel per split, each cell the decoding accuracy (grey: nothing to decode there); the title
says which positions were scored (``--positions``). A split whose examples were all skipped gets
no panel (the terminal and the JSON say why)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tracr_bench.files import figure_png, write_bytes_atomic


def heatmap_png(result: dict, readout: str) -> bytes:
    """The PNG of ``readout``'s decoding table in ``result``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_split = result["decoding"][readout]
    examples = result.get("splits", {})
    # a split whose examples were all skipped (see ``programs``) has nothing to draw
    splits = [s for s in per_split if examples.get(s, {}).get("examples", 1)] or list(per_split)
    names = list(next(iter(per_split.values())).keys()) if splits else []
    layers = list(next(iter(per_split[splits[0]].values())).keys()) if names else []
    width = max(4.0, 0.45 * len(layers) + 2.5)
    height = max(2.5, 0.32 * len(names) + 1.5)
    fig, axes = plt.subplots(
        1,
        len(splits),
        figsize=(width * len(splits), height),
        dpi=110,
        squeeze=False,
        layout="constrained",
    )
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d9d9d9")
    image = None
    for ax, split in zip(axes[0], splits, strict=True):
        grid = np.full((len(names), len(layers)), np.nan)
        for i, name in enumerate(names):
            for j, layer in enumerate(layers):
                cell = per_split[split][name][layer]
                if cell is not None:
                    grid[i, j] = 100 * cell["accuracy"]
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=100, aspect="auto")
        if len(names) * len(layers) <= 400:
            for (i, j), value in np.ndenumerate(grid):
                if not np.isnan(value):
                    color = "black" if value > 60 else "white"
                    ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7, color=color)
        ax.set_xticks(range(len(layers)), layers, fontsize=8)
        ax.set_yticks(range(len(names)), names if ax is axes[0][0] else [], fontsize=8)
        ax.set_xlabel("hidden state (input of block i)")
        ax.set_title(f"{split}", fontsize=10)
    model = Path(str(result["model"].get("requested", ""))).name
    where = (
        "at the answer positions"
        if result.get("options", {}).get("positions") == "answer"
        else "at every defined position"
    )
    fig.suptitle(
        f"{result['task']['name']}: {readout} readout accuracy (%) of {model}, {where}",
        fontsize=11,
    )
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
    return figure_png(fig)


def write_heatmaps(result: dict, paths: dict[str, Path]) -> list[Path]:
    """One PNG per readout (atomically); the paths written."""
    written = []
    for readout, path in paths.items():
        write_bytes_atomic(path, heatmap_png(result, readout))
        written.append(path)
    return written
