"""The fast engine's decision rules: when teacher-forced greedy tokens settle lm-eval's output.

Pure functions of token ids, their decoded text and the generation settings (no model, no
lm-eval): ``decide`` turns the greedy tokens read along the gold answer into lm-eval's output for
the request, or into a proof that the answer is wrong, or says why neither is certain;
``Rules`` holds what lm-eval's generation stops at and skips; ``MARGINS`` how far apart the two
best logits must be for the greedy token to count as certain; ``plain_greedy`` whether a
generation config decodes by plain argmax at all; ``Settlement`` what becomes of each request
of a batch (its output, more greedy tokens to read, or lm-eval's own generation of its batch).
``fast_engine.FastHFLM`` applies them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

# Generation-config fields that do not change plain greedy decoding (anything else may add a
# logits processor or another decoding mode: those requests go to lm-eval's own generation).
GREEDY_SAFE_FIELDS = {
    "_from_model_config",
    "transformers_version",
    "use_cache",
    "output_attentions",
    "output_hidden_states",
    "output_scores",
    "output_logits",
    "return_dict_in_generate",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "decoder_start_token_id",
    "max_length",
    "max_new_tokens",
    "do_sample",  # lm-eval passes do_sample=False, which overrides it
    "temperature",  # sampling-only settings: unused by greedy decoding
    "top_k",
    "top_p",
    "min_p",
    "typical_p",
    "epsilon_cutoff",
    "eta_cutoff",
    "cache_implementation",
}
# A greedy token is taken as certain when its logit beats the runner-up by more than
# atol + rtol * |logit|: batch composition, padding and the KV cache change logits by float
# rounding only, far less than this. Closer calls are left to lm-eval's own generation.
MARGINS = {
    torch.float64: (1e-6, 1e-8),
    torch.float32: (1e-3, 1e-4),
    torch.float16: (5e-2, 1e-2),
    torch.bfloat16: (2.5e-1, 2e-2),
}


@dataclass(frozen=True)
class Rules:
    """How lm-eval turns a greedy generation into the text it scores."""

    until: tuple[str, ...]  # stop sequences (the task's, plus the EOS text)
    max_gen_toks: int
    eos_ids: frozenset[int]  # ids that end generation (the model's generation config)
    special_ids: frozenset[int]  # ids that decoding skips
    pad_id: int | None  # what finished rows are filled with
    unstable_tail: int = 0  # trailing characters a later token may still change


class Decision(NamedTuple):
    output: str | None  # lm-eval's output (or, for "impossible", the part generated so far)
    kind: str  # "stopped", "ended", "impossible", or why it is undecided
    known: list[int]  # the first tokens of lm-eval's greedy generation, as far as certain


# undecided kinds that more greedy tokens can settle (the others need lm-eval's own batch)
EXTENDABLE = {"ambiguous", "unstable_decode", "stop_straddles"}


def decide(
    greedy: Sequence[int],
    confident: Sequence[bool],
    gold: Sequence[int],
    target: str,
    decode: Callable[[list[int]], str],
    rules: Rules,
) -> Decision:
    """lm-eval's output for one request, from teacher-forced greedy tokens, if it is certain.

    ``greedy[i]`` is the argmax after the prompt and ``gold[:i]`` (``len(gold) + 1`` of them, or
    ``max_gen_toks``); ``confident[i]`` says that it is not a near tie. ``kind`` is ``"stopped"``
    or ``"ended"`` when ``output`` is exactly lm-eval's output (the generation reached a stop
    sequence, EOS or ``max_gen_toks``), ``"impossible"`` when the generation goes on but can no
    longer match ``target`` under lm-eval's scoring (exact match of the first line, stripped)
    and ``output`` is the part generated so far, which scores the same; otherwise ``output`` is
    None and ``kind`` says why."""
    known: list[int] = []  # the first tokens of lm-eval's greedy generation

    def undecided(kind: str) -> Decision:
        return Decision(None, kind, known)

    if "\n" not in rules.until or any(
        a != b and a and a in b for a in rules.until for b in rules.until
    ):
        return undecided("stop_sequences")
    for i, tok in enumerate(greedy):
        if not confident[i]:
            return undecided("near_tie")
        known.append(tok)
        if tok in rules.eos_ids or len(known) >= rules.max_gen_toks:
            break
        if i >= len(gold) or tok != gold[i]:
            break
    else:
        return undecided("short")
    if any(t in rules.special_ids and t not in rules.eos_ids for t in known):
        return undecided("special_token")
    eos = known[-1] in rules.eos_ids
    if eos and (known[-1] not in rules.special_ids or rules.pad_id not in rules.special_ids):
        return undecided("special_token")
    text = decode(known)
    stops = [s for s in rules.until if s]
    ended = eos or len(known) >= rules.max_gen_toks
    if ended and not any(s in text for s in stops):
        return Decision(text, "ended", known)  # the whole generation is known
    if "\ufffd" in text or (len(known) > 1 and not text.startswith(decode(known[:-1]))):
        return undecided("unstable_decode")  # a partial character, or decoding not append-only
    stable = text if ended or not rules.unstable_tail else text[: -rules.unstable_tail]
    cut = min((stable.find(s) for s in stops if s in stable), default=None)
    # positions where a stop sequence may begin and be completed by later tokens
    partial = (
        []
        if ended
        else [
            k
            for s in stops
            for k in range(max(0, len(stable) - len(s) + 1), len(stable))
            if s.startswith(stable[k:])
        ]
    )
    if cut is not None:
        if any(k < cut for k in partial):
            return undecided("stop_straddles")
        return Decision(stable[:cut], "stopped", known)
    # the first line goes on: it is ``stable`` + any text, or is cut where a stop may begin
    answer = target.strip()
    if any(stable[:k].strip() == answer for k in partial):
        return undecided("ambiguous")
    head = stable.lstrip()
    if not head or answer.startswith(head) or head.rstrip() == answer:
        return undecided("ambiguous")  # whitespace so far, or a prefix of the answer
    return Decision(stable, "impossible", known)


@dataclass
class Settlement:
    """How the requests of one ``FastHFLM.generate_until`` call are settled: each request's
    output and how it was settled, lm-eval's batches (as request indices), the requests to read
    along their gold answer or to extend, and the batches left to lm-eval's own generation."""

    requests: list
    stats: Counter
    out: list[str | None] = field(default_factory=list)
    kinds: list[str | None] = field(default_factory=list)
    batches: list[list[int]] = field(default_factory=list)  # lm-eval's, as request indices
    batch_of: dict[int, int] = field(default_factory=dict)
    exact: set[int] = field(default_factory=set)  # batches for lm-eval's own generation
    pending: dict[int, tuple[int, list[int]]] = field(default_factory=dict)  # i -> (max, known)
    along_gold: set[int] = field(default_factory=set)  # pending to read along the gold answer
    rules_of: dict[int, Rules] = field(default_factory=dict)
    gold_at_once: bool = False  # read the gold answers in the next batch's first pass
    greedy_config: bool = True  # the model's generation config decodes greedily (read once)

    def __post_init__(self) -> None:
        self.out = [None] * len(self.requests)
        self.kinds = [None] * len(self.requests)

    def add_batch(self, idx: list[int]) -> int:
        self.batch_of.update((i, len(self.batches)) for i in idx)
        self.batches.append(idx)
        return len(self.batches) - 1

    def settle(self, i: int, d: Decision) -> None:
        """Record a decision: the output, more greedy tokens to read, or lm-eval's batch."""
        if d.output is not None:
            self.stats[d.kind] += 1
            self.out[i], self.kinds[i] = d.output, d.kind
            self.pending.pop(i, None)
        elif d.kind in EXTENDABLE and len(d.known) < self.rules_of[i].max_gen_toks:
            if i not in self.pending:
                self.stats["extended"] += 1
            self.pending[i] = (self.rules_of[i].max_gen_toks, d.known)
        else:
            self.stats[f"undecided:{d.kind}"] += 1
            self.exact.add(self.batch_of[i])
            self.pending.pop(i, None)


def margin_for(dtype: torch.dtype) -> tuple[float, float]:
    """(atol, rtol) of the near-tie test for logits computed in ``dtype``."""
    return MARGINS.get(dtype, MARGINS[torch.bfloat16])


def plain_greedy(gen_kwargs: dict, generation_config) -> bool:
    """Whether ``generate()`` with lm-eval's ``gen_kwargs`` (``until`` and ``max_gen_toks``
    already taken out) and the model's generation config is plain greedy argmax decoding."""
    return greedy_kwargs(gen_kwargs) and greedy_config(generation_config)


def greedy_kwargs(gen_kwargs: dict) -> bool:
    """Whether lm-eval's ``gen_kwargs`` (``until`` and ``max_gen_toks`` taken out) ask for
    plain greedy decoding."""
    return gen_kwargs.get("do_sample") is False and not set(gen_kwargs) - {
        "do_sample",
        "temperature",
    }


def greedy_config(generation_config) -> bool:
    """Whether the model's generation config changes nothing of greedy decoding."""
    if generation_config is None:
        return True
    from transformers import GenerationConfig

    default = GenerationConfig().to_dict()
    changed = {k for k, v in generation_config.to_dict().items() if default.get(k, None) != v}
    return not (changed - GREEDY_SAFE_FIELDS)


__all__ = [
    "EXTENDABLE",
    "MARGINS",
    "Decision",
    "Rules",
    "Settlement",
    "decide",
    "greedy_config",
    "greedy_kwargs",
    "margin_for",
    "plain_greedy",
]
