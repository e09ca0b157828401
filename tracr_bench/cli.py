"""The ``tracr-bench`` command line: the one place where each stage registers its subcommands.

``tracr-bench`` with no subcommand runs the main job, ``tracr-bench eval``: the model (``--model``,
default the shipped LM) on every task and evaluation split, plus retention. Each stage's
``cli`` module defines its commands and ``add_subcommands(subparsers)``; this module lists them
in the order of the data flow and turns the errors they raise into one line.
"""

from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tracr-bench",
        description="Inject tracr-compiled RASP algorithms into language models and measure "
        "whether they generalise.",
    )
    p.add_argument("--model", default="default", help="local HF model folder, or 'default'")
    p.add_argument("--limit", type=int, default=None, help="examples per split (default: all)")
    p.add_argument("--cache-dir", type=Path, default=None, help="compiled-program cache")
    evaluate_cli.add_eval_args(p, sub=False)
    p.set_defaults(func=evaluate_cli.cmd_eval)  # the main job
    sub = p.add_subparsers(dest="command")
    for stage in STAGES:
        stage.add_subcommands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from tracr_bench.models import ModelError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (TaskError, ModelError) as err:
        print(f"tracr-bench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
