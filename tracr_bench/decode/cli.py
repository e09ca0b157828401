"""``tracr-bench decode``: read every RASP variable out of a model's hidden states and test with
interventions whether the model uses it.

In: the parsed command line. Out: tables on stdout, the results JSON and heatmaps where asked,
an exit status. Outputs, cache, device and model folder are checked before anything is loaded
(``preflight_decode``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tracr_bench.decode.config import (
    NOISE_SCALES,
    POSITIONS,
    READOUTS,
    DecodeConfig,
    DecodeError,
    check_paths,
)


def _names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise DecodeError(f"empty list {text!r}")
    return names


def _layers(text: str | None) -> tuple[int, ...] | None:
    names = _names(text)
    if names is None:
        return None
    try:
        return tuple(int(n) for n in names)
    except ValueError:
        raise DecodeError(
            f"--layers takes hidden-state numbers (0, 1, ...), not {text!r}"
        ) from None


def _noise(text: str) -> tuple[float, ...]:
    if text == "none":
        return ()
    try:
        return tuple(float(n) for n in _names(text) or ())
    except ValueError:
        raise DecodeError(f"--noise takes numbers or 'none', not {text!r}") from None


def config_from(args: argparse.Namespace) -> DecodeConfig:
    intervene = args.intervene if args.intervene in ("auto", "none") else _names(args.intervene)
    return DecodeConfig(
        task=args.task,
        model=args.model,
        splits=_names(args.split),
        limit=args.limit,
        readout=args.readout,
        layers=_layers(args.layers),
        variables=_names(args.variables),
        intervene=intervene,  # type: ignore[arg-type]
        noise=_noise(args.noise),
        positions=args.positions,
        train_examples=args.train_examples,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        output=Path(args.output).expanduser() if args.output else None,
        plot=Path(args.plot).expanduser() if args.plot else None,
        cache_dir=getattr(args, "cache_dir", None),
        progress=not args.no_progress,
    )


def preflight_decode(args: argparse.Namespace) -> None:
    """The output file and every heatmap ``--plot`` makes (an existing one refused unless
    ``--overwrite``), the cache, the device (``auto`` resolved in ``args``) and the model folder,
    checked before anything is loaded (one-line errors)."""
    from tracr_bench.preflight import check_cache_dir, check_model, resolve_device

    config = config_from(args)
    check_paths(config.output, config.plot, readout=config.readout, overwrite=args.overwrite)
    check_cache_dir(getattr(args, "cache_dir", None))
    args.device = resolve_device(args.device)
    check_model(args.model)


def cmd_decode(args: argparse.Namespace) -> int:
    from tracr_bench.decode.config import plot_paths
    from tracr_bench.decode.plot import write_heatmaps
    from tracr_bench.decode.report import format_tables
    from tracr_bench.decode.run import decode
    from tracr_bench.files import write_json_atomic

    config = config_from(args)
    config.check()
    preflight_decode(args)
    config = config_from(args)  # the device resolved
    result = decode(config)
    print(format_tables(result))
    if config.plot is not None:
        for path in write_heatmaps(result, plot_paths(config.plot, result["options"]["readouts"])):
            print(f"heatmap written to {path}", file=sys.stderr)
    if config.output is not None:
        write_json_atomic(config.output, result)
        print(f"results written to {config.output}", file=sys.stderr)
    return 0


def add_subcommands(sub) -> None:
    s = sub.add_parser(
        "decode",
        help="decode every RASP variable from a model's hidden states; interchange interventions",
        description="For every variable of the task's compiled program and every hidden state: "
        "how often a readout (the injected adapter, or linear probes fitted on train) gives the "
        "program's value; then interchange interventions (IIA) and noise in the variables' "
        "subspaces against random subspaces of the same dimension.",
    )
    s.add_argument(
        "--model", default=argparse.SUPPRESS, help="model folder, or 'default' (default: default)"
    )
    s.add_argument("--task", required=True, help="the task (one name)")
    s.add_argument(
        "--split", "--splits", default=None, help="comma-separated splits (default: test + OOD)"
    )
    s.add_argument(
        "--limit", type=int, default=argparse.SUPPRESS, help="examples per split (default: all)"
    )
    s.add_argument("--readout", choices=READOUTS, default="auto", help="auto: adapter if any")
    s.add_argument(
        "--layers", default=None, help="comma-separated hidden-state indices (default: all)"
    )
    s.add_argument("--variables", default=None, help="comma-separated variables (default: all)")
    s.add_argument(
        "--intervene",
        default="auto",
        help="variables for interchange interventions: auto (the output and every computed "
        "variable), none, or a comma-separated list",
    )
    s.add_argument(
        "--noise",
        default=",".join(map(str, NOISE_SCALES)),
        help="noise norms as multiples of the mean hidden-state norm, or none",
    )
    s.add_argument(
        "--positions",
        choices=POSITIONS,
        default="all",
        help="where decoding is scored: all (every position the program defines the variable) "
        "or answer (only where the model predicts an answer token)",
    )
    s.add_argument("--train-examples", type=int, default=1000, help="train examples for probes")
    s.add_argument("--seed", type=int, default=0, help="seed of the examples drawn")
    s.add_argument("--batch-size", type=int, default=64, help="examples per forward pass")
    s.add_argument(
        "--device", default="cpu", help="cpu, cuda, cuda:N, mps, or auto (cuda, mps, else cpu)"
    )
    s.add_argument("--output", default=None, help="results JSON (written atomically)")
    s.add_argument("--plot", default=None, metavar="PNG", help="heatmap per readout (PNG)")
    s.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --output or --plot file (--readout both: its two PNGs)",
    )
    s.add_argument(
        "--cache-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="compiled-program cache (default: $TRACR_BENCH_CACHE, else ~/.cache/tracr-bench)",
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_decode)
