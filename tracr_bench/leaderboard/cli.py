"""``tracr-bench submit`` and ``tracr-bench leaderboard``: the argument parsers and commands
(``cli.py`` only calls :func:`add_subcommands`).

In: the parsed command line. Out: the submission file and the rendered tables in the leaderboard
folder (or one view on stdout or in ``--output``, written whole), an exit status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_submit(args: argparse.Namespace) -> int:
    from tracr_bench.leaderboard.submit import submit

    path, doc = submit(
        args.results,
        directory=args.dir,
        dry_run=args.dry_run,
        init=args.init,
        mechanism=args.mechanism,
        search=args.search,
        name=args.name,
        method=args.method,
        task=args.task,
        base_model=args.base_model,
        seed=args.seed,
        submitted_by=args.by,
        date=args.date,
        notes=args.notes,
    )
    sub = doc["submission"]
    seed = sub["seeds"]["train"]
    what = (
        f"{sub['name']!r} (method {sub['method']}, base {sub['base_model']['name']}, "
        f"training seed {'-' if seed is None else seed}, eval seed {sub['seeds']['eval']})"
    )
    if args.dry_run:
        print(f"valid: {what}; would be written to {path}")
    else:
        print(f"accepted: {what}\nwritten to {path}")
        print("update the tables with `tracr-bench leaderboard`", file=sys.stderr)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from tracr_bench.leaderboard.entries import load_entries, require_dir
    from tracr_bench.leaderboard.html_page import render_html
    from tracr_bench.leaderboard.markdown_page import render_markdown
    from tracr_bench.leaderboard.outputs import stale_outputs, write_outputs

    require_dir(args.dir)  # a mistyped folder is an error, not an empty leaderboard
    if args.output not in (None, "-"):  # a re-rendered view replaces the old one
        from tracr_bench.preflight import check_output_file

        check_output_file(args.output, flag="--output", overwrite=True)
    formats = ("md", "html") if args.format == "all" else (args.format,)
    if args.task is not None or args.output is not None:
        # one view (optionally one task) to stdout or a file of your choice
        if args.format == "all":
            formats = ("md",)
        entries = load_entries(args.dir)
        render = render_markdown if formats[0] == "md" else render_html
        text = render(entries, args.task)
        if args.output in (None, "-"):
            sys.stdout.write(text)
        else:
            from tracr_bench.files import write_text_atomic

            write_text_atomic(Path(args.output), text)
            print(f"written to {args.output}", file=sys.stderr)
        return 0
    if args.check:
        stale = stale_outputs(args.dir, formats)
        if stale:
            print(
                "tracr-bench: error: out of date: "
                + ", ".join(str(p) for p in stale)
                + "; run `tracr-bench leaderboard`",
                file=sys.stderr,
            )
            return 1
        print("the rendered leaderboard is up to date")
        return 0
    written = write_outputs(args.dir, formats)
    for p in written:
        print(f"written {p}")
    if not written:
        print("the rendered leaderboard is up to date")
    return 0


def add_subcommands(sub) -> None:
    from tracr_bench.leaderboard.schema import METHODS

    s = sub.add_parser(
        "submit",
        help="validate a results JSON of `tracr-bench eval` and add it to the leaderboard",
        description="Check a results file of `tracr-bench eval` (both copies of every figure "
        "agree, derived figures agree with each other, no NaN or infinity, the evaluated "
        "weights are the ones hashed) and add it to the leaderboard folder as a new file.",
    )
    s.add_argument("results", metavar="RESULTS.json", help="written by `tracr-bench eval --output`")
    s.add_argument("--name", default=None, help="row name (default: from base, method and task)")
    s.add_argument(
        "--method", choices=METHODS, default=None, help="default: injection.json, else none"
    )
    s.add_argument("--task", default=None, help="the task the model was trained on")
    s.add_argument("--base-model", default=None, help="base model folder or 'default'")
    s.add_argument(
        "--seed",
        "--training-seed",
        dest="seed",
        type=int,
        default=None,
        help="training seed of the model (not the eval seed, which the results file records)",
    )
    s.add_argument("--by", default=None, help="who submits (default: git user.name)")
    s.add_argument("--date", default=None, help="YYYY-MM-DD (default: today, UTC)")
    s.add_argument("--notes", default=None, help="free text kept with the submission")
    s.add_argument(
        "--mechanism",
        metavar="DECODE.json",
        default=None,
        help="the `tracr-bench decode` JSON of this model on its trained task: keep its output "
        "variable's decoding accuracy and IIA at the aligned layer (schema version 2)",
    )
    s.add_argument(
        "--search",
        metavar="SEARCH.json",
        default=None,
        help="the `tracr-bench search --json` output of this model on its trained task: keep "
        "its length frontier (schema version 2)",
    )
    s.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="leaderboard folder (default: $TRACR_BENCH_LEADERBOARD, else the checkout's "
        "leaderboard/); it must exist unless --init",
    )
    s.add_argument("--init", action="store_true", help="start a new leaderboard in --dir")
    s.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    s.set_defaults(func=cmd_submit)

    s = sub.add_parser(
        "leaderboard",
        help="render the leaderboard tables (Markdown and HTML)",
        description="Render the leaderboard's submissions as Markdown (leaderboard/README.md and "
        "the project README's table) and a sortable HTML page, or one view to stdout or a file.",
    )
    s.add_argument(
        "--format",
        choices=["md", "html", "all"],
        default="all",
        help="md: leaderboard/README.md (and the project README's main table); html: "
        "leaderboard/index.html; all (default): both",
    )
    s.add_argument("--task", default=None, help="only this task's columns and table (to stdout)")
    s.add_argument("--output", default=None, help="write one view here ('-': stdout)")
    s.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="leaderboard folder, which must exist (default: $TRACR_BENCH_LEADERBOARD, else the "
        "checkout's leaderboard/)",
    )
    s.add_argument("--check", action="store_true", help="only check the files are up to date")
    s.set_defaults(func=cmd_leaderboard)
