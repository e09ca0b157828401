"""The options of one decode run, and the checks made on them before any work starts.

``DecodeConfig`` holds what the user asked for; ``check_paths`` (``preflight.check_output_file``
for each file written) and ``resolve_layers`` / ``resolve_names`` turn a bad option into one
``TaskError`` line (``DecodeError`` or ``PreflightError``) naming what to do, before a model is
loaded or a file is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tracr_bench.task import TaskError


class DecodeError(TaskError):
    """Bad input to ``tracr-bench decode``; the message says what is wrong and what to do."""


READOUTS = ("auto", "adapter", "probe", "both")
POSITIONS = ("all", "answer")  # where decoding is scored (see ``positions_scored``)
NOISE_SCALES = (0.5, 1.0, 2.0, 4.0)  # multiples of the mean hidden-state norm at that layer


@dataclass(frozen=True)
class DecodeConfig:
    task: str
    model: str = "default"
    splits: tuple[str, ...] | None = None  # None: test and every out-of-distribution split
    limit: int | None = None  # examples per split (None: all)
    readout: str = "auto"  # auto: the adapter when the model has one, else probes
    layers: tuple[int, ...] | None = None  # None: adapter 0..L, probes every hidden state
    variables: tuple[str, ...] | None = None  # None: every variable of the program
    intervene: tuple[str, ...] | str = "auto"  # auto: output + computed variables; none
    noise: tuple[float, ...] = NOISE_SCALES  # () for no noise check
    positions: str = "all"  # all: every position the program defines; answer: answer positions
    train_examples: int = 1000  # train examples the probes are fitted on
    seed: int = 0
    batch_size: int = 64
    device: str = "cpu"
    output: Path | None = None
    plot: Path | None = None
    cache_dir: Path | None = None
    progress: bool = True
    extra: dict = field(default_factory=dict, compare=False)  # recorded in the JSON as given

    def check(self) -> None:
        """The checks that need nothing loaded."""
        if self.readout not in READOUTS:
            raise DecodeError(
                f"--readout must be one of {', '.join(READOUTS)}, not {self.readout!r}"
            )
        if self.positions not in POSITIONS:
            raise DecodeError(
                f"--positions must be one of {', '.join(POSITIONS)}, not {self.positions!r}"
            )
        for flag, value, least in (
            ("--limit", self.limit, 1),
            ("--batch-size", self.batch_size, 1),
            ("--train-examples", self.train_examples, 10),
        ):
            if value is not None and value < least:
                raise DecodeError(f"{flag} must be at least {least}, got {value}")
        if any(not s >= 0 for s in self.noise):
            raise DecodeError(f"--noise scales must be >= 0, got {list(self.noise)}")
        if self.layers is not None and any(layer < 0 for layer in self.layers):
            raise DecodeError(
                f"--layers must be hidden-state indices >= 0, got {list(self.layers)}"
            )

    def readouts(self, has_adapter: bool) -> list[str]:
        """The readouts to run; a one-line error when the adapter is asked for but missing."""
        if self.readout == "auto":
            return ["adapter"] if has_adapter else ["probe"]
        wanted = planned_readouts(self.readout)
        if "adapter" in wanted and not has_adapter:
            raise DecodeError(
                f"--readout {self.readout}: {self.model!r} has no trained adapter (it was not "
                "injected with `tracr-bench inject --method tracr`); use --readout probe"
            )
        return wanted


def positions_scored(positions: str) -> str:
    """What ``--positions`` scores, in words (the JSON and the heatmap titles say it)."""
    if positions == "answer":
        return (
            "the answer positions: the LM positions whose next token is an answer token (the "
            "prompt's last token and every answer token but the last)"
        )
    return "every position where the program defines the variable"


def plot_paths(plot: Path, readouts: list[str]) -> dict[str, Path]:
    """One PNG per readout: ``plot`` itself for one, ``<stem>-<readout>.png`` for two."""
    if len(readouts) == 1:
        return {readouts[0]: plot}
    return {r: plot.with_name(f"{plot.stem}-{r}{plot.suffix}") for r in readouts}


def planned_readouts(readout: str) -> list[str]:
    """The readouts ``--readout`` runs as far as the output files go: two for ``both`` (one PNG
    each), else one (``auto`` reads either; ``plot_paths`` names one file either way)."""
    return ["adapter", "probe"] if readout == "both" else [readout]


def check_paths(
    output: Path | None, plot: Path | None, *, readout: str = "auto", overwrite: bool = True
) -> None:
    """``--output`` and every PNG ``--plot`` makes (``plot_paths`` for ``readout``) can be
    written: ``preflight.check_output_file`` (a file, in an existing writable folder; an existing
    one refused unless ``overwrite``); ``--plot`` ends in .png and is not the ``--output`` file.
    Nothing is created here.

    The CLI passes ``--overwrite`` before anything is loaded; ``setup.prepare`` checks with the
    default ``overwrite=True`` (``decode`` itself writes nothing)."""
    from tracr_bench.preflight import check_output_file

    if plot is not None and plot.suffix.lower() != ".png":
        raise DecodeError(
            f"--plot writes a PNG: give a file name ending in .png, not {str(plot)!r}"
        )
    pngs = list(plot_paths(plot, planned_readouts(readout)).values()) if plot is not None else []
    if output is not None and output.resolve() in {png.resolve() for png in pngs}:
        raise DecodeError(
            f"--output and --plot both name {str(output)!r}; give the JSON another file name"
        )
    if output is not None:
        check_output_file(output, flag="--output", overwrite=overwrite)
    for png in pngs:
        check_output_file(png, flag="--plot", overwrite=overwrite)


def resolve_layers(asked: tuple[int, ...] | None, default: list[int], n_hidden: int) -> list[int]:
    if asked is None:
        return default
    beyond = [layer for layer in asked if layer >= n_hidden]
    if beyond:
        raise DecodeError(
            f"--layers {','.join(map(str, beyond))}: the model has hidden states 0..{n_hidden - 1} "
            f"({n_hidden - 1} blocks)"
        )
    return sorted(set(asked))


def resolve_names(asked: tuple[str, ...] | None, known: list[str], flag: str) -> list[str]:
    if asked is None:
        return list(known)
    unknown = [n for n in asked if n not in known]
    if unknown:
        raise DecodeError(
            f"{flag}: unknown variable {', '.join(map(repr, unknown))}; the program's variables "
            f"are: {', '.join(known)}"
        )
    return list(dict.fromkeys(asked))
