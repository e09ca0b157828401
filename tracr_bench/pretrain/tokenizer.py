"""The default LM's tokenizer: byte-level BPE in which every digit, bracket and task symbol is a
token of its own, with and without a leading space."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

END_OF_TEXT = "<|endoftext|>"
# Every surface symbol a bundled task reads. Each must be one token, bare and after a space.
TASK_SYMBOLS = tuple("0123456789()[]{}<>xyz+=:.")
# Digits and brackets are cut out before byte-level BPE so that no merge can join them.
ISOLATE = r" ?[0-9]| ?[()\[\]{}<>]"


def _with_symbol_primer(lines: Iterable[str], repeats: int = 5000) -> Iterator[str]:
    """The training text plus each task symbol after a space, repeated, so that BPE is sure to
    learn a merge for ' x', ' :' and the like whatever the corpus holds."""
    yield from lines
    primer = " ".join(TASK_SYMBOLS)
    for _ in range(repeats):
        yield primer


def train_tokenizer(train_file: Path, vocab_size: int = 8192) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(ISOLATE), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )

    def lines() -> Iterator[str]:
        with open(train_file, encoding="utf-8") as f:
            yield from f

    tok.train_from_iterator(_with_symbol_primer(lines()), trainer=trainer)
    return tok


def unsplit_symbols(tokenizer, symbols: Iterable[str] = TASK_SYMBOLS) -> list[str]:
    """The symbols (bare or after a space) that are not one token; empty when all are.

    ``tokenizer`` is a Hugging Face tokenizer (anything with ``encode``)."""
    bad = []
    for sym in symbols:
        for text in (sym, " " + sym):
            ids = tokenizer.encode(text, add_special_tokens=False)
            if len(ids) != 1:
                bad.append(text)
    return bad
