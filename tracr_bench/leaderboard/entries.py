"""The leaderboard folder and the submission files in it.

In: the leaderboard folder (``$TRACR_BENCH_LEADERBOARD``, else the checkout's ``leaderboard/``),
whose ``submissions/`` holds one JSON file per submitted run.
Out: the folder, which must exist unless a new one is asked for (:func:`require_dir`); its
files as validated :class:`Entry` objects in file-name order (:func:`load_entries`),
the reason a new submission duplicates one of them (:func:`find_duplicate`), the file name of a
new submission (:func:`file_name`) and the writer that never overwrites one (:func:`write_new`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tracr_bench.files import write_text_atomic
from tracr_bench.leaderboard.checks import validate
from tracr_bench.leaderboard.schema import SubmissionError, weights_id, weights_key

SUBMISSIONS = "submissions"  # the folder of submission files inside the leaderboard folder
LEADERBOARD_ENV = "TRACR_BENCH_LEADERBOARD"


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


def leaderboard_dir(directory: str | Path | None = None) -> tuple[Path, str]:
    """The leaderboard folder and where its name came from (``--dir``, the environment
    variable, or the default)."""
    if directory is not None:
        return Path(directory), "--dir"
    source = f"${LEADERBOARD_ENV}" if os.environ.get(LEADERBOARD_ENV) else "the default"
    return default_dir(), source


def require_dir(directory: str | Path | None = None, *, init: bool = False) -> Path:
    """The leaderboard folder, which must exist (a typo must not start a new, empty
    leaderboard) unless ``init`` (``submit --init``) asks for a new one; then it may be missing
    and is created when the first submission is written."""
    path, source = leaderboard_dir(directory)
    if path.exists() and not path.is_dir():
        raise SubmissionError(f"the leaderboard folder {path} (from {source}) is not a folder")
    if not path.exists() and not init:
        raise SubmissionError(
            f"the leaderboard folder {path} (from {source}) does not exist; check the path, or "
            f"start a new leaderboard there with `tracr-bench submit RESULTS.json --dir {path} "
            "--init`"
        )
    return path


def submissions_dir(directory: Path | None = None) -> Path:
    return (default_dir() if directory is None else Path(directory)) / SUBMISSIONS


@dataclass(frozen=True)
class Entry:
    """One submission file: where it is and what it holds."""

    path: Path
    doc: dict

    @property
    def sub(self) -> dict:
        return self.doc["submission"]

    @property
    def tb(self) -> dict:
        return self.doc["tracr_bench"]

    @property
    def variant(self) -> str | None:
        """The injection's ``method_variant`` (None: the paper's setting, or not recorded, as in
        files made before it existed)."""
        return method_variant(self.sub)

    def group_key(self) -> tuple:
        sub = self.sub
        base = weights_id(sub["base_model"]["weights_sha256"])
        return (base, sub["method"], self.variant or "", sub["task"] or "")


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


def method_variant(sub: dict) -> str | None:
    """``submission.injection.method_variant`` when it is a non-empty string, else None."""
    injection = sub.get("injection")
    variant = injection.get("method_variant") if isinstance(injection, dict) else None
    return variant if isinstance(variant, str) and variant else None


def method_label(method: str, variant: str | None) -> str:
    """The method column: ``tracr``, or ``tracr (per-variable+spread)`` for a variant."""
    return f"{method} ({variant})" if variant else method


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:60].strip("-") or "model"


def file_name(doc: dict) -> str:
    """``NAME__seed-SEED__HASH.json``: the slug of the row's name, the training seed (``na``
    without one) and the first 12 digits of the results hash."""
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
