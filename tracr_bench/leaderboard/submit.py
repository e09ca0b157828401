"""``tracr-bench submit RESULTS.json``: a results file in, a new submission file out.

In: a results JSON of ``tracr-bench eval`` (or a submission file prepared elsewhere, whose
recorded hash must still match its results), the evaluated model folder's ``injection.json``
where there is one, and the command-line options, which override what that record says.
Out: the submission document (:func:`build_submission`: the results unchanged plus the
``submission`` block of :mod:`tracr_bench.leaderboard.schema`, with the mechanism and length
frontier of :mod:`tracr_bench.leaderboard.measurements` where their files are given), validated,
checked against the files already on the leaderboard, and written under
``leaderboard/submissions/`` of a leaderboard folder that exists, or that ``--init`` asks to
create (:func:`submit`).
Each rejection is a :class:`SubmissionError` with a one-line reason.
"""

from __future__ import annotations

import datetime as _dt
import json
import subprocess
from functools import cache
from pathlib import Path

from tracr_bench.leaderboard.checks import validate
from tracr_bench.leaderboard.entries import (
    file_name,
    find_duplicate,
    load_entries,
    method_label,
    method_variant,
    require_dir,
    submissions_dir,
    write_new,
)
from tracr_bench.leaderboard.measurements import attach_measurements
from tracr_bench.leaderboard.schema import (
    METHODS,
    SCHEMA_VERSION,
    SCHEMA_VERSIONS,
    SubmissionError,
    payload,
    results_sha256,
    weights_id,
    weights_key,
)

DEFAULT_LM_NAME = "default LM"
INJECTION_RECORD = "injection.json"


def submit(
    results_file: str | Path,
    *,
    directory: str | Path | None = None,
    dry_run: bool = False,
    init: bool = False,
    mechanism: str | Path | None = None,
    search: str | Path | None = None,
    **options,
) -> tuple[Path, dict]:
    """Validate ``results_file`` and write it as a new submission; returns (path, document).
    ``directory``: the leaderboard folder, which must exist unless ``init``; ``mechanism`` and
    ``search``: a decode JSON and a search JSON whose figures the submission keeps (schema
    version 2). Every rejection is a one-line SubmissionError, and then nothing is written."""
    root = require_dir(directory, init=init)
    src = Path(results_file)
    if not src.is_file():
        raise SubmissionError(f"results file {str(src)!r} does not exist")
    try:
        results = json.loads(src.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise SubmissionError(f"{src}: not readable JSON ({err})") from None
    doc = build_submission(results, **options)
    attach_measurements(doc, mechanism=mechanism, search=search)
    validate(doc, check_files=True)
    entries = load_entries(root)
    dup = find_duplicate(doc, entries)
    if dup:
        raise SubmissionError(dup)
    folder = submissions_dir(root)
    path = folder / file_name(doc)
    if path.exists():
        raise SubmissionError(f"{path} already exists; a submission is never overwritten")
    if not dry_run:
        folder.mkdir(parents=True, exist_ok=True)  # with --init, the leaderboard folder too
        write_new(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return path, doc


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
    prev = _prepared_block(results)
    weights, model_path = _evaluated_model(results["tracr_bench"])
    injection = prev.get("injection")
    if injection is None and model_path is not None and model_path.is_dir():
        injection = _read_injection(model_path)
    inj = injection or {}
    method = _method(method, prev, inj)
    base = _base_model(base_model, prev, inj, method, model_path, weights)
    if task is None:
        task = prev.get("task") if "task" in prev else inj.get("task")
    if seed is None:
        seed = _train_seed(prev, inj, method, weights)
    if name is None:
        name = prev.get("name")
    if name is None:
        label = method_label(method, method_variant({"injection": injection}))
        name = base["name"] if method == "none" else f"{base['name']} + {label} ({task})"
    if method == "none":
        base = {**base, "name": name}  # a base model is known by its own row's name
    submitted_by = _submitter(submitted_by, prev)
    date = _date(date, prev)
    doc = payload(results)
    doc["submission"] = {
        "schema_version": _schema_version(prev),
        "name": name,
        "method": method,
        "task": task,
        "base_model": base,
        "submitted_by": submitted_by,
        "date": date,
        "seeds": {"train": seed, "eval": results["tracr_bench"].get("seed")},
        "results_sha256": results_sha256(results),
        "injection": injection,
        "notes": notes if notes is not None else prev.get("notes"),
    }
    for key in ("mechanism", "length_frontier"):  # a prepared version-2 block keeps its own
        if prev.get(key) is not None:
            doc["submission"][key] = prev[key]
    return doc


# ---------------------------------------------------------------------------- the steps


def _prepared_block(results: dict) -> dict:
    """The ``submission`` block the file already carries (a prepared submission), else {}; its
    recorded hash must match the results before anything is changed."""
    if not isinstance(results, dict) or not isinstance(results.get("tracr_bench"), dict):
        raise SubmissionError(
            "not a tracr-bench results file: no `tracr_bench` block (write one with "
            "`tracr-bench eval --output FILE`)"
        )
    existing = results.get("submission")
    if existing is not None:
        if not isinstance(existing, dict) or existing.get("results_sha256") != results_sha256(
            results
        ):
            raise SubmissionError(
                "hash mismatch: the file's submission.results_sha256 does not match its "
                "results (the results were edited after submission)"
            )
    return existing or {}


def _schema_version(prev: dict) -> int:
    """A prepared block keeps its (readable) version, so that it is resubmitted unchanged; a
    new block is of the version this tracr-bench writes."""
    version = prev.get("schema_version")
    readable = isinstance(version, int) and not isinstance(version, bool)
    return version if readable and version in SCHEMA_VERSIONS else SCHEMA_VERSION


def _evaluated_model(tb: dict) -> tuple[dict[str, str], Path | None]:
    """The evaluated model's weights digest and folder, as far as the results record them."""
    model = tb.get("model") if isinstance(tb.get("model"), dict) else {}
    weights = model.get("weights_sha256") if isinstance(model.get("weights_sha256"), dict) else {}
    model_path = Path(model["path"]) if isinstance(model.get("path"), str) else None
    return weights, model_path


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


def _method(method: str | None, prev: dict, inj: dict) -> str:
    if method is None:
        method = prev.get("method") or inj.get("method") or ("none" if not inj else "other")
    if method not in METHODS:
        raise SubmissionError(f"unknown method {method!r}; choose from: {', '.join(METHODS)}")
    return method


def _base_model(
    base_model: str | None,
    prev: dict,
    inj: dict,
    method: str,
    model_path: Path | None,
    weights: dict[str, str],
) -> dict:
    """The base model: --base-model, else the prepared block, else the injection record, else
    the evaluated model itself (method none)."""
    if base_model is not None:
        from tracr_bench.models import ModelError, resolve_model_path, weights_digest

        try:
            bpath = resolve_model_path(base_model)
        except ModelError as err:
            raise SubmissionError(f"--base-model: {err}") from None
        digest = weights_digest(bpath)
        base = {"name": _base_name(str(bpath), digest), "weights_sha256": digest}
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
    return base


def _base_name(path: str | None, weights: dict[str, str]) -> str:
    if _is_default_lm(weights):
        return DEFAULT_LM_NAME
    if path:
        from tracr_bench.models import DEFAULT_MODEL_DIR

        if Path(path).resolve() == DEFAULT_MODEL_DIR.resolve():
            return DEFAULT_LM_NAME
        return Path(path).name or str(path)
    return f"model {weights_id(weights)}"


def _train_seed(prev: dict, inj: dict, method: str, weights: dict[str, str]) -> int | None:
    """The prepared block's training seed, else the injection record's, else (the shipped LM
    evaluated as itself) its pretraining seed."""
    seed = (prev.get("seeds") or {}).get("train")
    if seed is None:
        seed = inj.get("seed")
    if seed is None and method == "none" and _is_default_lm(weights):
        seed = _default_lm_seed()
    return seed


def _submitter(submitted_by: str | None, prev: dict) -> str:
    submitted_by = submitted_by or prev.get("submitted_by") or _git_user()
    if not submitted_by:
        raise SubmissionError("who submits? give --by NAME (no git user.name is set)")
    return submitted_by


def _git_user() -> str | None:
    try:
        out = subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    name = out.stdout.strip()
    return name or None


def _date(date: str | None, prev: dict) -> str:
    if date is None:
        return prev.get("date") or _dt.datetime.now(_dt.timezone.utc).date().isoformat()
    try:
        _dt.date.fromisoformat(date)
    except ValueError:
        raise SubmissionError(f"--date must be YYYY-MM-DD, got {date!r}") from None
    return date


# ---------------------------------------------------------------------------- the shipped LM


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
