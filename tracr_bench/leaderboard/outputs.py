"""The files ``tracr-bench leaderboard`` writes, and whether they are up to date.

In: the leaderboard folder (its submission files) and the formats to render.
Out: :func:`outputs`, every file with the text it should hold: ``README.md`` and ``index.html``
in the leaderboard folder, and the project README (the folder's parent) with its main table
between the ``leaderboard:main`` markers replaced; :func:`stale_outputs`, the files that differ;
:func:`write_outputs`, which rewrites (atomically) only those. Rendering is a pure function of
the submission files (file-name order, fixed number formats, no clock): the same files give
byte-identical output.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tracr_bench.files import write_text_atomic
from tracr_bench.leaderboard.entries import default_dir, load_entries
from tracr_bench.leaderboard.html_page import render_html
from tracr_bench.leaderboard.markdown_page import main_markdown, render_markdown

README_BEGIN = "<!-- leaderboard:main:begin (written by `tracr-bench leaderboard`) -->"
README_END = "<!-- leaderboard:main:end -->"
MARKDOWN_FILE = "README.md"
HTML_FILE = "index.html"


def readme_section(text: str, main: str) -> str | None:
    """``text`` with the main table between the README markers replaced, or None if ``text``
    has no markers."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        return None
    return text[: start + len(README_BEGIN)] + "\n\n" + main + "\n\n" + text[end:]


def outputs(
    directory: Path | None = None, formats: Sequence[str] = ("md", "html"), readme: bool = True
) -> dict[Path, str]:
    """Every file ``tracr-bench leaderboard`` writes, with its content."""
    root = default_dir() if directory is None else Path(directory)
    entries = load_entries(root)
    out: dict[Path, str] = {}
    if "md" in formats:
        out[root / MARKDOWN_FILE] = render_markdown(entries)
        project_readme = root.resolve().parent / "README.md"
        if readme and project_readme.is_file():
            new = readme_section(project_readme.read_text("utf-8"), main_markdown(entries))
            if new is not None:
                out[project_readme] = new
    if "html" in formats:
        out[root / HTML_FILE] = render_html(entries)
    return out


def stale_outputs(directory: Path | None = None, formats=("md", "html")) -> list[Path]:
    return [
        p
        for p, text in outputs(directory, formats).items()
        if not p.is_file() or p.read_text("utf-8") != text
    ]


def write_outputs(directory: Path | None = None, formats=("md", "html")) -> list[Path]:
    written = []
    for path, text in outputs(directory, formats).items():
        if path.is_file() and path.read_text("utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
        written.append(path)
    return written
