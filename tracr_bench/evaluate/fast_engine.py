"""The fast engine of ``tracr-bench eval``: lm-eval's numbers at about the cost of one forward pass.

``FastHFLM`` is lm-eval's ``HFLM`` with two request types computed differently; everything else
(datasets, prompts, filters, metrics, aggregation, stderr, the results dict) stays lm-eval's,
because ``evaluate`` still runs ``lm_eval.simple_evaluate`` on it.

``generate_until`` (the task splits): lm-eval generates greedily up to ``max_gen_toks`` tokens,
several forward passes per batch. Here the requests are put in lm-eval's own batches (same
order, same left padding), and one forward pass over the prompts gives the first greedy token
(logits at the last position only). Where that is the gold answer's first token, the gold
tokens are appended to the prompt and one forward pass gives the greedy token at every answer
position (teacher forcing): as long as the greedy tokens equal the gold tokens, they *are* the
tokens greedy generation produces, so the first greedy token that differs from the gold (or the
one after the whole gold answer) is known too. Those requests are read together after the
batches (step 2, with the extensions below); when most answers of a batch began right, the next
batch is read along its gold answers at once, in its first pass.
From that known prefix of the generation, ``fast_decision.decide`` either finds lm-eval's output
(the text has reached the stop sequence ``\\n``, EOS or ``max_gen_toks``) or proves that no
continuation can make an exact match (the answer has gone wrong); anything else is *undecided*.
Undecided cases (the text so far is whitespace or a prefix of the answer in another
tokenization, a near tie between the two best tokens, a special token, a decode that may still
change, generation options that are not plain greedy, ...) are read one greedy token further
where that can settle them, else settled by lm-eval itself: ``HFLM.generate_until`` runs on the
whole lm-eval batch that holds the example, so even near ties get lm-eval's exact output.
``generate_until`` reads as these three steps.

``loglikelihood_rolling`` (retention): ``fast_retention.rolling_loglikelihoods``, lm-eval's
rolling windows scored in length-sorted batches.

Every forward pass's logits are checked to be finite (``reference_engine.check_finite``, one
reduction over the logits kept): a model with NaN or infinite logits stops the run with one
line naming the tasks of the first such batch, instead of scores computed from garbage.
"""

from __future__ import annotations

import inspect
from collections import Counter

import torch
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
    greedy_config,
    greedy_kwargs,
    margin_for,
)
from tracr_bench.evaluate.fast_retention import rolling_loglikelihoods
from tracr_bench.evaluate.reference_engine import batch_tasks, check_finite


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

    def _forward(
        self, input_ids, attention_mask=None, position_ids=None, keep: int = 0, where: str = ""
    ):
        """The logits of one forward pass (at the last ``keep`` positions only, if not 0),
        checked to be finite (``where``: the batch's tasks, for the error)."""
        kwargs: dict = {}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask.to(self.device)
        if position_ids is not None and self._kw_position_ids:
            kwargs["position_ids"] = position_ids.to(self.device)
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
            logits = self.model(input_ids=input_ids.to(self.device), **kwargs).logits
        logits = logits[:, -keep:] if keep else logits
        check_finite(logits, where or "a batch")
        return logits

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

    def _prompt_batch(self, contexts: list[str], max_gen_toks: int):
        """lm-eval's left-padded prompt batch, its mask and position ids as ``generate``
        makes them."""
        prompts, mask = self.tok_batch_encode(
            contexts, left_truncate_len=self.max_length - max_gen_toks, truncation=self.truncation
        )
        return prompts, mask, (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)

    def _first_tokens(
        self, contexts: list[str], max_gen_toks: int, where: str = ""
    ) -> tuple[list[list[int]], list[list[bool]]]:
        """The greedy first token after each prompt and its certainty: one forward pass over
        lm-eval's prompt batch, logits at the last position only."""
        prompts, mask, positions = self._prompt_batch(contexts, max_gen_toks)
        return self._argmax(self._forward(prompts, mask, positions, keep=1, where=where))

    def _teacher_force(
        self, contexts: list[str], golds: list[list[int]], max_gen_toks: int, where: str = ""
    ) -> tuple[list[list[int]], list[list[bool]]]:
        """Greedy token and certainty after each prompt and each prefix of its gold tokens
        (``len(gold) + 1`` per row): one forward pass over the prompt batch with the gold tokens
        after each prompt."""
        prompts, mask, positions = self._prompt_batch(contexts, max_gen_toks)
        extra = max(len(g) for g in golds)
        ids = torch.full((len(golds), extra), self._pad_id(), dtype=torch.long)
        gold_mask = torch.zeros_like(ids)
        for r, g in enumerate(golds):
            ids[r, : len(g)] = torch.tensor(g, dtype=torch.long)
            gold_mask[r, : len(g)] = 1
        after = positions[:, -1:] + 1 + torch.arange(extra)  # left padding: the last is real
        logits = self._forward(
            torch.cat([prompts, ids], 1),
            torch.cat([mask, gold_mask], 1),
            torch.cat([positions, after], 1),
            keep=extra + 1,
            where=where,
        )
        greedy, sure = self._argmax(logits)
        return (
            [row[: len(g) + 1] for row, g in zip(greedy, golds, strict=True)],
            [row[: len(g) + 1] for row, g in zip(sure, golds, strict=True)],
        )

    def _argmax(self, logits) -> tuple[list[list[int]], list[list[bool]]]:
        """The greedy token at each position and whether it beats the runner-up by more than
        the margin (not a near tie)."""
        top = logits.float().topk(2, dim=-1)
        best, second = top.values[..., 0], top.values[..., 1]
        atol, rtol = self._margin()
        sure = ((best - second) > (atol + rtol * best.abs())).tolist()
        return top.indices[..., 0].tolist(), sure

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
        run.greedy_config = greedy_config(getattr(self.model, "generation_config", None))
        self._decide_lm_eval_batches(run, disable_tqdm)
        self._extend_undecided(run)
        self._generate_the_rest(run, disable_tqdm)
        return run.out  # type: ignore[return-value]

    def _decide_lm_eval_batches(self, run: Settlement, disable_tqdm: bool) -> None:
        """Step 1: one forward pass per lm-eval batch (same grouping, order and size)."""
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
        if not (run.greedy_config and greedy_kwargs(kwargs)):
            self.stats["undecided:not_plain_greedy"] += len(idx)
            run.exact.add(batch)
            return
        rules = self._rules(until, max_gen_toks)
        contexts = [c[0] for c in chunk]
        where = batch_tasks([run.requests[i] for i in idx])
        golds = [
            self._gold(c, t)[: max_gen_toks - 1] for c, t in zip(contexts, targets, strict=True)
        ]
        if run.gold_at_once:  # the last batch's answers mostly began right: read the gold now
            self.stats["read_gold_at_once"] += len(idx)
            greedy, sure = self._teacher_force(contexts, golds, max_gen_toks, where)
        else:
            greedy, sure = self._first_tokens(contexts, max_gen_toks, where)
        began_right = [
            bool(g) and s[0] and t[0] == g[0] for g, t, s in zip(golds, greedy, sure, strict=True)
        ]
        run.gold_at_once = 2 * sum(began_right) > len(began_right)
        for r, i in enumerate(idx):
            run.rules_of[i] = rules
            if began_right[r] and len(greedy[r]) == 1:  # read along its gold answer in step 2
                self.stats["read_along_gold"] += 1
                run.along_gold.add(i)
                run.pending[i] = (max_gen_toks, golds[r])
                continue
            run.settle(i, decide(greedy[r], sure[r], golds[r], targets[r], self.tok_decode, rules))

    def _extend_undecided(self, run: Settlement) -> None:
        """Step 2: the requests whose first greedy token was their gold answer's, read along the
        gold answer; the undecided ones that are certain so far, read one known greedy token
        further; in batches of requests with the same token budget, until each is settled."""
        while run.pending:
            if len(run.pending) > len(run.along_gold):
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
        where = batch_tasks([run.requests[i] for i in part])
        greedy, sure = self._teacher_force(contexts, known, budget, where)
        for r, i in enumerate(part):
            target = _target(run.requests[i]) or ""
            d = decide(greedy[r], sure[r], known[r], target, self.tok_decode, run.rules_of[i])
            if i in run.along_gold:  # the gold answer read: settled as in step 1
                run.along_gold.discard(i)
                run.pending.pop(i)
            elif len(d.known) <= len(known[r]) or d.known[: len(known[r])] != known[r]:
                d = Decision(None, "no_progress", d.known)  # not a longer prefix
            run.settle(i, d)

    def _generate_the_rest(self, run: Settlement, disable_tqdm: bool) -> None:
        """Step 3: lm-eval's own generation, on exactly the batches it would run the undecided
        requests in; counts where it disagrees with what the fast path had decided."""
        quiet = disable_tqdm or not run.exact  # no empty bar when all are settled
        for b in tqdm(sorted(run.exact), disable=quiet, desc="generate_until (lm-eval batches)"):
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
        texts = [req.args[0] for req in requests]
        totals = rolling_loglikelihoods(self, texts, disable_tqdm, batch_tasks(requests))
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
