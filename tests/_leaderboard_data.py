"""Results files for the leaderboard tests, built from a real ``tracr-bench eval`` output.

``data/leaderboard/eval_default_parity_limit5.json`` was written by
``tracr-bench eval --model default --tasks parity --limit 5 --output FILE``; :func:`results`
keeps its structure (lm-eval's blocks, the ``tracr_bench`` block) and sets the numbers, the
evaluated model and the seeds, keeping lm-eval's blocks consistent with the ``tracr_bench`` rows.
:func:`submit_cli` submits one through the command line, :func:`rejected` checks a rejection.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tracr_bench.cli import main
from tracr_bench.evaluate.lm_eval_data import task_name
from tracr_bench.evaluate.retention import RETENTION_TASK, RETENTION_VERSION
from tracr_bench.leaderboard.figures import shard_counts, stderr_of_mean
from tracr_bench.models import DEFAULT_MODEL_DIR, weights_digest
from tracr_bench.task import get_task

TEMPLATE = Path(__file__).parent / "data" / "leaderboard" / "eval_default_parity_limit5.json"
BY = ["--by", "tester", "--date", "2026-01-02"]


def template() -> dict:
    data = json.loads(TEMPLATE.read_text("utf-8"))
    data["tracr_bench"]["model"]["path"] = str(DEFAULT_MODEL_DIR)  # wherever the checkout is
    return data


def fake_model(root: Path, name: str, injection: dict | None = None) -> Path:
    """A model folder whose weights file is unique to ``name`` (only its hash matters here)."""
    path = root / name
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "model.safetensors").write_bytes(f"weights of {name}".encode() * 16)
    if injection is not None:
        (path / "injection.json").write_text(json.dumps(injection))
    return path


def injection(base: Path, task: str, method: str, seed: int | None) -> dict:
    rec = {
        "task": task,
        "task_version": get_task(task).version,
        "method": method,
        "base_model": {"requested": str(base), "path": str(base), "weights_sha256": {}},
        "config": {"steps": 10, "lr": 1e-4},
        "losses": {"final": {"ce": 0.1}, "log": [{"step": i, "ce": 1.0} for i in range(50)]},
    }
    if seed is not None:
        rec["seed"] = seed
    rec["base_model"]["weights_sha256"] = {
        k: v for k, v in weights_digest(base).items() if k.endswith(".safetensors")
    }
    return rec


def results(
    model: Path,
    accuracies: dict[tuple[str, str], float],
    *,
    seed: int = 0,
    limit: int | None = 20,
    word_perplexity: float | None = 150.0,
    requested: str | None = None,
) -> dict:
    """An eval results dict for ``model`` with the given accuracy per (task, split), on
    ``limit`` examples per split (the accuracies must be whole numbers of correct answers out
    of that: multiples of 0.05 for the default 20)."""
    data = template()
    tb = data["tracr_bench"]
    row_tpl = tb["splits"][0]
    ret_name = RETENTION_TASK
    ret_block = data["results"][ret_name]
    data["results"], data["n-samples"], data["versions"] = {}, {}, {}
    data["configs"] = {}
    data["higher_is_better"] = {}
    data["n-shot"] = {}
    tb["splits"] = []
    for (task, split), acc in accuracies.items():
        name = task_name(task, split)
        size = get_task(task).split(split).size
        n = size if limit is None else min(limit, size)
        row = copy.deepcopy(row_tpl)
        row.update(task=task, split=split, lm_eval_task=name, n=n, accuracy=acc)
        row["stderr"] = stderr_of_mean(acc, n)  # lm-eval's, as the checks recompute it
        row["length_buckets"] = []
        tb["splits"].append(row)
        data["results"][name] = {
            "name": name,
            "alias": name,
            "sample_len": n,
            "exact_match,none": acc,
            "exact_match_stderr,none": "N/A" if row["stderr"] is None else row["stderr"],
        }
        data["n-samples"][name] = {"original": size, "effective": n}
        data["versions"][name] = get_task(task).version
    tb["task_versions"] = {t: get_task(t).version for t, _ in accuracies}
    tb["seed"] = seed
    tb["limit"] = limit
    tb["model"].update(
        path=str(model),
        requested=requested or str(model),
        weights_sha256=weights_digest(model),
    )
    if word_perplexity is None:
        tb["retention"] = None
    else:
        figures = retention_figures(word_perplexity, tb["retention"]["documents"])
        data["results"][ret_name] = {**ret_block, **{f"{k},none": v for k, v in figures.items()}}
        data["n-samples"][ret_name] = {"original": 287, "effective": 5}
        data["versions"][ret_name] = RETENTION_VERSION
        tb["retention"].update(figures)
    return data


def retention_figures(word_perplexity: float, documents: int) -> dict[str, float]:
    """The byte perplexity and bits per byte that go with ``word_perplexity`` on the first
    ``documents`` documents of the shipped shard (one log-likelihood for all three)."""
    words, n_bytes = shard_counts(documents)  # type: ignore[misc]
    nll = math.log(word_perplexity) * words
    return {
        "word_perplexity": word_perplexity,
        "byte_perplexity": math.exp(nll / n_bytes),
        "bits_per_byte": nll / (n_bytes * math.log(2)),
    }


def write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=1), "utf-8")
    return path


def parity(test: float, length: float, skewed: float) -> dict:
    return {("parity", "test"): test, ("parity", "length"): length, ("parity", "skewed"): skewed}


def populate(tmp_path: Path) -> tuple[Path, dict]:
    """A leaderboard folder with a base model (parity and count), 3 baseline seeds and 3 tracr
    seeds on parity; returns the folder and the numbers that went in."""
    from tracr_bench.leaderboard.submit import submit

    board = tmp_path / "leaderboard"
    board.mkdir()
    models = tmp_path / "models"
    base = fake_model(models, "base")
    base_accs = parity(0.5, 0.4, 0.6) | {
        ("count", "test"): 0.2,
        ("count", "x_only"): 0.1,
        ("count", "replace_y"): 0.0,
        ("count", "length"): 0.05,
    }
    numbers: dict = {"base": {"accs": base_accs, "ppl": 100.0}}
    path = write(tmp_path / "base.json", results(base, base_accs, word_perplexity=100.0))
    submit(path, directory=board, name="my base", submitted_by="t", date="2026-01-01")
    table = {  # per seed: parity test, length, skewed accuracy and retention word perplexity
        "baseline": [(0.6, 0.2, 0.6, 104.0), (0.7, 0.4, 0.6, 106.0), (0.8, 0.3, 0.6, 102.0)],
        "tracr": [(1.0, 0.9, 1.0, 120.0), (1.0, 0.7, 0.8, 110.0), (0.8, 0.6, 1.0, 130.0)],
    }
    for method, rows in table.items():
        numbers[method] = rows
        for seed, (a, b, c, ppl) in enumerate(rows):
            model = fake_model(models, f"{method}{seed}", injection(base, "parity", method, seed))
            path = write(
                tmp_path / f"{method}{seed}.json",
                results(model, parity(a, b, c), word_perplexity=ppl),
            )
            submit(path, directory=board, submitted_by="t", date="2026-01-01")
    return board, numbers


# ---------------------------------------------------------------------------- the command line


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def submit_cli(path: Path, board: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run(["submit", str(path), "--dir", str(board), *BY, *extra], capsys)


def rejected(rc: int, err: str, board: Path, *words: str) -> None:
    """A rejection: exit 2, one line on stderr naming the reason, nothing written (the
    leaderboard folder, empty before, is still empty, or still missing)."""
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tracr-bench: error: "), err
    for w in words:
        assert w in lines[0], lines[0]
    assert not board.exists() or not any(board.rglob("*")), list(board.rglob("*"))


@contextmanager
def task_version_ahead(name: str) -> Iterator[int]:
    """The registry's task ``name`` one version ahead of the results files, for the duration."""
    task = get_task(name)
    old = task.version
    object.__setattr__(task, "version", old + 1)
    try:
        yield old + 1
    finally:
        object.__setattr__(task, "version", old)


# ---------------------------------------------------------------------------- schema-2 sources


def decode_json(
    model: Path,
    task: str = "parity",
    *,
    accuracy: float = 0.95,
    iia: float | None = 0.9,
    readouts: tuple[str, ...] = ("adapter",),
    layers: int = 2,
) -> dict:
    """A ``tracr-bench decode`` JSON in the layout of ``tracr_bench.decode.report.assemble``
    (the fields the leaderboard reads and some it ignores) for ``model`` on ``task``."""
    out = "final_result"
    cells = {
        str(i): {"accuracy": accuracy if i == layers else 0.1, "positions": 120}
        for i in range(layers + 1)
    }
    probe_cells = {k: {**v, "control_accuracy": 0.5, "selectivity": 0.1} for k, v in cells.items()}
    iia_cells = {str(layers): {"dims": 2, "pairs": 64, "iia": iia, "iia_random": 0.5}}
    return {
        "format": "tracr-bench-decode/1",
        "task": {"name": task, "version": get_task(task).version},
        "model": {
            "requested": str(model),
            "path": str(model),
            "weights_sha256": weights_digest(model),
        },  # fmt: skip
        "program": {"layers": layers, "residual_dims": 20, "output": out, "variables": {}},
        "options": {"splits": ["test", "length"], "limit": 100, "seed": 0},
        "splits": {"test": {"examples": 100, "dropped": 0, "model_accuracy": 0.8}},
        "decoding": {
            r: {s: {out: probe_cells if r == "probe" else cells} for s in ("test", "length")}
            for r in readouts
        },
        "probes": None,
        "interventions": {r: {"test": {"iia": {out: iia_cells}, "noise": None}} for r in readouts},
        "timings": {"total_s": 1.0},
    }


def search_json(
    task: str = "parity",
    per_length: dict[int, list[int]] | None = None,
    *,
    seed: int = 0,
    max_examples: int = 50,
    shortest: int | None = None,
) -> dict:
    """A ``tracr-bench search --json`` output (through ``SearchResult.to_dict``, as the command
    writes it) with the given [tried, failed] per length; ``shortest``: the shortest failing
    length found while shrinking (default: the shortest failing length tried)."""
    from tracr_bench.evaluate.search import SearchResult
    from tracr_bench.task import strategies

    t = get_task(task)
    train = t.splits["train"]
    per_length = per_length if per_length is not None else {4: [5, 0], 10: [5, 0], 20: [5, 2]}
    failing = [n for n, (_, f) in sorted(per_length.items()) if f]
    res = SearchResult(
        task=task,
        domain=strategies.DOMAIN,
        train_lengths=(train.min_length, train.max_length),
        lengths=(min(per_length), max(per_length)),
        max_examples=max_examples,
        seed=seed,
        per_length=per_length,
    )
    res.tried = sum(v[0] for v in per_length.values())
    res.failures = sum(v[1] for v in per_length.values())
    res.failure_rate = res.failures / max(1, res.tried)
    if failing:
        res.shortest_failing_length = shortest if shortest is not None else failing[0]
        res.frontier = res.shortest_failing_length - 1
        n = failing[0]
        res.minimal_failure = {"input": ["0"] * n, "length": n, "prompt": "", "target": "0"}
    else:
        res.frontier = max(per_length)
    return json.loads(json.dumps(res.to_dict()))  # as the file holds it
