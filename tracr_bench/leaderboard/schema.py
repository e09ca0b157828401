"""The submission format: the schema versions, the JSON-schema file of each, and the digests that
identify a submission's results and models.

A submission is the results JSON that ``tracr-bench eval`` writes, unchanged, plus a
``submission`` block (schema ``data/leaderboard/submission-vN.schema.json``; ``submit`` writes
version 2, version-1 files stay valid)::

    "submission": {
      "schema_version": 2,                        # or 1
      "name": "default LM + tracr (parity)",     # the row's name; seeds of one name share a row
      "method": "none" | "baseline" | "tracr" | "other",
      "task": "parity" | null,                    # the task the model was trained on (null: none)
      "base_model": {"name": "default LM", "weights_sha256": {"model.safetensors": "..."}},
      "submitted_by": "...", "date": "YYYY-MM-DD",
      "seeds": {"train": 0 | null, "eval": 0},    # train: null only for method none
      "results_sha256": "...",                    # sha256 of the canonical results payload
      "injection": {...} | null,                  # the model's injection.json (loss log dropped)
      "notes": "..." | null,
      # version 2 only, both optional, keyed by the task the model was trained on
      # (tracr_bench.leaderboard.measurements: read from the files of --mechanism and --search):
      "mechanism": {"parity": {"task_version": 1, "variable": "final_result", "layer": 2,
                    "positions": "all" | "answer",  # decode --positions (optional: all)
                    "decoding": {"accuracy": ..., "readout": "adapter" | "probe",
                                 "split": "test", "n": ...},
                    "iia": {...the same fields...} | null,
                    "source": {"file": "decode.json", "sha256": "...", "format": "..."}}} | null,
      "length_frontier": {"parity": {"frontier": 23 | null, "domain": "train+length",
                          "lengths": [lo, hi], "train_lengths": [lo, hi], "max_examples": 200,
                          "seed": 0, "tried": ..., "failures": ..., "weights_checked": bool,
                          "source": {"file": "search.json", "sha256": "..."}}} | null
    }

In: a submission document (a dict). Out: :func:`check_schema` (a one-line
:class:`SubmissionError` naming the first violation), :func:`results_sha256` (the sha256 of the
results payload, the whole file without the ``submission`` block, serialised canonically:
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, UTF-8) and
:func:`weights_id` (the short id of a model's weights that rows are grouped by).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from tracr_bench.task import TaskError

SCHEMA_VERSIONS = (1, 2)  # every version this tracr-bench reads, oldest first
SCHEMA_VERSION = SCHEMA_VERSIONS[-1]  # the version `tracr-bench submit` writes
SCHEMA_DIR = Path(__file__).parent.parent / "data" / "leaderboard"
METHODS = ("none", "baseline", "tracr", "other")


class SubmissionError(TaskError):
    """A submission that is rejected; the message is one line with the reason."""


def versions_text() -> str:
    """The schema versions read, for the pages: ``version 1``, ``versions 1 and 2``."""
    *head, last = (str(v) for v in SCHEMA_VERSIONS)
    return f"versions {', '.join(head)} and {last}" if head else f"version {last}"


def schema_file(version: int = SCHEMA_VERSION) -> Path:
    return SCHEMA_DIR / f"submission-v{version}.schema.json"


@cache
def schema(version: int = SCHEMA_VERSION) -> dict:
    return json.loads(schema_file(version).read_text("utf-8"))


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


def check_schema(doc: dict, version: int = SCHEMA_VERSION) -> None:
    """Raise a one-line SubmissionError naming the violation that the ``tracr_bench`` and
    ``submission`` blocks name best, unless ``doc`` matches the schema of ``version``."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(version))
    errors = sorted(validator.iter_errors(doc), key=lambda e: (list(e.absolute_path), e.message))
    if not errors:
        return
    ours = [e for e in errors if list(e.absolute_path)[:1] in (["tracr_bench"], ["submission"])]
    err = jsonschema.exceptions.best_match(ours or errors)
    path = list(err.absolute_path)
    where = _fmt_path(path)
    if len(path) >= 3 and path[:2] == ["tracr_bench", "splits"] and isinstance(path[2], int):
        row = doc["tracr_bench"]["splits"][path[2]]
        if isinstance(row, dict):  # name the split row by its task and split
            where = f"{row.get('task')}/{row.get('split')} {_fmt_path(path[3:])}"
    msg = err.message if len(err.message) <= 160 else err.message[:157] + "..."
    kind = "out of range" if err.validator in ("minimum", "maximum") else "schema violation"
    raise SubmissionError(f"{kind}: {where}: {msg}")


def _fmt_path(path: list) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"
