"""``tracr-bench inject``: the command-line face of :func:`tracr_bench.inject.train.inject`.

The training options are the fields of ``InjectConfig``, one flag each (``--kebab-case``), with
type, help text, default and choices taken from the field (``--task`` is needed unless
``--resume`` takes it from the checkpoint); only the flags given are passed on, so that
``--resume`` compares just those with the checkpoint's run. The other
flags say where and how the run happens (model, output folder, device, cache, progress, where
to stop this call). Before any of it, the device, the compiled-program cache and the model
folder are checked (``tracr_bench.preflight``), so a bad one is one line, not a half-made run.

Under a launcher (``torchrun``, ``accelerate launch``) every process runs this command; only the
main one (``RANK`` 0) prints, so an error or an interrupt is still one line. Ctrl-C exits 130
with the line of ``stops.Interrupted``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from tracr_bench.inject.config import InjectConfig, field_types, flag


def add_subcommands(sub: Any) -> None:
    s = sub.add_parser(
        "inject",
        help="inject a task's compiled program into a causal LM (or train the baseline)",
        description="Train an LM on a task with tracr-injection (answer cross-entropy + "
        "algorithm loss through a linear adapter + KL to the original on natural text, with "
        "detach-and-roll) or with the baseline (cross-entropy + KL), and save it to --output.",
    )
    s.add_argument(
        "--model",
        default=argparse.SUPPRESS,  # the top level's: `tracr-bench --model X inject` works too
        help="local HF model folder, or 'default' (default: default, the shipped LM)",
    )
    s.add_argument(
        "--output", required=True, help="folder for the trained model (new or empty; a folder)"
    )
    s.add_argument("--resume", action="store_true", help="continue the run saved in --output")
    add_config_arguments(s)
    s.add_argument("--device", default="auto", help="auto (cuda, mps, else cpu), cpu, cuda, mps")
    s.add_argument(
        "--cache-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="compiled-program cache (default: $TRACR_BENCH_CACHE, else ~/.cache/tracr-bench)",
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument(
        "--stop-after",
        type=int,
        default=None,
        metavar="N",
        help="end this call after N steps, leaving a checkpoint to --resume from (a long run "
        "in parts)",
    )
    s.add_argument("--json", action="store_true", help="print the injection record as JSON")
    s.set_defaults(func=run)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field of ``InjectConfig``; an option not given is None in the namespace."""
    types = field_types()
    group = parser.add_argument_group("training options (InjectConfig)")
    for field in dataclasses.fields(InjectConfig):
        required = field.default is dataclasses.MISSING
        help_text = field.metadata.get("help", "").replace("%", "%%")  # argparse formats help
        if types[field.name] is bool:
            group.add_argument(flag(field.name), action="store_true", default=None, help=help_text)
            continue
        if required:
            help_text += " (required, unless --resume)"
        else:
            help_text += f" (default: {field.default})"
        group.add_argument(
            flag(field.name),
            type=types[field.name],
            choices=field.metadata.get("choices"),
            default=None,
            help=help_text,
        )


def config_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``InjectConfig`` fields given on the command line."""
    names = [f.name for f in dataclasses.fields(InjectConfig)]
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def preflight(args: argparse.Namespace) -> None:
    """The device, the compiled-program cache and the base model's folder, checked before the
    run folder is made or anything is loaded (one-line errors)."""
    from tracr_bench.preflight import check_cache_dir, check_model, resolve_device

    resolve_device(args.device)
    check_cache_dir(getattr(args, "cache_dir", None))
    check_model(args.model)


def run(args: argparse.Namespace) -> int:
    from tracr_bench.inject.stops import Interrupted, resume_command
    from tracr_bench.inject.train import inject
    from tracr_bench.models import ModelError
    from tracr_bench.task import TaskError

    main = os.environ.get("RANK", "0") == "0"
    try:
        preflight(args)
        record = inject(
            output=args.output,
            model=args.model,
            device=args.device,
            resume=args.resume,
            progress=main and not args.no_progress,
            stop_after=args.stop_after,
            cache_dir=getattr(args, "cache_dir", None),
            **config_options(args),
        )
    except Interrupted as stop:
        if main:
            print(f"tracr-bench: {stop}", file=sys.stderr)
        return 130
    except (TaskError, ModelError):
        if main:
            raise  # the command line prints its one line
        return 2
    if not main:
        return 0
    if "stopped_at" in record:
        print(
            f"stopped after step {record['stopped_at']} of {record['steps']}; continue with: "
            + resume_command(Path(args.output), args.model)
        )
        return 0
    if args.json:
        print(json.dumps(record, indent=1))
    else:
        final = record["losses"]["final"]
        print(
            f"{record['method']} {record['task']}: {record['steps']} steps in "
            f"{record['wall_time_s']:.0f} s on {record['device']} "
            f"({record['step_time_s']:.3f} s/step, {record['tokens_per_s']:.0f} tok/s); final "
            f"ce {final['ce']:.4f}, algorithm {final['algorithm']:.4f}, kl {final['kl']:.4f}"
        )
        print(f"saved to {args.output}; evaluate: tracr-bench eval --model {args.output}")
    return 0
