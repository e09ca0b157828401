"""The fast engine (``tracr_bench.evaluate.fast_engine``) against lm-eval's own path: the same
accuracy, stderr and length buckets per split, the same retention figures, the same outputs
request by request, and a fall back to lm-eval's generation wherever the fast path cannot be sure.

The model is the shared tiny GPT-2 trained a few seconds on parity: it gets parity right about
half the time (a model that is always wrong, like the default LM, would make the comparison
vacuous) and answers the other tasks in the wrong format."""

from __future__ import annotations

import math

import pytest

from tests._tiny_lm import shared_tiny_lm
from tests.conftest import short_retention_shard
from tracr_bench.evaluate.fast_engine import Decision, FastHFLM, Rules, decide
from tracr_bench.evaluate.lm_eval_configs import max_gen_toks
from tracr_bench.evaluate.lm_eval_data import task_name
from tracr_bench.evaluate.scoring import score
from tracr_bench.models import DEFAULT_MODEL_DIR
from tracr_bench.task import get_task

LIMIT = 24
BATCH = 8


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return shared_tiny_lm(tmp_path_factory)


@pytest.fixture(scope="module")
def retention_text(tmp_path_factory):
    """The first 12,000 characters of the real retention shard (3 documents)."""
    with short_retention_shard(tmp_path_factory.mktemp("retention_fast"), 12_000) as path:
        yield path


@pytest.fixture(scope="module")
def both_engines(tiny_model, retention_text):
    from tracr_bench.evaluate.run import evaluate

    kwargs = dict(
        tasks="parity,count",
        splits="test,length,x_only",
        limit=LIMIT,
        batch_size=BATCH,
        oracle=False,
        progress=False,
    )
    fast = evaluate(tiny_model, engine="fast", **kwargs)
    stock = evaluate(tiny_model, engine="lm-eval", **kwargs)
    return fast, stock


def test_same_numbers_as_lm_eval_engine(both_engines):
    fast, stock = both_engines
    tf, ts = fast["tracr_bench"], stock["tracr_bench"]
    assert tf["engine"] == "fast" and ts["engine"] == "lm-eval" and ts["fast_path"] is None
    names = [r["lm_eval_task"] for r in ts["splits"]]
    assert len(names) == 5
    for name in names:  # every metric: exact match, its stderr, the per-length accuracies
        assert fast["results"][name] == stock["results"][name], name
        assert fast["n-samples"][name] == stock["n-samples"][name]
    for a, b in zip(tf["splits"], ts["splits"], strict=True):
        assert (a["accuracy"], a["stderr"], a["n"]) == (b["accuracy"], b["stderr"], b["n"])
        assert a["length_buckets"] == b["length_buckets"]
    accs = [r["accuracy"] for r in ts["splits"]]
    assert any(0 < a < 1 for a in accs), f"a vacuous comparison: accuracies {accs}"
    assert tf["lm_eval_command"] == ts["lm_eval_command"]
    assert fast["configs"] == stock["configs"] and set(fast) == set(stock)
    # the fast path decided nearly everything itself, with no disagreement with lm-eval
    stats = tf["fast_path"]
    decided = sum(stats.get(k, 0) for k in ("stopped", "ended", "impossible"))
    assert stats.get("stopped", 0) > 0 and decided >= 0.9 * 5 * LIMIT
    assert not stats.get("disagreements")
    # both ways of reading along the gold answer were taken: after a first pass over the
    # prompts alone, and at once when the last batch's answers mostly began right
    assert stats.get("read_along_gold", 0) > 0 and stats.get("read_gold_at_once", 0) > 0, stats


def test_same_retention_as_lm_eval_engine(both_engines):
    fast, stock = both_engines
    rf, rs = fast["tracr_bench"]["retention"], stock["tracr_bench"]["retention"]
    assert rf["documents"] == rs["documents"] == 3
    for key in ("word_perplexity", "byte_perplexity", "bits_per_byte"):
        assert math.isclose(rf[key], rs[key], rel_tol=1e-6), key


# ---------------------------------------------------------------------------- request level


def _requests(items):
    """lm-eval generate_until Instances for (task, split, prompt, target, gen kwargs) items."""
    from lm_eval.api.instance import Instance

    return [
        Instance(
            "generate_until",
            {"prompt": p, "target": t},
            (p, dict(g)),
            i,
            metadata=(task_name(task, split), i, 1),
        )
        for i, (task, split, p, t, g) in enumerate(items)
    ]


def _items(task: str, split: str, n: int, target=None):
    t = get_task(task)
    gen = {"until": ["\n"], "do_sample": False, "max_gen_toks": max_gen_toks(t, split)}
    return [
        (task, split, ex.prompt, ex.target if target is None else target(ex), gen)
        for ex in t.examples(split, n)
    ]


@pytest.fixture(scope="module")
def lms(tiny_model):
    """(stock HFLM, a FastHFLM factory) on one loaded copy of the tiny model."""
    from lm_eval.models.huggingface import HFLM

    from tracr_bench.models import load_model

    lm, tok = load_model(tiny_model)
    stock = HFLM(pretrained=lm, tokenizer=tok, batch_size=4)

    def fast(**kwargs):
        return FastHFLM(pretrained=lm, tokenizer=tok, batch_size=4, progress=False, **kwargs)

    return lm, stock, fast


def _compare(stock, fast_lm, reqs):
    theirs = stock.generate_until(reqs, disable_tqdm=True)
    ours = fast_lm.generate_until(reqs, disable_tqdm=True)
    for o, t, r in zip(ours, theirs, reqs, strict=True):
        target = r.doc["target"]
        assert score(o, target) == score(t, target), (o, t, target)
    return ours, theirs


def test_outputs_match_generation_request_by_request(lms):
    _, stock, fast = lms
    items = _items("parity", "test", 12) + _items("count", "test", 6) + _items("int_sum", "test", 6)
    reqs = _requests(items)
    f = fast()
    ours, theirs = _compare(stock, f, reqs)
    assert any(score(t, r.doc["target"]) for t, r in zip(theirs, reqs, strict=True))
    # what the fast path decided as lm-eval's output is lm-eval's output, string for string
    assert f.stats["stopped"] + f.stats["ended"] > 0
    decided_full = sum(o == t for o, t in zip(ours, theirs, strict=True))
    assert decided_full >= f.stats["stopped"] + f.stats["ended"]


def test_near_ties_fall_back_to_lm_eval_generation(lms):
    """With an infinite margin every greedy token counts as a near tie: each request is then
    generated by lm-eval itself, on the batches lm-eval would use."""
    _, stock, fast = lms
    reqs = _requests(_items("parity", "length", 6) + _items("count", "test", 5))
    f = fast(margin=(math.inf, 0.0))
    theirs = stock.generate_until(reqs, disable_tqdm=True)
    ours = f.generate_until(reqs, disable_tqdm=True)
    assert ours == theirs
    assert f.stats["undecided:near_tie"] == len(reqs) == f.stats["fallback_examples"]
    assert f.stats["fallback_batches"] == 4  # the 2 + 2 batches of 4 lm-eval would run


def test_non_greedy_generation_config_falls_back(lms):
    """A generation config with a logits processor (repetition penalty) is not plain argmax
    decoding: lm-eval generates those requests."""
    lm, stock, fast = lms
    reqs = _requests(_items("parity", "test", 4))
    old = lm.generation_config.repetition_penalty
    lm.generation_config.repetition_penalty = 1.3
    try:
        f = fast()
        ours = f.generate_until(reqs, disable_tqdm=True)
        theirs = stock.generate_until(reqs, disable_tqdm=True)
    finally:
        lm.generation_config.repetition_penalty = old
    assert ours == theirs
    assert f.stats["undecided:not_plain_greedy"] == len(reqs) == f.stats["fallback_examples"]


def test_ambiguous_text_is_extended_by_greedy_tokens(lms):
    """A target written with two leading spaces is teacher-forced as ' ' + ' yes', which the
    model never takes; its own ' yes' is then a possible start of the answer (undecided), so
    the fast path extends it token by token until the stop sequence settles it (right)."""
    _, stock, fast = lms
    reqs = _requests(_items("parity", "test", 8, target=lambda ex: " " + ex.target))
    f = fast()
    ours, theirs = _compare(stock, f, reqs)
    assert f.stats["extension_passes"] >= 1
    right = [
        (o, t) for o, t, r in zip(ours, theirs, reqs, strict=True) if score(t, r.doc["target"])
    ]
    assert right and all(o == t for o, t in right)  # settled at the stop: lm-eval's outputs


# ---------------------------------------------------------------------------- decide()


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR)


def _decide(tok, greedy, gold_text, target, *, sure=None, max_gen_toks=9, **rules):
    rules = Rules(
        until=rules.pop("until", ("\n", "<|endoftext|>")),
        max_gen_toks=max_gen_toks,
        eos_ids=frozenset(rules.pop("eos_ids", [tok.eos_token_id])),
        special_ids=frozenset(rules.pop("special_ids", tok.all_special_ids)),
        pad_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
    )
    gold = tok.encode(gold_text, add_special_tokens=False)
    sure = [True] * len(greedy) if sure is None else sure
    return decide(
        greedy, sure, gold, target, lambda t: tok.decode(t, skip_special_tokens=True), rules
    )


def ids(tok, text):
    return tok.encode(text, add_special_tokens=False)


def test_engine_option():
    from tracr_bench.cli import build_parser
    from tracr_bench.evaluate.run import evaluate
    from tracr_bench.task import TaskError

    parser = build_parser()
    assert parser.parse_args(["eval"]).engine == "fast"
    assert parser.parse_args(["eval", "--engine", "lm-eval"]).engine == "lm-eval"
    assert parser.parse_args(["--engine", "lm-eval"]).engine == "lm-eval"
    with pytest.raises(TaskError, match="unknown engine 'nope'"):
        evaluate("default", engine="nope")


def test_decide_right_wrong_and_ended(tok):
    nl, eos = ids(tok, "\n"), [tok.eos_token_id]
    d = _decide(tok, ids(tok, " 407") + nl, " 407", " 407")
    assert d == Decision(" 407", "stopped", ids(tok, " 407") + nl)
    assert score(d.output, " 407")
    d = _decide(tok, ids(tok, " 407") + eos, " 407", " 407")
    assert (d.output, d.kind) == (" 407", "ended")
    d = _decide(tok, ids(tok, " 408"), " 407", " 407")  # diverges at '8': cannot match
    assert (d.output, d.kind) == (" 408", "impossible") and not score(d.output, " 407")
    d = _decide(tok, ids(tok, " 407 1"), " 407", " 407")  # more text after the answer
    assert d.kind == "impossible"
    d = _decide(tok, ids(tok, " 4") + nl, " 407", " 407")  # stops early: wrong, and final
    assert (d.output, d.kind) == (" 4", "stopped")
    d = _decide(tok, ids(tok, " 407"), " 407", " 407", max_gen_toks=3)  # out of tokens
    assert (d.output, d.kind) == (" 407", "ended")


def test_decide_undecidable_cases(tok):
    nl = ids(tok, "\n")
    # whitespace so far: anything may follow
    assert _decide(tok, ids(tok, " "), " 407", " 407").kind == "ambiguous"
    # the answer's start in another tokenization (one token ' yesterday' against ' yes')
    assert ids(tok, " yesterday") != ids(tok, " yes") + ids(tok, "terday")
    assert _decide(tok, ids(tok, " yes"), " yesterday", " yesterday").kind == "ambiguous"
    # the answer followed by a space: it may still end right there (strip) or go on
    assert _decide(tok, ids(tok, " 407 "), " 407", " 407").kind == "ambiguous"
    # a near tie on the way
    d = _decide(tok, ids(tok, " 407") + nl, " 407", " 407", sure=[True, False, True, True])
    assert d.output is None and d.kind == "near_tie"
    # a partial UTF-8 character
    euro = ids(tok, " €")
    assert len(euro) > 1
    d = _decide(tok, euro[:-1] + ids(tok, "x"), " €", " €")
    assert d.kind == "unstable_decode"
    # a special token that is not EOS: decoding skips it and generation goes on
    sep = ids(tok, "x")[0]
    assert _decide(tok, [sep], " 407", " 407", special_ids=[sep, 0]).kind == "special_token"
    # no newline among the stop sequences: the first-line rule does not apply
    assert _decide(tok, ids(tok, " 407"), " 407", " 407", until=("<|endoftext|>",)).output is None
