"""The terminal report of ``tracr-bench eval``: one table row per (task, split) with n,
accuracy, stderr and the oracle's accuracy (or why a split was skipped), then retention, then
the general tasks' metrics (one row per task and metric, as lm-eval reports them)."""

from __future__ import annotations


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.2f}"


def format_table(data: dict) -> str:
    """The table and retention lines of a results dict, as ``tracr-bench eval`` prints them."""
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
    if tb.get("general"):
        lines.append("\n" + general_table(data["results"], tb["general"]["results"]))
    if tb["config_note"]:
        lines.append(f"note: {tb['config_note']}")
    return "\n".join(lines)


def _figure(x) -> str:
    return f"{x:.4f}" if isinstance(x, (int, float)) else str(x)


def general_table(results: dict, names: list[str]) -> str:
    """The general tasks' rows: task, metric (with lm-eval's filter), value and stderr."""
    from tabulate import tabulate

    table = []
    for name in names:
        block = results.get(name, {})
        for key, value in block.items():
            metric, _, filt = key.partition(",")
            if key == "alias" or metric.endswith("_stderr"):
                continue
            stderr = block.get(f"{metric}_stderr,{filt}", "")
            label = metric if filt in ("", "none") else f"{metric} ({filt})"
            table.append([name, label, _figure(value), _figure(stderr)])
    return tabulate(
        table, headers=["general task", "metric", "value", "stderr"], disable_numparse=True
    )


__all__ = ["format_table"]
