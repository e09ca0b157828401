"""The leaderboard's submissions: ``tracr-bench submit RESULTS.json``.

A submission is the results JSON that ``tracr-bench eval`` writes, unchanged, plus a
``submission`` block (schema ``data/leaderboard/submission-v1.schema.json``, version 1)::

    "submission": {
      "schema_version": 1,
      "name": "default LM + tracr (parity)",     # the row's name; seeds of one name share a row
      "method": "none" | "baseline" | "tracr" | "other",
      "task": "parity" | null,                    # the task the model was trained on (null: none)
      "base_model": {"name": "default LM", "weights_sha256": {"model.safetensors": "..."}},
      "submitted_by": "...", "date": "YYYY-MM-DD",
      "seeds": {"train": 0 | null, "eval": 0},    # train: null only for method none
      "results_sha256": "...",                    # sha256 of the canonical results payload
      "injection": {...} | null,                  # the model's injection.json (loss log dropped)
      "notes": "..." | null
    }

The hashes a submission is checked against:

- ``submission.results_sha256`` is the sha256 of the results payload (the whole file without
  the ``submission`` block) serialised canonically (``json.dumps(sort_keys=True,
  separators=(",", ":"), ensure_ascii=False)``, UTF-8). ``submit`` computes it; a file that
  already carries a ``submission`` block must match it, and every file under ``leaderboard/``
  is re-checked whenever the tables are rendered, so an edited number is caught.
- ``tracr_bench.retention.text_sha256`` must be the sha256 of the retention shard that ships
  with the package (perplexity ratios compare like with like).
- ``tracr_bench.model.weights_sha256`` must match the weights files of the evaluated model
  folder when that folder exists on the submitting machine (always for the shipped default LM).

Each rejection is a :class:`SubmissionError` with a one-line reason.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tracr_bench.files import write_text_atomic
from tracr_bench.task import TaskError, all_tasks

SCHEMA_VERSION = 1
SCHEMA_FILE = (
    Path(__file__).parent.parent
    / "data"
    / "leaderboard"
    / f"submission-v{SCHEMA_VERSION}.schema.json"
)
METHODS = ("none", "baseline", "tracr", "other")
SUBMISSIONS = "submissions"  # the folder of submission files inside the leaderboard folder
DEFAULT_LM_NAME = "default LM"
INJECTION_RECORD = "injection.json"
LEADERBOARD_ENV = "TRACR_BENCH_LEADERBOARD"


class SubmissionError(TaskError):
    """A submission that is rejected; the message is one line with the reason."""


# ---------------------------------------------------------------------------- helpers


def default_dir() -> Path:
    """``$TRACR_BENCH_LEADERBOARD``, else the checkout's ``leaderboard/`` (the package sits in a
    git checkout), else ``./leaderboard``."""
    env = os.environ.get(LEADERBOARD_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "leaderboard").is_dir() and (repo / "pyproject.toml").is_file():
        return repo / "leaderboard"
    return Path("leaderboard")


def payload(doc: dict) -> dict:
    """The results payload: the file without its ``submission`` block."""
    return {k: v for k, v in doc.items() if k != "submission"}


def results_sha256(doc: dict) -> str:
    text = json.dumps(payload(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def weights_id(weights: dict[str, str]) -> str:
    """A short id of a model's weights: the sha256 of its one weights file, else of the sorted
    ``name:sha`` lines, 12 hex digits."""
    w = weights_key(weights)
    if len(w) == 1:
        return next(iter(w.values()))[:12]
    text = "\n".join(f"{k}:{v}" for k, v in sorted(w.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def weights_key(weights: dict[str, str]) -> dict[str, str]:
    """The safetensors files of a weights digest (the injector records only those), or all."""
    st = {k: v for k, v in weights.items() if k.endswith(".safetensors")}
    return st or dict(weights)


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:60].strip("-") or "model"


@cache
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text("utf-8"))


@cache
def shipped_retention_sha256() -> str | None:
    from tracr_bench.evaluate.retention import retention_digest
    from tracr_bench.models import heldout_text

    try:
        return retention_digest(heldout_text("retention"))
    except FileNotFoundError:  # pragma: no cover - a broken install
        return None


@cache
def default_lm_weights() -> dict[str, str]:
    from tracr_bench.models import DEFAULT_MODEL_DIR

    record = DEFAULT_MODEL_DIR / "pretraining.json"
    try:
        sha = json.loads(record.read_text()).get("weights_sha256")
    except (OSError, ValueError):  # pragma: no cover
        return {}
    return {"model.safetensors": sha} if sha else {}


def _default_lm_seed() -> int | None:
    from tracr_bench.models import DEFAULT_MODEL_DIR

    try:
        rec = json.loads((DEFAULT_MODEL_DIR / "pretraining.json").read_text())
    except (OSError, ValueError):  # pragma: no cover
        return None
    seed = rec.get("seed", rec.get("config", {}).get("seed") if rec.get("config") else None)
    return seed if isinstance(seed, int) else None


def _is_default_lm(weights: dict[str, str]) -> bool:
    dflt = default_lm_weights()
    return bool(dflt) and weights_key(weights) == dflt


def _fmt_path(path: list) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


# ---------------------------------------------------------------------------- validation


def validate(doc: object, *, check_files: bool = False, allow_stale: bool = False) -> None:
    """Raise a one-line SubmissionError unless ``doc`` is a valid submission for the current
    task registry. ``check_files``: also hash the evaluated model's weights where they exist;
    ``allow_stale``: accept results on an older task version (the tables leave them out)."""
    if not isinstance(doc, dict):
        raise SubmissionError("not a results file: the top level is not a JSON object")
    tb = doc.get("tracr_bench")
    if not isinstance(tb, dict):
        raise SubmissionError(
            "not a tracr-bench results file: no `tracr_bench` block (write one with "
            "`tracr-bench eval --output FILE`)"
        )
    sub = doc.get("submission")
    if not isinstance(sub, dict):
        raise SubmissionError("no `submission` block (add one with `tracr-bench submit`)")
    version = sub.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SubmissionError(
            f"submission schema version {version!r} is not supported (this tracr-bench reads "
            f"version {SCHEMA_VERSION})"
        )
    # the seeds first, so that a missing one is named as such
    if not isinstance(tb.get("seed"), int) or isinstance(tb.get("seed"), bool):
        raise SubmissionError(
            "missing seed: the results record no evaluation seed (tracr_bench.seed); "
            "re-run `tracr-bench eval --seed S --output FILE`"
        )
    seeds = sub.get("seeds") if isinstance(sub.get("seeds"), dict) else {}
    if not isinstance(seeds.get("eval"), int):
        raise SubmissionError("missing seed: submission.seeds.eval is not set")
    if sub.get("method") != "none" and not isinstance(seeds.get("train"), int):
        raise SubmissionError(
            f"missing seed: a {sub.get('method')} run needs its training seed "
            "(the model folder has no injection.json with one; give --seed N)"
        )

    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        # the tracr_bench block and the submission block name the error best
        ours = [e for e in errors if list(e.absolute_path)[:1] in (["tracr_bench"], ["submission"])]
        err = jsonschema.exceptions.best_match(ours or errors)
        path = list(err.absolute_path)
        where = _fmt_path(path)
        if len(path) >= 3 and path[:2] == ["tracr_bench", "splits"] and isinstance(path[2], int):
            row = tb["splits"][path[2]]
            if isinstance(row, dict):
                where = f"{row.get('task')}/{row.get('split')} {_fmt_path(path[3:])}"
        msg = err.message if len(err.message) <= 160 else err.message[:157] + "..."
        kind = "out of range" if err.validator in ("minimum", "maximum") else "schema violation"
        raise SubmissionError(f"{kind}: {where}: {msg}")

    recorded = sub["results_sha256"]
    actual = results_sha256(doc)
    if recorded != actual:
        raise SubmissionError(
            f"hash mismatch: submission.results_sha256 is {recorded[:12]}... but the results in "
            f"the file hash to {actual[:12]}... (the results were edited after submission)"
        )

    if sub["seeds"]["eval"] != tb["seed"]:
        raise SubmissionError(
            f"submission.seeds.eval ({sub['seeds']['eval']}) differs from the evaluation seed "
            f"of the results (tracr_bench.seed = {tb['seed']})"
        )
    check_tasks(doc, allow_stale=allow_stale)
    check_consistency(doc)
    check_retention(doc)
    if check_files:
        check_model_files(doc)


def stale_tasks(doc: dict) -> dict[str, tuple[int, int]]:
    """Tasks of ``doc`` evaluated at another version than the current one: name -> (theirs,
    current)."""
    tasks = all_tasks()
    return {
        name: (v, tasks[name].version)
        for name, v in sorted(doc["tracr_bench"]["task_versions"].items())
        if name in tasks and v != tasks[name].version
    }


def check_tasks(doc: dict, *, allow_stale: bool = False) -> None:
    """Unknown tasks and splits, and results computed on an older task version."""
    tasks = all_tasks()
    tb = doc["tracr_bench"]
    sub = doc["submission"]
    for name, version in sorted(tb["task_versions"].items()):
        if name not in tasks:
            raise SubmissionError(
                f"unknown task {name!r} in tracr_bench.task_versions; the tasks are: "
                f"{', '.join(sorted(tasks))}"
            )
        current = tasks[name].version
        if version != current and not allow_stale:
            raise SubmissionError(
                f"task {name!r} was evaluated at version {version} but the current version is "
                f"{current}; re-run `tracr-bench eval` with this tracr-bench"
            )
    for row in tb["splits"]:
        name, split = row["task"], row["split"]
        if name not in tasks:
            raise SubmissionError(
                f"unknown task {name!r} in tracr_bench.splits; the tasks are: "
                f"{', '.join(sorted(tasks))}"
            )
        if name not in tb["task_versions"]:
            raise SubmissionError(f"task {name!r} has results but no entry in task_versions")
        if split not in tasks[name].eval_splits:
            raise SubmissionError(
                f"unknown split {split!r} of task {name!r}; its evaluation splits are: "
                f"{', '.join(tasks[name].eval_splits)}"
            )
    pairs = [(r["task"], r["split"]) for r in tb["splits"]]
    if len(set(pairs)) != len(pairs):
        raise SubmissionError("a task/split appears twice in tracr_bench.splits")
    trained = sub.get("task")
    if trained is not None:
        if trained not in tasks:
            raise SubmissionError(
                f"unknown task {trained!r} in submission.task; the tasks are: "
                f"{', '.join(sorted(tasks))}"
            )
        if trained not in tb["task_versions"]:
            raise SubmissionError(
                f"the model was trained on {trained!r} but the results do not evaluate it"
            )
    inj = sub.get("injection") or {}
    inj_task, inj_version = inj.get("task"), inj.get("task_version")
    if (
        not allow_stale
        and inj_task in tasks
        and isinstance(inj_version, int)
        and inj_version != tasks[inj_task].version
    ):
        raise SubmissionError(
            f"the model was injected at version {inj_version} of task {inj_task!r} but the "
            f"current version is {tasks[inj_task].version}; inject it again"
        )


def check_consistency(doc: dict) -> None:
    """The ``tracr_bench`` rows agree with lm-eval's own blocks, and no count is out of range."""
    from tracr_bench.evaluate.lm_eval_data import task_name
    from tracr_bench.evaluate.retention import RETENTION_TASK, RETENTION_VERSION

    tasks = all_tasks()
    tb = doc["tracr_bench"]
    results, counts = doc["results"], doc["n-samples"]
    if not any(r["accuracy"] is not None for r in tb["splits"]):
        raise SubmissionError("the results hold no accuracy for any split")
    for row in tb["splits"]:
        where = f"{row['task']}/{row['split']}"
        if row["lm_eval_task"] != task_name(row["task"], row["split"]):
            raise SubmissionError(f"{where}: lm_eval_task {row['lm_eval_task']!r} is not its own")
        if row["accuracy"] is None:
            continue
        size = tasks[row["task"]].split(row["split"]).size
        n = row["n"]
        if n is None or not 1 <= n <= size:
            raise SubmissionError(
                f"out of range: {where}: n = {n} examples, the split has 1 to {size}"
            )
        limit = tb["limit"]
        if limit is not None and n > limit:
            raise SubmissionError(f"out of range: {where}: n = {n} exceeds the limit {limit}")
        block = results.get(row["lm_eval_task"])
        if not isinstance(block, dict) or block.get("exact_match,none") != row["accuracy"]:
            theirs = block.get("exact_match,none") if isinstance(block, dict) else None
            raise SubmissionError(
                f"{where}: accuracy {row['accuracy']} disagrees with lm-eval's results "
                f"({theirs}) in the same file"
            )
        effective = counts.get(row["lm_eval_task"], {}).get("effective")
        if effective != n:
            raise SubmissionError(
                f"{where}: n = {n} disagrees with lm-eval's n-samples ({effective})"
            )
    ret = tb["retention"]
    if ret is not None:
        block = results.get(RETENTION_TASK)
        theirs = block.get("word_perplexity,none") if isinstance(block, dict) else None
        if theirs != ret["word_perplexity"]:
            raise SubmissionError(
                f"retention word perplexity {ret['word_perplexity']} disagrees with lm-eval's "
                f"results ({theirs}) in the same file"
            )
        version = doc["versions"].get(RETENTION_TASK)
        if version is not None and version != RETENTION_VERSION:
            raise SubmissionError(
                f"retention was measured at version {version} of {RETENTION_TASK} but the "
                f"current version is {RETENTION_VERSION}; re-run `tracr-bench eval`"
            )


def check_retention(doc: dict) -> None:
    ret = doc["tracr_bench"]["retention"]
    if ret is None:
        return
    shipped = shipped_retention_sha256()
    if shipped is not None and ret["text_sha256"] != shipped:
        raise SubmissionError(
            f"hash mismatch: retention was measured on a text with sha256 "
            f"{ret['text_sha256'][:12]}..., not the shipped retention shard ({shipped[:12]}...)"
        )


def check_model_files(doc: dict) -> None:
    """The recorded weights hashes against the evaluated model folder, where it exists."""
    from tracr_bench.models import weights_digest

    model = doc["tracr_bench"]["model"]
    recorded = model["weights_sha256"]
    path = Path(model["path"])
    if model.get("requested") == "default" and not path.is_dir():
        from tracr_bench.models import DEFAULT_MODEL_DIR

        path = DEFAULT_MODEL_DIR
    if not path.is_dir():
        return  # evaluated elsewhere: the results hash is all there is to check
    actual = weights_digest(path)
    for name, sha in sorted(recorded.items()):
        if name not in actual:
            raise SubmissionError(
                f"hash mismatch: the results record weights file {name!r} but {path} has none"
            )
        if actual[name] != sha:
            raise SubmissionError(
                f"hash mismatch: {path / name} has sha256 {actual[name][:12]}... but the results "
                f"record {sha[:12]}... (the model changed after it was evaluated)"
            )


# ---------------------------------------------------------------------------- the folder


@dataclass(frozen=True)
class Entry:
    path: Path
    doc: dict

    @property
    def sub(self) -> dict:
        return self.doc["submission"]

    @property
    def tb(self) -> dict:
        return self.doc["tracr_bench"]

    def group_key(self) -> tuple:
        sub = self.sub
        return (weights_id(sub["base_model"]["weights_sha256"]), sub["method"], sub["task"] or "")


def submissions_dir(directory: Path | None = None) -> Path:
    return (default_dir() if directory is None else Path(directory)) / SUBMISSIONS


def load_entries(directory: Path | None = None, *, validate_each: bool = True) -> list[Entry]:
    """Every submission file of the leaderboard folder, in file-name order; each is validated
    (schema, results hash); an invalid one is a one-line SubmissionError naming the file."""
    folder = submissions_dir(directory)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(p for p in folder.glob("*.json") if p.is_file()):
        try:
            doc = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as err:
            raise SubmissionError(f"{path}: not readable JSON ({err})") from None
        if validate_each:
            try:  # results on an older task version stay on disk; the tables leave them out
                validate(doc, check_files=False, allow_stale=True)
            except SubmissionError as err:
                raise SubmissionError(f"{path.name}: {err}") from None
        out.append(Entry(path, doc))
    return out


def find_duplicate(doc: dict, entries: Iterable[Entry]) -> str | None:
    """The reason ``doc`` duplicates an existing submission, or None."""
    sub, tb = doc["submission"], doc["tracr_bench"]
    pairs = {(r["task"], r["split"]) for r in tb["splits"]}
    for e in entries:
        if e.sub["results_sha256"] == sub["results_sha256"]:
            return f"duplicate: the same results are already submitted as {e.path.name}"
        same_model = weights_key(e.tb["model"]["weights_sha256"]) == weights_key(
            tb["model"]["weights_sha256"]
        )
        other_pairs = {(r["task"], r["split"]) for r in e.tb["splits"]}
        if (
            same_model
            and e.tb["seed"] == tb["seed"]
            and e.tb["limit"] == tb["limit"]
            and pairs & other_pairs
        ):
            return (
                f"duplicate: model {weights_id(tb['model']['weights_sha256'])} was already "
                f"evaluated with seed {tb['seed']} and limit {tb['limit']} on the same splits "
                f"in {e.path.name}"
            )
        if (
            e.sub["name"] == sub["name"]
            and e.group_key() == Entry(Path(), doc).group_key()
            and e.sub["seeds"]["train"] == sub["seeds"]["train"]
        ):
            return (
                f"duplicate: {sub['name']!r} with training seed {sub['seeds']['train']} is "
                f"already submitted as {e.path.name} (remove that file to replace it)"
            )
    return None


def file_name(doc: dict) -> str:
    sub = doc["submission"]
    train = sub["seeds"]["train"]
    seed = "na" if train is None else str(train)
    return f"{slug(sub['name'])}__seed-{seed}__{sub['results_sha256'][:12]}.json"


def write_new(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, never replacing an existing file."""
    try:
        write_text_atomic(path, text, overwrite=False)
    except FileExistsError:
        raise SubmissionError(f"{path} already exists; a submission is never overwritten") from None


# ---------------------------------------------------------------------------- submit


def _git_user() -> str | None:
    try:
        out = subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    name = out.stdout.strip()
    return name or None


def _read_injection(model_path: Path) -> dict | None:
    record = model_path / INJECTION_RECORD
    if not record.is_file():
        return None
    try:
        data = json.loads(record.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise SubmissionError(f"{record}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise SubmissionError(f"{record}: not a JSON object")
    losses = data.get("losses")
    if isinstance(losses, dict) and "log" in losses:  # the per-step log is long; keep the rest
        data = {**data, "losses": {k: v for k, v in losses.items() if k != "log"}}
    return data


def _base_name(path: str | None, weights: dict[str, str]) -> str:
    if _is_default_lm(weights):
        return DEFAULT_LM_NAME
    if path:
        from tracr_bench.models import DEFAULT_MODEL_DIR

        if Path(path).resolve() == DEFAULT_MODEL_DIR.resolve():
            return DEFAULT_LM_NAME
        return Path(path).name or str(path)
    return f"model {weights_id(weights)}"


def build_submission(
    results: dict,
    *,
    name: str | None = None,
    method: str | None = None,
    task: str | None = None,
    base_model: str | None = None,
    seed: int | None = None,
    submitted_by: str | None = None,
    date: str | None = None,
    notes: str | None = None,
) -> dict:
    """The submission document for ``results`` (an eval results dict). Defaults come from the
    evaluated model folder's ``injection.json`` where there is one; the arguments override."""
    if not isinstance(results, dict) or not isinstance(results.get("tracr_bench"), dict):
        raise SubmissionError(
            "not a tracr-bench results file: no `tracr_bench` block (write one with "
            "`tracr-bench eval --output FILE`)"
        )
    existing = results.get("submission")
    if existing is not None:
        # a prepared submission: its recorded hash must match before anything is changed
        if not isinstance(existing, dict) or existing.get("results_sha256") != results_sha256(
            results
        ):
            raise SubmissionError(
                "hash mismatch: the file's submission.results_sha256 does not match its "
                "results (the results were edited after submission)"
            )
    prev = existing or {}
    tb = results["tracr_bench"]
    model = tb.get("model") if isinstance(tb.get("model"), dict) else {}
    weights = model.get("weights_sha256") if isinstance(model.get("weights_sha256"), dict) else {}
    model_path = Path(model["path"]) if isinstance(model.get("path"), str) else None
    injection = prev.get("injection")
    if injection is None and model_path is not None and model_path.is_dir():
        injection = _read_injection(model_path)
    inj = injection or {}

    if method is None:
        method = prev.get("method") or inj.get("method") or ("none" if not inj else "other")
    if method not in METHODS:
        raise SubmissionError(f"unknown method {method!r}; choose from: {', '.join(METHODS)}")

    # the base model: --base-model, else the injection record, else the model itself (none)
    if base_model is not None:
        from tracr_bench.models import ModelError, resolve_model_path, weights_digest

        try:
            bpath = resolve_model_path(base_model)
        except ModelError as err:
            raise SubmissionError(f"--base-model: {err}") from None
        base = {"name": _base_name(str(bpath), weights_digest(bpath))}
        base["weights_sha256"] = weights_digest(bpath)
    elif prev.get("base_model"):
        base = dict(prev["base_model"])
    elif isinstance(inj.get("base_model"), dict) and inj["base_model"].get("weights_sha256"):
        b = inj["base_model"]
        base = {
            "name": _base_name(b.get("path"), b["weights_sha256"]),
            "weights_sha256": dict(b["weights_sha256"]),
        }
    elif method == "none":
        base = {
            "name": _base_name(str(model_path) if model_path else None, weights),
            "weights_sha256": dict(weights),
        }
    else:
        raise SubmissionError(
            f"a {method} submission needs its base model: the model folder has no "
            f"{INJECTION_RECORD}; give --base-model PATH|default"
        )
    if method == "none" and weights and weights_key(base["weights_sha256"]) != weights_key(weights):
        raise SubmissionError(
            "method none means the evaluated model is its own base, but --base-model has "
            "other weights"
        )

    if task is None:
        task = prev.get("task") if "task" in prev else inj.get("task")
    if seed is None:
        seed = (prev.get("seeds") or {}).get("train")
        if seed is None:
            seed = inj.get("seed")
        if seed is None and method == "none" and _is_default_lm(weights):
            seed = _default_lm_seed()
    if name is None:
        name = prev.get("name")
    if name is None:
        name = base["name"] if method == "none" else f"{base['name']} + {method} ({task})"
    if method == "none":
        base = {**base, "name": name}  # a base model is known by its own row's name
    submitted_by = submitted_by or prev.get("submitted_by") or _git_user()
    if not submitted_by:
        raise SubmissionError("who submits? give --by NAME (no git user.name is set)")
    if date is None:
        date = prev.get("date") or _dt.datetime.now(_dt.timezone.utc).date().isoformat()
    else:
        try:
            _dt.date.fromisoformat(date)
        except ValueError:
            raise SubmissionError(f"--date must be YYYY-MM-DD, got {date!r}") from None
    eval_seed = tb.get("seed")
    doc = payload(results)
    doc["submission"] = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "method": method,
        "task": task,
        "base_model": base,
        "submitted_by": submitted_by,
        "date": date,
        "seeds": {"train": seed, "eval": eval_seed},
        "results_sha256": results_sha256(results),
        "injection": injection,
        "notes": notes if notes is not None else prev.get("notes"),
    }
    return doc


def submit(
    results_file: str | Path,
    *,
    directory: str | Path | None = None,
    dry_run: bool = False,
    **options,
) -> tuple[Path, dict]:
    """Validate ``results_file`` and write it as a new submission; returns (path, document).
    Every rejection is a one-line SubmissionError."""
    src = Path(results_file)
    if not src.is_file():
        raise SubmissionError(f"results file {str(src)!r} does not exist")
    try:
        results = json.loads(src.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise SubmissionError(f"{src}: not readable JSON ({err})") from None
    doc = build_submission(results, **options)
    validate(doc, check_files=True)
    root = default_dir() if directory is None else Path(directory)
    entries = load_entries(root)
    dup = find_duplicate(doc, entries)
    if dup:
        raise SubmissionError(dup)
    folder = submissions_dir(root)
    path = folder / file_name(doc)
    if path.exists():
        raise SubmissionError(f"{path} already exists; a submission is never overwritten")
    if not dry_run:
        folder.mkdir(parents=True, exist_ok=True)
        write_new(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return path, doc


__all__ = [
    "METHODS",
    "SCHEMA_VERSION",
    "Entry",
    "SubmissionError",
    "build_submission",
    "default_dir",
    "find_duplicate",
    "load_entries",
    "results_sha256",
    "submit",
    "validate",
]
