"""Writing files so that a reader never sees half of one: bytes, UTF-8 text and JSON, each
written to a temporary file beside the target and then moved over it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path``, then move it to ``path``.

    With ``overwrite=False`` the temporary file is hard-linked to ``path`` instead of renamed
    over it, so an existing ``path`` raises ``FileExistsError`` and is left untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str, *, overwrite: bool = True) -> None:
    """``write_bytes_atomic`` of ``text`` encoded as UTF-8 (newlines written as they are)."""
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)


def write_json_atomic(
    path: Path, data: Any, *, default: Callable[[Any], Any] | None = None
) -> None:
    """``data`` as JSON (indent 1, non-ASCII kept, a final newline), written atomically;
    ``default`` converts what JSON cannot hold (as in ``json.dumps``)."""
    text = json.dumps(data, indent=1, ensure_ascii=False, default=default)
    write_text_atomic(path, text + "\n")


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed (pyplot keeps no reference)."""
    import io

    import matplotlib.pyplot as plt

    png = io.BytesIO()
    try:
        fig.savefig(png, format="png")
    finally:
        plt.close(fig)
    return png.getvalue()
