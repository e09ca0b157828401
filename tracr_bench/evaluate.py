"""``tracr-bench eval``: any local Hugging Face causal LM on the tasks' evaluation splits, plus
retention perplexity, through lm-evaluation-harness.

The numbers are lm-eval's own: the generated task configs of ``tasks/lm_eval`` are run by
``lm_eval.simple_evaluate`` on lm-eval's ``HFLM`` wrapped around the loaded model, so they equal
those of the stock command line on the same model and tasks (the command is recorded in the
results file). There is no separate fast path: ``HFLM`` already generates in batches with left
padding, and any other path would have to reproduce its prompts, truncation and stop rule.

Around that this module adds what lm-eval does not know: validation of the inputs with one-line
errors, a per-split check that the prompts fit the model's context (a split that does not fit is
reported, not silently left-truncated), the oracle accuracy of the compiled program on the same
examples with the model's tokenizer, per-length-bucket counts, hashes and timings, and an atomic
write of the results JSON.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tracr_bench import lm_eval_tasks as lt
from tracr_bench.models import ModelError, file_sha256, resolve_model_path
from tracr_bench.task import Task, TaskError, all_tasks, get_task

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


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


def select(tasks: str | Sequence[str] | None, splits: str | Sequence[str] | None):
    """(task, split) pairs to evaluate; one-line TaskError for unknown names."""

    def names(arg) -> list[str] | None:
        if arg is None:
            return None
        items = arg.split(",") if isinstance(arg, str) else list(arg)
        items = [s.strip() for s in items if s.strip()]
        return items or None

    task_names = names(tasks)
    chosen: list[Task] = (
        [all_tasks()[n] for n in sorted(all_tasks())]
        if task_names is None
        else [get_task(n) for n in dict.fromkeys(task_names)]
    )
    split_names = names(splits)
    if split_names is not None:
        for s in split_names:
            if not any(s in t.eval_splits for t in chosen):
                offered = sorted({x for t in chosen for x in t.eval_splits})
                raise TaskError(
                    f"unknown evaluation split {s!r} for the chosen tasks; "
                    f"choose from: {', '.join(offered)}"
                )
    return [
        (t, s) for t in chosen for s in t.eval_splits if split_names is None or s in split_names
    ]


def weights_digest(path: Path) -> dict[str, str]:
    """sha256 of every weights file in a model folder, by file name."""
    return {
        p.name: file_sha256(p)
        for p in sorted(path.iterdir())
        if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)
    }


def _quiet_lm_eval(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.ERROR
    for name in ("lm_eval", "lm-eval"):
        logging.getLogger(name).setLevel(level)
    if not verbose:
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
        except ImportError:  # pragma: no cover
            pass


def _write_json_atomic(path: Path, data: dict) -> None:
    from lm_eval.utils import handle_non_serializable

    text = json.dumps(data, indent=1, default=handle_non_serializable, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tracr-bench")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _stderr(value) -> float | None:
    return value if isinstance(value, (int, float)) else None


def evaluate(
    model: str | Path | None = "default",
    *,
    tasks: str | Sequence[str] | None = None,
    splits: str | Sequence[str] | None = None,
    limit: int | None = None,
    batch_size: int = 16,
    device: str = "cpu",
    seed: int = 0,
    output: str | Path | None = None,
    oracle: bool = True,
    retention: bool = True,
    progress: bool = True,
    verbose: bool = False,
    cache_dir: Path | None = None,
) -> dict:
    """Evaluate ``model`` and return the results dict (also written to ``output`` if given).

    The dict is lm-eval's results (``results``, ``versions``, ``n-samples``, ``configs``, ...)
    with a ``tracr_bench`` block: per-split rows (``splits``), retention, hashes and timings."""
    t_start = time.time()
    if limit is not None and limit < 1:
        raise TaskError(f"--limit must be a positive number of examples, got {limit}")
    if batch_size < 1:
        raise TaskError(f"--batch-size must be at least 1, got {batch_size}")
    pairs = select(tasks, splits)
    out_path = Path(output) if output is not None else None
    if out_path is not None and not out_path.parent.is_dir():
        raise TaskError(
            f"cannot write {str(out_path)!r}: folder {str(out_path.parent)!r} is missing"
        )
    path = resolve_model_path(model)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    _quiet_lm_eval(verbose)
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer

    from tracr_bench.models import load_model

    t0 = time.time()
    lm, tok = load_model(path, device=device)
    oracle_tok = AutoTokenizer.from_pretrained(path)  # HFLM adjusts ``tok`` (padding side)
    hflm = HFLM(pretrained=lm, tokenizer=tok, batch_size=batch_size)
    load_seconds = time.time() - t0

    rows: list[SplitResult] = []
    for task, split in pairs:
        row = SplitResult(task.name, split, lt.task_name(task.name, split))
        examples = task.examples(split, size=limit, seed=seed)
        if not examples:
            row.skipped = "the split is empty"
        else:
            longest = max(len(hflm.tok_encode(ex.prompt)) for ex in examples)
            row.max_prompt_tokens = longest
            need = longest + lt.max_gen_toks(task, split)
            if need > hflm.max_length:
                row.skipped = (
                    f"prompts up to {longest} tokens + {need - longest} to generate exceed the "
                    f"model's context of {hflm.max_length} tokens"
                )
        buckets = lt.length_buckets(task, split)
        row.length_buckets = [
            {
                "min_length": b.lo,
                "max_length": b.hi,
                "n": sum(1 for ex in examples if b.lo <= ex.length <= b.hi),
                "accuracy": None,
            }
            for b in buckets
        ]
        rows.append(row)

    # the compiled program on the same examples, read through the model's tokenizer
    t0 = time.time()
    if oracle:
        from tracr_bench.oracle import run_oracle

        bar = tqdm(rows, desc="oracle", unit="split", disable=not progress)
        for row in bar:
            bar.set_postfix_str(f"{row.task}/{row.split}")
            try:
                res = run_oracle(
                    get_task(row.task),
                    row.split,
                    oracle_tok,
                    limit=limit,
                    seed=seed,
                    cache_dir=cache_dir,
                )
            except (TaskError, ValueError) as err:
                row.oracle_note = f"n/a: {str(err).splitlines()[0]}"
                continue
            row.oracle_accuracy = res.accuracy
            if res.exempt:
                row.oracle_note = f"exempt: {res.exempt}"
    oracle_seconds = time.time() - t0

    # the configs: the committed ones if up to date, else freshly generated in a temp folder
    config_note = None
    tmp_dir = None
    include = lt.config_dir()
    if lt.stale_configs(include):
        tmp_dir = tempfile.TemporaryDirectory(prefix="tracr_bench_lm_eval_")
        include = Path(tmp_dir.name)
        lt.write_configs(include)
        config_note = "tasks/lm_eval is out of date (run `tracr-bench lm-eval-configs`)"

    retention_note = None
    retention_info: dict = {}
    if retention:
        try:
            text = lt.retention_text()
            retention_info = {
                "text_sha256": lt.retention_digest(text),
                "shard_documents": len(lt.retention_docs(text)),
                "shard_chars": len(text),
            }
        except (TaskError, OSError) as err:
            retention_note = str(err).splitlines()[0]

    names = [r.lm_eval_task for r in rows if r.skipped is None]
    if retention and retention_note is None:
        names.append(lt.RETENTION_TASK)
    t0 = time.time()
    results: dict = {}
    try:
        if names:
            manager = TaskManager(
                include_path=str(include), include_defaults=False, metadata={"seed": seed}
            )
            results = lm_eval.simple_evaluate(
                model=hflm,
                tasks=names,
                limit=limit,
                task_manager=manager,
                log_samples=False,
            )
    finally:
        if tmp_dir is not None:
            tmp_dir.cleanup()
    lm_eval_seconds = time.time() - t0

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
    retention_result = None
    if lt.RETENTION_TASK in block:
        r = block[lt.RETENTION_TASK]
        retention_result = {
            "documents": int(results["n-samples"][lt.RETENTION_TASK]["effective"]),
            "word_perplexity": r.get("word_perplexity,none"),
            "byte_perplexity": r.get("byte_perplexity,none"),
            "bits_per_byte": r.get("bits_per_byte,none"),
            **retention_info,
        }

    lm_eval_cmd = (
        "lm_eval --model hf --model_args "
        f"pretrained={path.resolve()},dtype={str(lm.dtype).removeprefix('torch.')}"
        f" --include_path tasks/lm_eval --tasks {','.join(names) or '-'}"
        f" --batch_size {batch_size} --device {device}"
        + (f" --limit {limit}" if limit is not None else "")
        + (f" --metadata '{{\"seed\": {seed}}}'" if seed else "")
    )
    data = {k: v for k, v in results.items() if k != "samples"}
    data["tracr_bench"] = {
        "package_version": _package_version(),
        "lm_eval_version": getattr(lm_eval, "__version__", None),
        "model": {
            "path": str(path.resolve()),
            "requested": str(model),
            "weights_sha256": weights_digest(path),
            "dtype": str(lm.dtype),
            "max_length": hflm.max_length,
        },
        "seed": seed,
        "limit": limit,
        "batch_size": batch_size,
        "device": device,
        "task_versions": {t.name: t.version for t in {t.name: t for t, _ in pairs}.values()},
        "splits": [asdict(r) for r in rows],
        "retention": retention_result,
        "retention_note": retention_note,
        "config_note": config_note,
        "lm_eval_command": lm_eval_cmd,
        "timings": {
            "load_model_s": round(load_seconds, 3),
            "oracle_s": round(oracle_seconds, 3),
            "lm_eval_s": round(lm_eval_seconds, 3),
            "total_s": round(time.time() - t_start, 3),
        },
    }
    if out_path is not None:
        _write_json_atomic(out_path, data)
    return data


# ---------------------------------------------------------------------------- report


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.2f}"


def format_table(data: dict) -> str:
    from tabulate import tabulate

    tb = data["tracr_bench"]
    table = []
    for r in tb["splits"]:
        if r["skipped"]:
            acc, err, n = f"skipped: {r['skipped']}", "", "-"
        else:
            acc, err, n = _pct(r["accuracy"]), _pct(r["stderr"]), r["n"]
        if r["oracle_accuracy"] is not None:
            orc = _pct(r["oracle_accuracy"]) + (" (exempt)" if r["oracle_note"] else "")
        else:
            orc = r["oracle_note"] or ""
        table.append([r["task"], r["split"], n, acc, err, orc])
    lines = [
        tabulate(
            table,
            headers=["task", "split", "n", "accuracy %", "stderr %", "oracle %"],
            disable_numparse=True,
        )
    ]
    ret = tb["retention"]
    if ret is not None:
        lines.append(
            f"\nretention ({ret['documents']} documents): word perplexity "
            f"{ret['word_perplexity']:.2f}, bits per byte {ret['bits_per_byte']:.4f}"
        )
    elif tb["retention_note"]:
        lines.append(f"\nretention: not measured ({tb['retention_note']})")
    if tb["config_note"]:
        lines.append(f"note: {tb['config_note']}")
    return "\n".join(lines)


__all__ = ["ModelError", "SplitResult", "evaluate", "format_table", "select", "weights_digest"]
