"""``--split-symbols``: derive a BPE tokenizer that never merges a task's symbols into larger
tokens (GPT-2 joins digits into numbers and brackets into runs such as ``([``).

The derived tokenizer is the original with every BPE merge removed whose result contains one of
the task's non-letter symbols (digits, brackets, ``:``, ``=`` ...) but is not that symbol alone
(a leading space allowed). Vocabulary and ids are unchanged, so the model's embeddings still
apply; the tokens that only those merges produced are simply never emitted again. Letter
symbols (``x``) are left alone: removing merges that contain a letter would break most words.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tracr_bench.inject.config import InjectError
from tracr_bench.task import Task


def _byte_decoder() -> dict[str, int]:
    # GPT-2's reversible byte <-> unicode table, used by every byte-level BPE
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def task_symbols(task: Task) -> list[str]:
    """The task's symbols that the derived tokenizer keeps as single tokens."""
    tm = task.token_map
    return sorted(s for s in {*tm.symbols, tm.trigger} if not any(c.isalpha() for c in s))


def _surface(piece: str, byte_level: bool, decoder: dict[str, int]) -> str:
    if byte_level:
        raw = bytes(decoder.get(c, ord("?")) for c in piece)
        return raw.decode("utf-8", errors="replace")
    return piece.replace("▁", " ")


def derive(tokenizer, task: Task, out_dir: Path | None = None):
    """The tokenizer without the merges that join ``task``'s symbols; saved to ``out_dir`` if
    given. Returns (tokenizer, number of merges removed)."""
    from transformers import AutoTokenizer

    if not getattr(tokenizer, "is_fast", False):
        raise InjectError("--split-symbols needs a fast (tokenizer.json) tokenizer")
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec.get("model", {})
    if model.get("type") != "BPE":
        raise InjectError(
            f"--split-symbols works on BPE tokenizers; this one is {model.get('type')!r}"
        )
    symbols = task_symbols(task)
    byte_level = "ByteLevel" in json.dumps(spec.get("pre_tokenizer")) or "ByteLevel" in json.dumps(
        spec.get("decoder")
    )
    decoder = _byte_decoder()
    kept, removed = [], 0
    for merge in model.get("merges", []):
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        text = _surface(a + b, byte_level, decoder)
        bare = text[1:] if text.startswith(" ") else text
        if bare not in symbols and any(s in text for s in symbols):
            removed += 1
            continue
        kept.append(merge)
    model["merges"] = kept
    with tempfile.TemporaryDirectory(prefix="tracr_bench_tok_") as tmp:
        tokenizer.save_pretrained(tmp)
        path = Path(tmp) / "tokenizer.json"
        saved = json.loads(path.read_text("utf-8"))
        saved["model"]["merges"] = kept
        path.write_text(json.dumps(saved, ensure_ascii=False), "utf-8")
        derived = AutoTokenizer.from_pretrained(tmp)
    if out_dir is not None:
        derived.save_pretrained(out_dir)
    return derived, removed
