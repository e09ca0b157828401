"""``tracr_bench.task.strategies`` and ``tracr-bench search``: valid inputs, shrinking toward
short and simple inputs, a model that is wrong on purpose beyond length K (the search must shrink
a counterexample to length exactly K and report frontier K - 1), the scoring path against
lm-eval's, the command line (and its old name ``probe``), its ``--output`` file (the JSON
``--json`` prints, refused before the model loads if it exists or its folder is missing, never
left half-written) and its bad inputs."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from tests._tiny_lm import save_tiny_lm, shared_tiny_lm
from tracr_bench.cli import main
from tracr_bench.evaluate.runner import ModelRunner
from tracr_bench.evaluate.search import search_failures
from tracr_bench.task import TaskError, all_tasks, get_task, strategies

FAST = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


# ---------------------------------------------------------------------------- strategies


@FAST
@given(st.data())
def test_inputs_come_from_the_split(data):
    task = all_tasks()[data.draw(st.sampled_from(sorted(all_tasks())))]
    split = data.draw(st.sampled_from(list(task.splits)))
    sp = task.split(split)
    inp = data.draw(strategies.inputs(task, split))
    assert isinstance(inp, tuple) and all(isinstance(s, str) for s in inp)
    assert sp.min_length <= len(inp) <= sp.max_length
    if sp.enumerate is not None:
        assert inp in {tuple(i) for i in sp.enumerate()}
    ex = data.draw(strategies.examples(task, split))
    assert ex == task.example(ex.input)


@FAST
@given(st.data())
def test_length_bounds(data):
    task = all_tasks()[data.draw(st.sampled_from(sorted(all_tasks())))]
    avail = strategies.lengths(task)
    lo = data.draw(st.sampled_from(avail))
    hi = data.draw(st.sampled_from([n for n in avail if n >= lo]))
    inp = data.draw(strategies.inputs(task, min_length=lo, max_length=hi))
    assert lo <= len(inp) <= hi
    src = strategies.domain_sources(task)[len(inp)]
    assert inp in strategies.length_pool(task, src).by_length[len(inp)]


def test_domain_is_train_then_length_split():
    task = get_task("parity")
    src = strategies.domain_sources(task)
    assert min(src) == 4 and max(src) == 40
    assert {src[n] for n in range(4, 17)} == {"train"}
    assert {src[n] for n in range(17, 41)} == {"length"}
    assert strategies.length_range(task) == (4, 40)
    assert strategies.length_range(task, "length") == (17, 40)


def test_shrinks_to_shortest_and_simplest():
    # the split's own generator, hypothesis' random: length and content both shrink
    assert find(strategies.inputs("count", "length"), lambda x: len(x) >= 50) == ("y",) * 50
    # length first: exactly the shortest length, then the simplest pooled input of it
    found = find(strategies.inputs("parity"), lambda x: len(x) >= 23)
    assert len(found) == 23
    assert found == strategies.length_pool(get_task("parity"), "length").by_length[23][0]
    assert find(strategies.inputs("parity"), lambda x: len(x) >= 5) == ("0",) * 5


def test_bad_strategy_arguments():
    with pytest.raises(TaskError, match="unknown split"):
        strategies.inputs("parity", "nosplit")
    with pytest.raises(TaskError, match="no input of parity"):
        strategies.inputs("parity", "length", min_length=50)
    with pytest.raises(TaskError, match="unknown task"):
        strategies.inputs("nosuchtask")


# ---------------------------------------------------------------------------- search


class WrongFromK(ModelRunner):
    """Answers parity right below length ``k`` and wrong from length ``k`` on."""

    def __init__(self, k: int):
        super().__init__(None, None)
        self.k = k
        self.prompts_seen = 0

    max_length = 10**6

    def prompt_tokens(self, prompts):
        return [len(p.split()) for p in prompts]

    def _generate(self, prompts, max_new_tokens):
        self.prompts_seen += len(prompts)
        out = []
        for p in prompts:
            bits = p.split("? ", 1)[1].split("\n")[0].split()
            right = " yes" if bits.count("1") % 2 else " no"
            out.append(right if len(bits) < self.k else {" yes": " no", " no": " yes"}[right])
        return out


@pytest.mark.parametrize("k", [5, 12, 17, 29, 40])
def test_search_finds_and_shrinks_to_k(k):
    task = get_task("parity")
    runner = WrongFromK(k)
    res = search_failures(runner, task, max_examples=60, seed=0)
    assert res.lengths == (4, 40) and res.train_lengths == (4, 16)
    assert res.failures > 0 and res.tried > 30
    assert res.minimal_failure["length"] == k
    assert res.shortest_failing_length == k and res.frontier == k - 1
    m = res.minimal_failure
    assert m["target"] == task.target(tuple(m["input"])) and m["answer"] != m["target"]
    # failure rate over the examples tried, consistent with the per-length counts
    assert res.tried == sum(t for t, _ in res.per_length.values())
    assert res.failures == sum(f for n, (_, f) in res.per_length.items() if n >= k)
    assert all(f == 0 for n, (_, f) in res.per_length.items() if n < k)
    assert res.failure_rate == pytest.approx(res.failures / res.tried)
    # answers are batched: far fewer model batches than prompts
    assert res.generate_batches < runner.prompts_seen


def test_search_no_failure_and_reproducible():
    res = search_failures(WrongFromK(99), "parity", max_examples=40, seed=3)
    assert res.failures == 0 and res.minimal_failure is None
    assert res.frontier == max(res.per_length) <= 40
    a = search_failures(WrongFromK(20), "parity", max_examples=40, seed=3).to_dict()
    b = search_failures(WrongFromK(20), "parity", max_examples=40, seed=3).to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_search_one_split_and_bounds():
    res = search_failures(WrongFromK(30), "parity", split="length", max_examples=30, max_length=35)
    assert res.domain == "length" and res.lengths == (17, 35)
    assert res.minimal_failure["length"] == 30 and res.frontier == 29
    with pytest.raises(TaskError, match="--max-examples must be at least 1"):
        search_failures(WrongFromK(3), "parity", max_examples=0)


def test_search_skips_lengths_beyond_context():
    class Short(WrongFromK):
        max_length = 40  # "tokens" = words here: 10 words + the bits, 8 to generate

    res = search_failures(Short(99), "parity", max_examples=20)
    assert res.lengths == (4, 21) and "exceed the model's context" in res.context_note


# ---------------------------------------------------------------------------- a real model


@pytest.fixture(scope="module")
def tiny_parity_lm(tmp_path_factory):
    return shared_tiny_lm(tmp_path_factory)


@pytest.fixture(scope="module")
def random_lm(tmp_path_factory):
    return save_tiny_lm(tmp_path_factory.mktemp("random_lm"), train_steps=0)


def test_answers_equal_lm_eval_generation(random_lm):
    """Batched, padded generation gives lm-eval's unpadded (batch 1) answers."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from tracr_bench.evaluate.lm_eval_configs import max_gen_toks
    from tracr_bench.evaluate.scoring import score
    from tracr_bench.models import load_model

    task = get_task("count")
    exs = task.examples("length", 10)
    lm, tok = load_model(random_lm)
    hflm = HFLM(pretrained=lm, tokenizer=tok, batch_size=1)
    gen = {"until": ["\n"], "do_sample": False, "max_gen_toks": max_gen_toks(task, "length")}
    reqs = [Instance("generate_until", {}, (e.prompt, gen), i) for i, e in enumerate(exs)]
    theirs = hflm.generate_until(reqs, disable_tqdm=True)
    runner = ModelRunner.load(random_lm, batch_size=4)
    ours = runner.answers(task, [e.input for e in exs], "length")
    assert ours == theirs
    assert len(set(ours)) > 1  # not a vacuous comparison
    exact = sum(score(g, e.target) for g, e in zip(ours, exs, strict=True)) / len(exs)
    assert runner.accuracy(task, "length", limit=10) == exact


def _cli(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_search_cli(tiny_parity_lm, capsys):
    argv = ["search", "--model", str(tiny_parity_lm), "--task", "parity", "--max-examples", "12"]
    rc, out, _ = _cli([*argv, "--json"], capsys)
    assert rc == 0
    res = json.loads(out)
    assert res["task"] == "parity" and res["tried"] >= 6 and res["max_examples"] == 12
    assert 0 <= res["failure_rate"] <= 1
    if res["failures"]:
        assert res["frontier"] == res["minimal_failure"]["length"] - 1
    rc, again, _ = _cli([*argv, "--json"], capsys)
    res2 = json.loads(again)
    res.pop("seconds"), res2.pop("seconds")
    assert res == res2
    rc, out, err = _cli(argv, capsys)
    assert rc == 0 and "inputs wrong" in out and "length frontier" in out and "tried" in err


def test_search_output_writes_what_json_prints(tiny_parity_lm, tmp_path, capsys):
    argv = ["search", "--model", str(tiny_parity_lm), "--task", "parity", "--max-examples", "12"]
    rc, printed, _ = _cli([*argv, "--json"], capsys)
    out = tmp_path / "search.json"
    rc2, summary, err = _cli([*argv, "--output", str(out)], capsys)
    assert rc == rc2 == 0
    assert "inputs wrong" in summary and f"results written to {out}" in err
    written, expected = json.loads(out.read_text()), json.loads(printed)
    written.pop("seconds"), expected.pop("seconds")
    assert written == expected
    # with --json too: the same bytes on stdout and in the file; --overwrite replaces a file
    again = tmp_path / "again.json"
    again.write_text("old")
    rc, printed, err = _cli([*argv, "--json", "--output", str(again), "--overwrite"], capsys)
    assert rc == 0 and printed == again.read_text() and "results written to" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.json", "search.json"]


@pytest.mark.parametrize(
    "target, message",
    [("old.json", "exists; pass --overwrite"), ("no/search.json", "is missing; create it first")],
)
def test_search_output_refused_before_the_model_loads(
    target, message, tiny_parity_lm, tmp_path, capsys, monkeypatch
):
    def no_load(*_args, **_kwargs):
        raise AssertionError("the model was loaded before --output was checked")

    monkeypatch.setattr(ModelRunner, "load", no_load)
    old = tmp_path / "old.json"
    old.write_bytes(b'{"kept": true}\n')
    argv = ["search", "--model", str(tiny_parity_lm), "--task", "parity", "--max-examples", "2"]
    rc, out, err = _cli([*argv, "--output", str(tmp_path / target)], capsys)
    assert rc == 2 and not out and len(err.strip().splitlines()) == 1
    assert err.startswith("tracr-bench: error: ") and message in err
    assert old.read_bytes() == b'{"kept": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["old.json"]


@pytest.mark.parametrize("fault", [RuntimeError, KeyboardInterrupt])
def test_search_fault_or_ctrl_c_leaves_no_output(
    fault, tiny_parity_lm, tmp_path, monkeypatch, capsys
):
    def stop(*_args, **_kwargs):
        raise fault("in the middle of the search")

    monkeypatch.setattr(ModelRunner, "_generate", stop)
    out = tmp_path / "search.json"
    argv = ["search", "--model", str(tiny_parity_lm), "--task", "parity", "--max-examples", "2"]
    if fault is KeyboardInterrupt:  # main says so in one line, exit 130
        assert main([*argv, "--output", str(out)]) == 130
        assert capsys.readouterr().err.startswith("tracr-bench: search interrupted")
    else:
        with pytest.raises(RuntimeError, match="in the middle"):
            main([*argv, "--output", str(out)])
    assert list(tmp_path.iterdir()) == []


def test_probe_is_the_old_name_of_search():
    from tracr_bench.cli import build_parser
    from tracr_bench.evaluate.cli import cmd_search

    parser = build_parser()
    for name in ("search", "probe"):
        args = parser.parse_args([name, "--task", "parity", "--max-examples", "3"])
        assert args.func is cmd_search and args.max_examples == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "nosuchtask"], "unknown task 'nosuchtask'"),
        (["--task", "parity", "--max-examples", "0"], "--max-examples must be at least 1"),
        (["--task", "parity", "--model", "/nonexistent/model"], "does not exist"),
        (["--task", "parity", "--split", "nosplit"], "unknown split 'nosplit'"),
        (["--task", "parity", "--min-length", "99"], "no input of parity"),
    ],
)
def test_search_bad_input(args, message, tiny_parity_lm, capsys):
    rc, out, err = _cli(["search", "--model", str(tiny_parity_lm), *args], capsys)
    assert rc == 2 and not out
    assert err.startswith("tracr-bench: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
