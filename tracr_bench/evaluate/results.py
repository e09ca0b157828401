"""The results of ``tracr-bench eval``: one row per (task, split), filled from lm-eval's results,
and the results dict: lm-eval's own blocks (with the general tasks' figures, if any) plus a
``tracr_bench`` block (versions, model and weights hashes, the run's settings as
``settings.RunSettings`` holds them, rows, retention, the general tasks, the stock ``lm_eval``
command, timings)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from tracr_bench.evaluate.retention import RETENTION_TASK
from tracr_bench.models import weights_digest

if TYPE_CHECKING:
    from tracr_bench.evaluate.general import GeneralTasks
    from tracr_bench.evaluate.settings import RunSettings


@dataclass
class SplitResult:
    task: str
    split: str
    lm_eval_task: str
    n: int | None = None
    accuracy: float | None = None
    stderr: float | None = None
    oracle_accuracy: float | None = None
    oracle_note: str | None = None  # why there is no oracle figure, or its exemption
    skipped: str | None = None  # why the LM was not run on this split
    max_prompt_tokens: int | None = None
    length_buckets: list[dict] = field(default_factory=list)


def _stderr(value) -> float | None:
    return value if isinstance(value, (int, float)) else None


def add_scores(rows: list[SplitResult], results: dict) -> None:
    """Copy lm-eval's figures into the rows: n, exact match, its stderr, per-bucket accuracy."""
    block = results.get("results", {})
    for row in rows:
        r = block.get(row.lm_eval_task)
        if r is None:
            continue
        row.n = int(results["n-samples"][row.lm_eval_task]["effective"])
        row.accuracy = r.get("exact_match,none")
        row.stderr = _stderr(r.get("exact_match_stderr,none"))
        for b in row.length_buckets:
            b["accuracy"] = r.get(f"acc_len_{b['min_length']}_{b['max_length']},none")


def retention_result(results: dict, shard: dict) -> dict | None:
    """Retention figures from lm-eval's results and the shard's summary (None if not run)."""
    r = results.get("results", {}).get(RETENTION_TASK)
    if r is None:
        return None
    return {
        "documents": int(results["n-samples"][RETENTION_TASK]["effective"]),
        "word_perplexity": r.get("word_perplexity,none"),
        "byte_perplexity": r.get("byte_perplexity,none"),
        "bits_per_byte": r.get("bits_per_byte,none"),
        **shard,
    }


def lm_eval_command(run: RunSettings, dtype: str, names: list[str]) -> str:
    """The stock ``lm_eval`` command line that gives the same numbers (``names``: the
    tracr-bench tasks and the general tasks of lm-eval's registry; tasks of ``--include-path``
    folders are not in it: the stock command takes one folder)."""
    return (
        "lm_eval --model hf --model_args "
        f"pretrained={run.path.resolve()},dtype={dtype.removeprefix('torch.')}"
        f" --include_path tasks/lm_eval --tasks {','.join(names) or '-'}"
        f" --batch_size {run.batch_size} --device {run.device}"
        + (f" --limit {run.limit}" if run.limit is not None else "")
        + (f" --metadata '{{\"seed\": {run.seed}}}'" if run.seed else "")
    )


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tracr-bench")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def assemble_results(
    run: RunSettings,
    hflm,
    rows: list[SplitResult],
    results: dict,
    *,
    names: list[str],
    general: GeneralTasks,
    stats: Counter,
    processes: int,
    retention: dict | None,
    notes: dict[str, str | None],
    timings: dict[str, float],
    started: float,
) -> dict:
    """lm-eval's results (without per-sample logs) and the ``tracr_bench`` block.

    ``hflm`` is the lm-eval model that ran; ``names`` the tracr-bench lm-eval tasks it ran and
    ``general`` the general tasks; ``stats`` how the fast engine settled the generation
    requests, added up over the ``processes``; ``notes`` the ``retention_note`` and
    ``config_note``; ``timings`` the steps' seconds, to which the total since ``started`` (a
    ``time.time()``) is added last."""
    import lm_eval

    dtype = str(hflm.model.dtype)
    data = {k: v for k, v in results.items() if k != "samples"}
    data["tracr_bench"] = {
        "package_version": package_version(),
        "lm_eval_version": getattr(lm_eval, "__version__", None),
        "model": {
            "path": str(run.path.resolve()),
            "requested": run.requested_model,
            "weights_sha256": weights_digest(run.path),
            "dtype": dtype,
            "max_length": hflm.max_length,
        },
        "seed": run.seed,
        "limit": run.limit,
        "batch_size": run.batch_size,
        "device": run.device if processes == 1 else hflm.device.type,
        "processes": processes,
        "engine": run.engine,
        # how the fast engine settled each generation request (None for the lm-eval engine)
        "fast_path": dict(sorted(stats.items())) if run.engine == "fast" else None,
        "task_versions": {t.name: t.version for t, _ in run.pairs},
        "splits": [asdict(r) for r in rows],
        "retention": retention,
        "retention_note": notes.get("retention_note"),
        "general": general.record() if general.names else None,
        "config_note": notes.get("config_note"),
        "lm_eval_command": lm_eval_command(run, dtype, names + general.stock),
    }
    data["tracr_bench"]["timings"] = {**timings, "total_s": round(time.time() - started, 3)}
    return data
