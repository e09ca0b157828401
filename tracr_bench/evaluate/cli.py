"""``tracr-bench eval`` (also the bare ``tracr-bench``), ``tracr-bench search`` (alias ``probe``,
its old name) and ``tracr-bench lm-eval-configs``: evaluate a causal LM on the tasks through
lm-eval, search for inputs it gets wrong, and regenerate the lm-eval task configs.

In: the parsed command line. Out: tables on stdout, files where asked (``--output``, ``--plot``),
an exit status. Before anything is loaded, eval and search check their outputs, cache, device and
model folder (``tracr_bench.preflight``); ``show_plan`` is what a bare ``tracr-bench`` prints."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from tracr_bench.task import Task, TaskError, get_task

if TYPE_CHECKING:
    from tracr_bench.evaluate.search import SearchResult


def cmd_eval(args: argparse.Namespace) -> int:
    """``tracr-bench eval``; under a launcher of several processes, only the main one prints
    (an error too: every process meets the same one)."""
    from tracr_bench.evaluate.processes import finish, is_main_process
    from tracr_bench.models import ModelError

    try:
        code = _eval(args)
    except (TaskError, ModelError):
        if is_main_process():
            raise
        return 2
    finish()
    return code


def preflight_eval(args: argparse.Namespace) -> None:
    """What ``eval`` needs, checked before anything is loaded: the task and split names, the
    output and plot files, the compiled-program cache (for the oracle), the device (``auto``
    resolved in ``args``) and the model folder."""
    from tracr_bench.evaluate.run import select
    from tracr_bench.preflight import (
        check_cache_dir,
        check_model,
        check_output_file,
        resolve_device,
    )

    pairs = select(args.tasks, args.splits)
    if args.output is not None:  # the checked path (~ expanded) is the one written
        args.output = check_output_file(args.output, flag="--output", overwrite=args.overwrite)
    plot = getattr(args, "plot", None)
    if plot is not None:
        from tracr_bench.evaluate.plot import LENGTH_SPLIT, check_plot_path

        check_plot_path(plot)
        args.plot = plot = check_output_file(plot, flag="--plot", overwrite=args.overwrite)
        if not any(split == LENGTH_SPLIT for _, split in pairs):
            raise TaskError("--plot needs a 'length' split among the evaluated splits")
    if not args.no_oracle:
        check_cache_dir(args.cache_dir)
    args.device = resolve_device(args.device)
    check_model(args.model)


def _eval(args: argparse.Namespace) -> int:
    from tracr_bench.evaluate.processes import is_main_process
    from tracr_bench.evaluate.report import format_table
    from tracr_bench.evaluate.run import evaluate

    preflight_eval(args)
    plot = getattr(args, "plot", None)
    data = evaluate(
        args.model,
        tasks=args.tasks,
        splits=args.splits,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
        seed=args.seed,
        output=args.output,
        oracle=not args.no_oracle,
        retention=not args.no_retention,
        progress=not args.no_progress,
        verbose=args.verbose,
        cache_dir=args.cache_dir,
        engine=args.engine,
        general=args.general,
        include_paths=args.include_path,
    )
    if not is_main_process():
        return 0
    print(format_table(data))
    if args.output:
        print(f"results written to {args.output}", file=sys.stderr)
    if plot is not None:
        from tracr_bench.evaluate.plot import plot_length_curves

        plot_length_curves(data, plot)
        print(f"plot written to {plot}", file=sys.stderr)
    return 0


def show_plan(args: argparse.Namespace) -> int:
    """A bare ``tracr-bench``: what the full evaluation would run (on stdout), and one line
    asking for ``--yes`` (exit 2). The counts are the declared split sizes."""
    from tracr_bench.evaluate.run import select
    from tracr_bench.models import DEFAULT_MODEL_DIR

    pairs = select(None, None)
    tasks = list(dict.fromkeys(t.name for t, _ in pairs))
    examples = sum(t.splits[s].size for t, s in pairs)
    quick = sum(min(50, t.splits[s].size) for t, s in pairs)
    try:
        from tracr_bench.evaluate.retention import shard_summary

        documents = f"{shard_summary()['shard_documents']} documents"
    except (TaskError, OSError):
        documents = "unreadable here"
    print(
        "tracr-bench with no arguments runs the full evaluation (tracr-bench eval):\n"
        f"  model:     the shipped LM ({DEFAULT_MODEL_DIR})\n"
        f"  tasks:     {len(tasks)} ({', '.join(tasks)})\n"
        f"  splits:    {len(pairs)} evaluation splits, up to {examples:,} examples in all "
        "(each split's declared size), each also scored by the oracle\n"
        f"  retention: perplexity on the held-out shard ({documents})\n"
        f"the README's quick run, `tracr-bench --limit 50`, evaluates up to {quick:,} examples "
        "and 50 documents"
    )
    print(
        "tracr-bench: error: no arguments given; run the above with `tracr-bench --yes`, or "
        "choose with --model, --limit, --tasks (see `tracr-bench --help`)",
        file=sys.stderr,
    )
    return 2


def preflight_search(args: argparse.Namespace) -> Task:
    """What ``search`` needs, checked before the model is loaded or the search starts: the task,
    split and length bounds, ``--max-examples``, the ``--output`` file (refused if it exists,
    unless ``--overwrite``), the device (``auto`` resolved in ``args``) and the model folder.
    Returns the task."""
    from tracr_bench.preflight import check_model, check_output_file, resolve_device
    from tracr_bench.task import strategies

    task = get_task(args.task)
    if args.max_examples < 1:
        raise TaskError(f"--max-examples must be at least 1, got {args.max_examples}")
    strategies.lengths(task, args.split, min_length=args.min_length, max_length=args.max_length)
    if args.output is not None:  # the checked path (~ expanded) is the one written
        args.output = check_output_file(args.output, flag="--output", overwrite=args.overwrite)
    args.device = resolve_device(args.device)
    check_model(args.model)
    return task


def search_json(result: SearchResult) -> str:
    """The search result as ``--json`` prints it and ``--output`` writes it (a final newline)."""
    return json.dumps(result.to_dict(), indent=1) + "\n"


def cmd_search(args: argparse.Namespace) -> int:
    """``tracr-bench search``: the summary on stdout and the per-length table on stderr, or with
    ``--json`` the result as JSON on stdout; ``--output`` also writes that JSON (atomically,
    at the end, so an interrupted or failed search leaves no file)."""
    from tracr_bench.evaluate.runner import ModelRunner
    from tracr_bench.evaluate.search import search_failures
    from tracr_bench.files import write_text_atomic

    task = preflight_search(args)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    runner = ModelRunner.load(args.model, device=args.device, batch_size=args.batch_size)
    res = search_failures(
        runner,
        task,
        max_examples=args.max_examples,
        seed=args.seed,
        split=args.split,
        min_length=args.min_length,
        max_length=args.max_length,
    )
    text = search_json(res)
    if args.output is not None:
        write_text_atomic(args.output, text)
    if args.json:
        sys.stdout.write(text)
    else:
        print(res.summary())
        table = [[n, t, f, f"{100 * f / t:.0f}"] for n, (t, f) in sorted(res.per_length.items())]
        print(tabulate(table, headers=["length", "tried", "wrong", "wrong %"]), file=sys.stderr)
    if args.output is not None:
        print(f"results written to {args.output}", file=sys.stderr)
    return 0


def cmd_lm_eval_configs(args: argparse.Namespace) -> int:
    from tracr_bench.evaluate.lm_eval_configs import config_dir, stale_configs, write_configs

    directory = Path(args.dir) if args.dir else config_dir()
    if args.check:
        stale = stale_configs(directory)
        if stale:
            print(
                f"tracr-bench: error: {len(stale)} lm-eval configs in {directory} are out of date "
                f"({', '.join(stale[:3])}{', ...' if len(stale) > 3 else ''}); "
                "run `tracr-bench lm-eval-configs`",
                file=sys.stderr,
            )
            return 1
        print(f"lm-eval configs in {directory} are up to date")
        return 0
    changed = write_configs(directory)
    print(f"{len(changed)} files written or removed in {directory}")
    return 0


def add_eval_args(p: argparse.ArgumentParser, sub: bool) -> None:
    """The eval options, on the top-level parser (``tracr-bench --model PATH``) and on ``eval``.
    On the sub-command, options shared with the top level do not override what was given
    before the sub-command name."""
    keep = argparse.SUPPRESS if sub else None
    if sub:
        p.add_argument(
            "--model", default=keep, help="local HF model folder, or 'default' (default: default)"
        )
        p.add_argument("--limit", type=int, default=keep, help="examples per split (default: all)")
        p.add_argument(
            "--cache-dir",
            type=Path,
            default=keep,
            help="compiled-program cache (default: $TRACR_BENCH_CACHE, else ~/.cache/tracr-bench)",
        )
    p.add_argument(
        "--tasks", "--task", default=None, help="comma-separated task names (default: all)"
    )
    p.add_argument(
        "--splits",
        "--split",
        default=None,
        help="comma-separated evaluation split names (default: every split of the tasks)",
    )
    p.add_argument("--batch-size", type=int, default=16, help="prompts per forward pass")
    p.add_argument(
        "--device", default="cpu", help="cpu, cuda, cuda:N, mps, or auto (cuda, mps, else cpu)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the examples drawn")
    p.add_argument("--output", default=None, help="results JSON file (written at the end)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing --output or --plot file"
    )
    p.add_argument("--no-oracle", action="store_true", help="skip the oracle column")
    p.add_argument("--no-retention", action="store_true", help="skip retention perplexity")
    p.add_argument(
        "--engine",
        choices=["fast", "lm-eval"],
        default="fast",
        help="fast: one forward pass per batch, lm-eval's numbers (default); "
        "lm-eval: lm-eval's own generation and rolling log-likelihood",
    )
    p.add_argument(
        "--general",
        default=None,
        metavar="TASKS",
        help="comma-separated lm-eval tasks, groups or tags to run too (general ability, e.g. "
        "lambada_openai,sst2,mrpc); their datasets must load (offline: from the HF cache)",
    )
    p.add_argument(
        "--include-path",
        action="append",
        default=None,
        metavar="DIR",
        help="a folder of lm-eval task configs for --general (repeatable; searched first)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help="show lm-eval's log")
    p.add_argument(
        "--plot", default=None, metavar="PNG", help="write accuracy against input length (PNG)"
    )


def add_subcommands(sub) -> None:
    s = sub.add_parser(
        "eval",
        help="evaluate a causal LM on the tasks' splits and retention",
        description="Evaluate a local causal LM (or the shipped one) on every task's evaluation "
        "splits through lm-eval, with the oracle column and the retention perplexity; print a "
        "table and, with --output, write one results JSON. Outputs, cache, device and model "
        "folder are checked before anything is loaded.",
    )
    add_eval_args(s, sub=True)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser(
        "lm-eval-configs",
        help="(re)generate the lm-eval task configs under tasks/lm_eval",
        description="Write the lm-eval task configs of every registered task and split "
        "(tasks/lm_eval), or check that they are up to date.",
    )
    s.add_argument("--check", action="store_true", help="only check that they are up to date")
    s.add_argument(
        "--dir", default=None, help="another folder to write them to (default: tasks/lm_eval)"
    )
    s.set_defaults(func=cmd_lm_eval_configs)

    s = sub.add_parser(
        "search",
        aliases=["probe"],
        help="search (hypothesis) for inputs the model gets wrong beyond training lengths; "
        "'probe' is its old name, kept as an alias",
        description="Search (hypothesis, derandomized) for inputs the model gets wrong beyond "
        "the training lengths: the failure rate, the shrunk shortest failing input and the "
        "length frontier. 'tracr-bench probe' is the same command under its old name.",
    )
    s.add_argument(
        "--model",
        default=argparse.SUPPRESS,
        help="local HF model folder, or 'default' (default: default)",
    )
    s.add_argument("--task", required=True, help="the task to search (one name)")
    s.add_argument("--split", default=None, help="search one split (default: train + length)")
    s.add_argument(
        "--min-length", type=int, default=None, help="shortest input (default: the domain's)"
    )
    s.add_argument(
        "--max-length", type=int, default=None, help="longest input (default: the domain's)"
    )
    s.add_argument("--max-examples", type=int, default=200, help="inputs to try")
    s.add_argument("--seed", type=int, default=0, help="hypothesis seed")
    s.add_argument("--batch-size", type=int, default=16, help="prompts per generate call")
    s.add_argument(
        "--device", default="cpu", help="cpu, cuda, cuda:N, mps, or auto (cuda, mps, else cpu)"
    )
    s.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout (instead of the summary and per-length table)",
    )
    s.add_argument(
        "--output",
        default=None,
        metavar="FILE",
        help="also write the result JSON (the same as --json prints) to FILE, atomically at the "
        "end; stdout is unchanged: the summary, or the JSON with --json",
    )
    s.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    s.set_defaults(func=cmd_search)
