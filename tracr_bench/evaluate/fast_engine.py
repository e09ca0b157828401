"""The fast engine of ``tracr-bench eval``: lm-eval's numbers at about the cost of one forward pass.

``FastHFLM`` is lm-eval's ``HFLM`` with two request types computed differently; everything else
(datasets, prompts, filters, metrics, aggregation, stderr, the results dict) stays lm-eval's,
because ``evaluate`` still runs ``lm_eval.simple_evaluate`` on it.

``generate_until`` (the task splits): lm-eval generates greedily up to ``max_gen_toks`` tokens,
several forward passes per batch. Here the requests are put in lm-eval's own batches (same
order, same left padding), the gold answer's tokens are appended to each prompt, and one forward
pass gives the greedy token at every answer position (teacher forcing): as long as the greedy
tokens equal the gold tokens, they *are* the tokens greedy generation produces, so the first
greedy token that differs from the gold (or the one after the whole gold answer) is known too.
From that known prefix of the generation, ``fast_decision.decide`` either finds lm-eval's output
(the text has reached the stop sequence ``\\n``, EOS or ``max_gen_toks``) or proves that no
continuation can make an exact match (the answer has gone wrong); anything else is *undecided*.
Undecided cases (the text so far is whitespace or a prefix of the answer in another
tokenization, a near tie between the two best tokens, a special token, a decode that may still
change, generation options that are not plain greedy, ...) are read one greedy token further
where that can settle them, else settled by lm-eval itself: ``HFLM.generate_until`` runs on the
whole lm-eval batch that holds the example, so even near ties get lm-eval's exact output.
``generate_until`` reads as these three steps.

``loglikelihood_rolling`` (retention): the same rolling windows as lm-eval
(``get_rolling_token_windows`` + ``make_disjoint_window``, context 1, the model's max length),
scored with the same log-softmax and sums, but sorted by length across documents so that short
last windows are batched together instead of padded to the full length, without a KV cache and
without lm-eval's per-token argmax. The figures agree with lm-eval's to float rounding (the
batches differ, so the matrix products are summed in another order).
"""

from __future__ import annotations

import inspect
from collections import Counter

import torch
import torch.nn.functional as F
from lm_eval import utils as lm_utils
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import (
    Collator,
    handle_stop_sequences,
    normalize_gen_kwargs,
)
from tqdm import tqdm

from tracr_bench.evaluate.fast_decision import (
    Decision,
    Rules,
    Settlement,
    decide,
    margin_for,
    plain_greedy,
)


def _accepts(fn, name: str) -> bool:
    params = inspect.signature(fn).parameters
    return name in params


class FastHFLM(HFLM):
    """``HFLM`` whose ``generate_until`` and ``loglikelihood_rolling`` give lm-eval's numbers
    with one forward pass per batch (see the module docstring). ``stats`` counts how each
    generation request was settled."""

    def __init__(self, *args, margin: tuple[float, float] | None = None, **kwargs):
        self.progress = kwargs.pop("progress", True)
        self._encoded: dict[str, list[int]] = {}  # tok_encode's, by string
        super().__init__(*args, **kwargs)
        self.margin = margin
        self.stats: Counter = Counter()
        fwd = self.model.forward
        self._kw_position_ids = _accepts(fwd, "position_ids")
        self._kw_logits_to_keep = _accepts(fwd, "logits_to_keep")
        self._kw_use_cache = _accepts(fwd, "use_cache")

    # ------------------------------------------------------------------ shared helpers

    def _forward(self, input_ids, attention_mask=None, position_ids=None, keep: int = 0):
        kwargs: dict = {}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        if position_ids is not None and self._kw_position_ids:
            kwargs["position_ids"] = position_ids
        if self._kw_use_cache:
            kwargs["use_cache"] = False
        if keep and self._kw_logits_to_keep:
            kwargs["logits_to_keep"] = keep
        with (
            torch.no_grad(),
            torch.autocast(
                device_type=self.device.type,
                dtype=self.mixed_precision_dtype,
                enabled=self.mixed_precision_dtype is not None,
            ),
        ):
            logits = self.model(input_ids=input_ids, **kwargs).logits
        return logits[:, -keep:] if keep else logits

    def _plain(self) -> bool:
        return (
            self.backend == "causal"
            and isinstance(self.batch_size, int)
            and self.think_end_token is None
        )

    def tok_encode(self, string: str, add_special_tokens=None, left_truncate_len=None, **kw):
        """``HFLM.tok_encode``, remembered for each string it is asked for with the default
        settings: the context check, lm-eval's sort of the requests and the gold path read the
        same prompts."""
        if add_special_tokens is not None or left_truncate_len or kw:
            return super().tok_encode(string, add_special_tokens, left_truncate_len, **kw)
        if string not in self._encoded:
            self._encoded[string] = super().tok_encode(string)
        return list(self._encoded[string])

    def _rules(self, until: list[str], max_gen_toks: int) -> Rules:
        config = getattr(self.model, "generation_config", None)
        eos = getattr(config, "eos_token_id", None)
        eos_ids = frozenset([] if eos is None else [eos] if isinstance(eos, int) else eos)
        tok = self.tokenizer
        tail = 4 if getattr(tok, "clean_up_tokenization_spaces", False) else 0
        return Rules(
            until=tuple(until),
            max_gen_toks=max_gen_toks,
            eos_ids=eos_ids,
            special_ids=frozenset(tok.all_special_ids),
            pad_id=tok.pad_token_id,
            unstable_tail=tail,
        )

    def _gold(self, context: str, target: str, ctx: list[int] | None = None) -> list[int]:
        """The answer's tokens as they follow the prompt's (the gold path to teacher-force)."""
        ctx = self.tok_encode(context) if ctx is None else ctx
        full = self.tok_encode(context + target)
        if full[: len(ctx)] == ctx:
            return full[len(ctx) :]
        return self.tokenizer.encode(target, add_special_tokens=False)

    def _margin(self) -> tuple[float, float]:
        if self.margin is not None:
            return self.margin
        return margin_for(self.mixed_precision_dtype or next(self.model.parameters()).dtype)

    def _teacher_force(
        self, contexts: list[str], golds: list[list[int]], max_gen_toks: int
    ) -> tuple[list[list[int]], list[list[bool]]]:
        """Greedy token and certainty after each prompt and each prefix of its gold tokens:
        one forward pass over lm-eval's left-padded prompt batch with the gold tokens after
        each prompt (position ids as ``generate`` makes them)."""
        context_enc, attn = self.tok_batch_encode(
            contexts, left_truncate_len=self.max_length - max_gen_toks, truncation=self.truncation
        )
        width = context_enc.shape[1]
        extra = max(len(g) for g in golds)
        ids = torch.full((len(contexts), width + extra), self._pad_id(), dtype=torch.long)
        mask = torch.zeros_like(ids)
        ids[:, :width] = context_enc
        mask[:, :width] = attn
        for r, g in enumerate(golds):
            if g:
                ids[r, width : width + len(g)] = torch.tensor(g, dtype=torch.long)
                mask[r, width : width + len(g)] = 1
        position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
        logits = self._forward(
            ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=position_ids.to(self.device),
            keep=extra + 1,
        ).float()
        top = logits.topk(2, dim=-1)
        best, second = top.values[..., 0], top.values[..., 1]
        atol, rtol = self._margin()
        sure = ((best - second) > (atol + rtol * best.abs())).tolist()
        greedy = top.indices[..., 0].tolist()
        return (
            [row[: len(g) + 1] for row, g in zip(greedy, golds, strict=True)],
            [row[: len(g) + 1] for row, g in zip(sure, golds, strict=True)],
        )

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return 0 if pad is None else pad

    # ------------------------------------------------------------------ generation

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        if not self._plain():
            self.stats["lm_eval"] += len(requests)
            return super().generate_until(requests, disable_tqdm=disable_tqdm)
        disable_tqdm = disable_tqdm or not self.progress
        run = Settlement(requests, self.stats)
        self._decide_lm_eval_batches(run, disable_tqdm)
        self._extend_undecided(run)
        self._generate_the_rest(run, disable_tqdm)
        return run.out  # type: ignore[return-value]

    def _decide_lm_eval_batches(self, run: Settlement, disable_tqdm: bool) -> None:
        """Step 1: one teacher-forced pass per lm-eval batch (same grouping, order and size)."""
        re_ords = Collator(
            [(*req.args, i) for i, req in enumerate(run.requests)],
            sort_fn=lambda x: (-len(self.tok_encode(x[0])), x[0]),
            group_by="gen_kwargs",
            group_fn=lambda x: x[1],
        )
        eos_text = self.tok_decode(self.eot_token_id, skip_special_tokens=False)
        pbar = tqdm(
            total=len(run.requests), disable=disable_tqdm, desc="Running generate_until (fast)"
        )
        for chunk in re_ords.get_batched(n=self.batch_size):
            self._decide_batch(run, chunk, eos_text)
            pbar.update(len(chunk))
        pbar.close()

    def _decide_batch(self, run: Settlement, chunk: list, eos_text: str) -> None:
        idx = [c[2] for c in chunk]
        batch = run.add_batch(idx)
        kwargs = normalize_gen_kwargs(chunk[0][1], self.max_gen_toks)
        until = handle_stop_sequences(kwargs.pop("until", None), eos=eos_text)
        max_gen_toks = kwargs.pop("max_gen_toks")
        targets = [_target(run.requests[i]) for i in idx]
        if any(t is None for t in targets):  # another task's requests (--general)
            self.stats["lm_eval"] += len(idx)
            run.exact.add(batch)
            return
        if not plain_greedy(kwargs, getattr(self.model, "generation_config", None)):
            self.stats["undecided:not_plain_greedy"] += len(idx)
            run.exact.add(batch)
            return
        rules = self._rules(until, max_gen_toks)
        contexts = [c[0] for c in chunk]
        golds = [
            self._gold(c, t)[: max_gen_toks - 1] for c, t in zip(contexts, targets, strict=True)
        ]
        greedy, sure = self._teacher_force(contexts, golds, max_gen_toks)
        for r, i in enumerate(idx):
            run.rules_of[i] = rules
            run.settle(i, decide(greedy[r], sure[r], golds[r], targets[r], self.tok_decode, rules))

    def _extend_undecided(self, run: Settlement) -> None:
        """Step 2: undecided but certain so far: read the known greedy tokens one further, in
        batches of requests with the same token budget, until each is settled."""
        while run.pending:
            self.stats["extension_passes"] += 1
            by_budget: dict[int, list[int]] = {}
            for i, (budget, _) in run.pending.items():
                by_budget.setdefault(budget, []).append(i)
            for budget, rows in by_budget.items():
                for start in range(0, len(rows), self.batch_size):
                    self._extend_batch(run, rows[start : start + self.batch_size], budget)

    def _extend_batch(self, run: Settlement, part: list[int], budget: int) -> None:
        known = [run.pending[i][1] for i in part]
        contexts = [run.requests[i].args[0] for i in part]
        greedy, sure = self._teacher_force(contexts, known, budget)
        for r, i in enumerate(part):
            target = _target(run.requests[i]) or ""
            d = decide(greedy[r], sure[r], known[r], target, self.tok_decode, run.rules_of[i])
            if len(d.known) <= len(known[r]) or d.known[: len(known[r])] != known[r]:
                d = Decision(None, "no_progress", d.known)  # not a longer prefix
            run.settle(i, d)

    def _generate_the_rest(self, run: Settlement, disable_tqdm: bool) -> None:
        """Step 3: lm-eval's own generation, on exactly the batches it would run the undecided
        requests in; counts where it disagrees with what the fast path had decided."""
        for b in tqdm(
            sorted(run.exact), disable=disable_tqdm, desc="generate_until (lm-eval batches)"
        ):
            idx = run.batches[b]
            generated = super().generate_until([run.requests[i] for i in idx], disable_tqdm=True)
            self.stats["fallback_batches"] += 1
            for i, text in zip(idx, generated, strict=True):
                self.stats["fallback_examples"] += 1
                req = run.requests[i]
                if run.kinds[i] == "impossible":  # the generated part: it must score the same
                    if _scores(run.out[i], req) != _scores(text, req):
                        self.stats["disagreements"] += 1
                elif run.out[i] is not None and run.out[i] != text:
                    self.stats["disagreements"] += 1
                run.out[i] = text

    # ------------------------------------------------------------------ retention

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        if not self._plain():
            return super().loglikelihood_rolling(requests, disable_tqdm=disable_tqdm)
        disable_tqdm = disable_tqdm or not self.progress
        windows: list[tuple[int, list[int], list[int]]] = []  # (request, input, continuation)
        for r, req in enumerate(requests):
            (string,) = req.args
            for ctx, cont in map(
                lm_utils.make_disjoint_window,
                lm_utils.get_rolling_token_windows(
                    token_list=self.tok_encode(string),
                    prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length,
                    context_len=1,
                ),
            ):
                windows.append((r, (ctx + cont)[-(self.max_length + 1) :][:-1], cont))
        # long inputs first; among equal lengths, long continuations first, so that the last
        # window of each document (full context, few scored tokens) shares batches
        order = sorted(
            range(len(windows)), key=lambda w: (-len(windows[w][1]), -len(windows[w][2]))
        )
        scores: list[float] = [0.0] * len(windows)
        pbar = tqdm(
            total=len(windows), disable=disable_tqdm, desc="Running loglikelihood_rolling (fast)"
        )
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = len(windows[batch[0]][1])
            ids = torch.full((len(batch), width), self._pad_id(), dtype=torch.long)
            for row, w in enumerate(batch):
                inp = windows[w][1]
                ids[row, : len(inp)] = torch.tensor(inp, dtype=torch.long)
            # logits only from the first scored position of the batch on
            keep = max(width - len(windows[w][1]) + len(windows[w][2]) for w in batch)
            logits = self._forward(ids.to(self.device), keep=keep)
            for row, w in enumerate(batch):
                _, inp, cont = windows[w]
                end = keep - (width - len(inp))  # the row's last input position, in ``logits``
                part = logits[row, end - len(cont) : end]
                logp = F.log_softmax(part, dim=-1, dtype=self.softmax_dtype)
                target = torch.tensor(cont, dtype=torch.long, device=logp.device)
                scores[w] = float(torch.gather(logp, 1, target.unsqueeze(-1)).squeeze(-1).sum())
            pbar.update(len(batch))
        pbar.close()
        totals = [0.0] * len(requests)
        for w, (r, _, _) in enumerate(windows):  # summed per document in window order, as lm-eval
            totals[r] += scores[w]
        for req, total in zip(requests, totals, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals


def _target(req) -> str | None:
    """The gold answer of a tracr-bench request (None for any other task's request)."""
    doc = getattr(req, "doc", None)
    if not _tracr_scored(req) or not isinstance(doc, dict):
        return None
    target = doc.get("target")
    return target if isinstance(target, str) else None


def _tracr_scored(req) -> bool:
    from tracr_bench.evaluate.lm_eval_data import PREFIX
    from tracr_bench.evaluate.retention import RETENTION_TASK

    name = getattr(req, "task_name", None) or ""
    return name.startswith(PREFIX + "_") and name != RETENTION_TASK


def _scores(text: str, req) -> bool:
    from tracr_bench.evaluate.scoring import score

    return score(text, req.doc["target"])


__all__ = ["FastHFLM"]
