"""The ``tracr-bench`` command line: the one place where each stage registers its subcommands.

In: the command line (``argv``). Out: the command's exit status: 0, 2 for an error a user can
cause (one line on stderr, ``tracr-bench: error: <what>; <what to do>``), 130 for Ctrl-C (one line
saying what was interrupted and what was kept), 1 where a command reports a failed check.

``tracr-bench`` with options and no subcommand runs the main job, ``tracr-bench eval``: the
model (``--model``, default the shipped LM) on every task and evaluation split, plus retention.
With no argument at all it prints what that would do and asks for ``--yes`` (exit 2), so that a
bare call does not start a multi-hour run. Each stage's ``cli`` module defines its commands and
``add_subcommands(subparsers)``; this module lists them in the order of the data flow, gives
every parser the same help format (defaults shown) and turns errors and interrupts into one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tracr_bench.compiler import cli as compiler_cli
from tracr_bench.decode import cli as decode_cli
from tracr_bench.evaluate import cli as evaluate_cli
from tracr_bench.inject import cli as inject_cli
from tracr_bench.leaderboard import cli as leaderboard_cli
from tracr_bench.pretrain import cli as pretrain_cli
from tracr_bench.task import TaskError
from tracr_bench.task import cli as task_cli

STAGES = (  # task -> compiled program -> injection -> evaluation -> leaderboard; the shipped LM
    task_cli,  # tasks
    compiler_cli,  # compile, oracle
    inject_cli,  # inject
    evaluate_cli,  # eval, search (alias probe), lm-eval-configs
    decode_cli,  # decode
    leaderboard_cli,  # submit, leaderboard
    pretrain_cli,  # pretrain
)
INTERRUPTED = 130  # the shell's status for SIGINT


class HelpFormatter(argparse.HelpFormatter):
    """Help with the default shown, where there is one and the help does not say it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and not any(default is nothing for nothing in (None, False, argparse.SUPPRESS))
            and "default" not in text.lower()
        ):
            text += " (default: %(default)s)"
        return text


def subparsers(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """Every subcommand (aliases included): its parser and its one-line help."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                found[name] = (sub, helps.get(name, ""))
    return found


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tracr-bench",
        description="Inject tracr-compiled RASP algorithms into language models and measure "
        "whether they generalise. Without a subcommand: `tracr-bench eval` (with no argument at "
        "all it only shows what that would run).",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--model", default="default", help="local HF model folder, or 'default' (the shipped LM)"
    )
    p.add_argument("--limit", type=int, default=None, help="examples per split (default: all)")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="compiled-program cache (default: $TRACR_BENCH_CACHE, else ~/.cache/tracr-bench)",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="run the full evaluation with every default (what a bare `tracr-bench` asks for)",
    )
    evaluate_cli.add_eval_args(p, sub=False)
    p.set_defaults(func=evaluate_cli.cmd_eval)  # the main job
    sub = p.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    for stage in STAGES:
        stage.add_subcommands(sub)
    for sub_parser, help_line in subparsers(p).values():
        sub_parser.formatter_class = HelpFormatter
        if not sub_parser.description:
            sub_parser.description = help_line[:1].upper() + help_line[1:] + "."
    return p


def interrupted_line(args: argparse.Namespace) -> str:
    """What was interrupted and what was kept (inject says it itself: ``stops.Interrupted``)."""
    command = args.command or "eval"
    output = getattr(args, "output", None)
    not_written = f"--output {output} was not written" if output else "nothing was written"
    work_dir = getattr(args, "work_dir", None)
    kept = {
        "eval": f"{not_written} (results are written only at the end)",
        "search": f"{not_written} (results are written only at the end)",
        "probe": f"{not_written} (results are written only at the end)",
        "decode": f"{not_written} (results are written only at the end)",
        "compile": "the programs compiled so far are kept in the cache (a half-made entry is "
        "removed); run it again to finish",
        "oracle": "nothing was written; programs compiled so far stay in the cache",
        "tasks": "nothing was written; programs compiled so far stay in the cache",
        "inject": "interrupted before training started; a folder this call made is removed",
        "pretrain": f"the corpus and tokenizer built so far are kept in {work_dir} (the next "
        "run reuses them); the model folder was not replaced",
        "submit": "the leaderboard is unchanged (a submission is written whole or not at all)",
        "leaderboard": "each rendered file is either the old or the new one (written whole); run "
        "it again to finish",
        "lm-eval-configs": "run it again to finish (`tracr-bench lm-eval-configs --check` says "
        "what is out of date)",
    }
    return f"{command} interrupted: {kept.get(command, 'nothing was kept')}"


def main(argv: Sequence[str] | None = None) -> int:
    from tracr_bench.inject.stops import Interrupted
    from tracr_bench.models import ModelError

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    main_process = os.environ.get("RANK", "0") == "0"
    try:
        if not argv:  # a bare `tracr-bench`: show the plan, run nothing
            return evaluate_cli.show_plan(args)
        return args.func(args)
    except (TaskError, ModelError) as err:
        print(f"tracr-bench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        if main_process:
            line = str(stop) if isinstance(stop, Interrupted) else interrupted_line(args)
            print(f"tracr-bench: {line}", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
