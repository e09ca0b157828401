"""The ``tracr-bench`` command line.

``tracr-bench`` with no sub-command runs the main job, ``tracr-bench eval``: the model (``--model``,
default the shipped LM) on every task and evaluation split, plus retention.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from tracr_bench.task import Task, TaskError, all_tasks, get_task


def _task_list(arg: str | None) -> list[Task]:
    if not arg:
        return list(all_tasks().values())
    return [get_task(name.strip()) for name in arg.split(",") if name.strip()]


def _fmt_split(task: Task, name: str) -> str:
    sp = task.splits[name]
    return f"{name} ({sp.min_length}-{sp.max_length}, n={sp.size})"


def cmd_tasks(args: argparse.Namespace) -> int:
    from tracr_bench.compiled_tasks import compile_task

    rows = []
    for task in _task_list(args.tasks):
        cp = compile_task(task, "injection", cache_dir=args.cache_dir)
        rows.append(
            {
                "task": task.name,
                "version": task.version,
                "description": task.description,
                "splits": {
                    n: {
                        "min_length": s.min_length,
                        "max_length": s.max_length,
                        "size": s.size,
                        "description": s.description,
                        "oracle_exempt": s.oracle_exempt,
                    }
                    for n, s in task.splits.items()
                },
                "injection_program": cp.summary(),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    table = [
        [
            r["task"],
            "\n".join(_fmt_split(get_task(r["task"]), n) for n in r["splits"]),
            f"{r['injection_program']['n_layers']} layers, "
            f"{r['injection_program']['residual_width']} dims, "
            f"{r['injection_program']['n_params'] / 1e6:.2f}M params",
        ]
        for r in rows
    ]
    print(tabulate(table, headers=["task", "splits (lengths, size)", "injection program"]))
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from tracr_bench.compiled_tasks import compile_task

    task = get_task(args.task)
    out = []
    for which in ("injection", "oracle") if args.which == "both" else (args.which,):
        cp = compile_task(task, which, cache_dir=args.cache_dir)
        out.append({"task": task.name, "program": which, **cp.summary()})
    if args.json:
        print(json.dumps(out, indent=1, default=str))
        return 0
    keys = [
        "program",
        "max_seq_len",
        "n_layers",
        "residual_width",
        "mlp_hidden_size",
        "n_params",
        "seconds",
        "from_cache",
    ]
    print(tabulate([[r.get(k) for k in keys] for r in out], headers=keys))
    return 0


def cmd_oracle(args: argparse.Namespace) -> int:
    from tracr_bench.models import load_tokenizer
    from tracr_bench.oracle import run_oracle

    work = []
    for task in _task_list(args.task):  # validate every name before any work
        for split in [args.split] if args.split else list(task.eval_splits):
            task.split(split)
            work.append((task, split))
    if args.limit is not None and args.limit <= 0:
        raise TaskError(f"--limit must be a positive number of examples, got {args.limit}")
    tokenizer = load_tokenizer(args.model)
    results = []
    for task, split in work:
        res = run_oracle(
            task, split, tokenizer, limit=args.limit, seed=args.seed, cache_dir=args.cache_dir
        )
        results.append(res)
        if not args.json:
            note = f"  (exempt: {res.exempt})" if res.exempt else ""
            print(f"{task.name}/{split}: {res.accuracy:.2%} of {res.n}{note}", file=sys.stderr)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    else:
        table = [
            [r.task, r.split, r.n, f"{100 * r.accuracy:.2f}", r.exempt or "", f"{r.seconds:.1f}"]
            for r in results
        ]
        print(tabulate(table, headers=["task", "split", "n", "oracle %", "exempt", "s"]))
    bad = [r for r in results if r.exempt is None and r.correct != r.n]
    for r in bad:
        print(f"error: oracle below 100% on {r.task}/{r.split}: {r.failures[:1]}", file=sys.stderr)
    return 1 if bad else 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from tracr_bench.models import DEFAULT_MODEL_DIR
    from tracr_bench.pretrain.config import PretrainConfig
    from tracr_bench.pretrain.train import pretrain

    cfg = PretrainConfig(steps=args.steps, seed=args.seed, threads=args.threads)
    out = Path(args.output) if args.output else DEFAULT_MODEL_DIR
    summary = pretrain(cfg, Path(args.work_dir), out)
    print(json.dumps(summary, indent=1))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from tracr_bench.evaluate import evaluate, format_table, select

    plot = getattr(args, "plot", None)
    if plot is not None:
        from tracr_bench.plot import LENGTH_SPLIT, check_plot_path

        check_plot_path(plot)
        if not any(split == LENGTH_SPLIT for _, split in select(args.tasks, args.splits)):
            raise TaskError("--plot needs a 'length' split among the evaluated splits")
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
    )
    print(format_table(data))
    if args.output:
        print(f"results written to {args.output}", file=sys.stderr)
    if plot is not None:
        from tracr_bench.plot import plot_length_curves

        plot_length_curves(data, plot)
        print(f"plot written to {plot}", file=sys.stderr)
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from tracr_bench.probe import ModelRunner, probe

    task = get_task(args.task)
    if args.max_examples < 1:
        raise TaskError(f"--max-examples must be at least 1, got {args.max_examples}")
    from tracr_bench import strategies

    strategies.lengths(task, args.split, min_length=args.min_length, max_length=args.max_length)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    runner = ModelRunner.load(args.model, device=args.device, batch_size=args.batch_size)
    res = probe(
        runner,
        task,
        max_examples=args.max_examples,
        seed=args.seed,
        split=args.split,
        min_length=args.min_length,
        max_length=args.max_length,
    )
    if args.json:
        print(json.dumps(res.to_dict(), indent=1))
        return 0
    print(res.summary())
    table = [[n, t, f, f"{100 * f / t:.0f}"] for n, (t, f) in sorted(res.per_length.items())]
    print(tabulate(table, headers=["length", "tried", "wrong", "wrong %"]), file=sys.stderr)
    return 0


def cmd_lm_eval_configs(args: argparse.Namespace) -> int:
    from tracr_bench.lm_eval_tasks import config_dir, stale_configs, write_configs

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


def cmd_main(args: argparse.Namespace) -> int:
    """The main job: ``tracr-bench eval`` with the top-level options."""
    return cmd_eval(args)


def _add_eval_args(p: argparse.ArgumentParser, sub: bool) -> None:
    """The eval options, on the top-level parser (``tracr-bench --model PATH``) and on ``eval``.
    On the sub-command, options shared with the top level do not override what was given
    before the sub-command name."""
    keep = argparse.SUPPRESS if sub else None
    if sub:
        p.add_argument("--model", default=keep, help="local HF model folder, or 'default'")
        p.add_argument("--limit", type=int, default=keep, help="examples per split")
        p.add_argument("--cache-dir", type=Path, default=keep, help="compiled-program cache")
    p.add_argument("--tasks", default=None, help="comma-separated task names (default: all)")
    p.add_argument("--splits", default=None, help="comma-separated split names (default: all)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0, help="seed of the examples (default 0)")
    p.add_argument("--output", default=None, help="results JSON file")
    p.add_argument("--no-oracle", action="store_true", help="skip the oracle column")
    p.add_argument("--no-retention", action="store_true", help="skip retention perplexity")
    p.add_argument(
        "--engine",
        choices=["fast", "lm-eval"],
        default="fast",
        help="fast: one forward pass per batch, lm-eval's numbers (default); "
        "lm-eval: lm-eval's own generation and rolling log-likelihood",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help="show lm-eval's log")
    p.add_argument(
        "--plot", default=None, metavar="PNG", help="write accuracy against input length (PNG)"
    )


def build_parser() -> argparse.ArgumentParser:
    from tracr_bench.pretrain.config import PretrainConfig

    p = argparse.ArgumentParser(
        prog="tracr-bench",
        description="Inject tracr-compiled RASP algorithms into language models and measure "
        "whether they generalise.",
    )
    p.add_argument("--model", default="default", help="local HF model folder, or 'default'")
    p.add_argument("--limit", type=int, default=None, help="examples per split (default: all)")
    p.add_argument("--cache-dir", type=Path, default=None, help="compiled-program cache")
    _add_eval_args(p, sub=False)
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("eval", help="evaluate a causal LM on the tasks' splits and retention")
    _add_eval_args(s, sub=True)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser(
        "lm-eval-configs", help="(re)generate the lm-eval task configs under tasks/lm_eval"
    )
    s.add_argument("--check", action="store_true", help="only check that they are up to date")
    s.add_argument("--dir", default=None, help="another folder to write them to")
    s.set_defaults(func=cmd_lm_eval_configs)

    s = sub.add_parser("tasks", help="list tasks with their splits and compiled size")
    s.add_argument("--tasks", default=None, help="comma-separated task names")
    s.add_argument("--json", action="store_true")
    s.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS)
    s.set_defaults(func=cmd_tasks)

    s = sub.add_parser("compile", help="compile a task's programs (or load them from the cache)")
    s.add_argument("--task", required=True)
    s.add_argument("--which", choices=["injection", "oracle", "both"], default="both")
    s.add_argument("--json", action="store_true")
    s.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS)
    s.set_defaults(func=cmd_compile)

    s = sub.add_parser("oracle", help="score the compiled program on the tokenizer's translation")
    s.add_argument("--task", default=None, help="task name, or comma-separated names (default all)")
    s.add_argument("--split", default=None)
    s.add_argument(
        "--model", default=argparse.SUPPRESS, help="whose tokenizer: a model folder or default"
    )
    s.add_argument("--limit", type=int, default=argparse.SUPPRESS)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS)
    s.set_defaults(func=cmd_oracle)

    s = sub.add_parser(
        "probe", help="search (hypothesis) for inputs the model gets wrong beyond training lengths"
    )
    s.add_argument("--model", default=argparse.SUPPRESS, help="local HF model folder, or default")
    s.add_argument("--task", required=True)
    s.add_argument("--split", default=None, help="search one split (default: train + length)")
    s.add_argument("--min-length", type=int, default=None)
    s.add_argument("--max-length", type=int, default=None)
    s.add_argument("--max-examples", type=int, default=200, help="inputs to try (default 200)")
    s.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--device", default="cpu")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_probe)

    from tracr_bench.leaderboard_cli import add_subcommands as add_leaderboard_subcommands

    add_leaderboard_subcommands(sub)  # submit, leaderboard

    s = sub.add_parser("pretrain", help="rebuild the corpus and retrain the default LM")
    s.add_argument("--work-dir", default="pretrain_work", help="corpus and tokenizer folder")
    s.add_argument("--output", default=None, help="model folder (default: the package's)")
    s.add_argument("--steps", type=int, default=PretrainConfig.steps)
    s.add_argument("--seed", type=int, default=PretrainConfig.seed)
    s.add_argument("--threads", type=int, default=PretrainConfig.threads)
    s.set_defaults(func=cmd_pretrain)

    from tracr_bench.inject import cli as inject_cli

    inject_cli.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from tracr_bench.models import ModelError

    args = build_parser().parse_args(argv)
    func = getattr(args, "func", cmd_main)
    try:
        return func(args)
    except (TaskError, ModelError) as err:
        print(f"tracr-bench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
