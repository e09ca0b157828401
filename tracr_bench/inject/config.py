"""The options of one injection run, defined once: ``InjectConfig``.

Every field is an option of ``tracr-bench inject`` (``--kebab-case``; type, help text, choices
and limits come from the field and its metadata, see ``cli``) and a keyword of
``train.inject()``; ``validate`` checks them with messages that name the flag (numbers must be
finite: ``--lr inf`` is refused before any work), and ``asdict`` is
the ``config`` block of ``injection.json`` and of every checkpoint. The defaults are tuned for
the shipped default LM.

The paper's setting (GPT-2 large, one GPU): AdamW, LM lr 1e-6, adapter lr 1e-4, fp32, the three
loss terms summed with weight 1 (the algorithm loss summed over the L + 1 layers, as here), and a
KL summed over positions (``batchmean`` over sequences; ours is the mean per token). To reproduce
it, pass ``--lr 1e-6 --adapter-lr 1e-4 --precision fp32``.

Beyond the paper (``VARIANT_OPTIONS``, tracr only, defaults the paper's): ``--algorithm-loss``
(see ``alignment``) and ``--ce-ramp`` (the answer cross-entropy's weight rises from the first
step, ``injector.ce_weight``; the learning-rate schedule is unchanged). ``method_variant``
labels a run's non-default ones for ``injection.json``. The program's layers always sit where
the paper puts them (``alignment``).

``saved_config`` reads a checkpoint's ``config`` back: an option since removed
(``REMOVED_OPTIONS``: ``--layer-placement``, whose ``spread`` did worse than the paper's
placement on count and shuffle_dyck; ``--algorithm-warmup``, steps without the answer
cross-entropy, which did worse than none on count and shuffle_dyck) is ignored at the value
that is still the injector's behaviour and refused at any other.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any

from tracr_bench.task import TaskError

METHODS: tuple[str, ...] = ("tracr", "baseline")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
ALGORITHM_LOSSES: tuple[str, ...] = ("cosine", "per-variable", "per-variable-ce")
# the options beyond the paper's tracr-injection, with their paper-faithful defaults
VARIANT_OPTIONS: dict[str, Any] = {
    "algorithm_loss": "cosine",
    "ce_ramp": 0,
}
# options since removed, with the one value the injector still implements (what an older
# checkpoint's saved config may hold)
REMOVED_OPTIONS: dict[str, Any] = {"layer_placement": "paper", "algorithm_warmup": 0}


class InjectError(TaskError):
    """Bad input to the injector; the message names what is wrong and what to do."""


def option(
    default: Any,
    help: str,
    *,
    minimum: int | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A field of ``InjectConfig``: its default, the help text of its flag, and its limits."""
    return dataclasses.field(
        default=default, metadata={"help": help, "minimum": minimum, "choices": choices}
    )


def flag(name: str) -> str:
    """The command-line flag of field ``name`` (``batch_size`` -> ``--batch-size``)."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class InjectConfig:
    """What one injection run trains, and how (everything ``injection.json`` records)."""

    task: str = dataclasses.field(metadata={"help": "the task whose program is injected"})
    method: str = option(
        "tracr",
        "tracr: tracr-injection (answer cross-entropy + algorithm loss + KL, detach-and-roll); "
        "baseline: cross-entropy + KL only",
        choices=METHODS,
    )
    steps: int = option(200, "training steps", minimum=1)
    batch_size: int = option(16, "task examples per step", minimum=1)
    lr: float = option(3e-4, "AdamW learning rate of the LM's parameters", minimum=0)
    adapter_lr: float = option(3e-3, "AdamW learning rate of the adapter", minimum=0)
    weight_decay: float = option(0.0, "AdamW weight decay", minimum=0)
    kl_weight: float = option(
        1.0, "weight of the KL term; 0 drops it and the frozen copy", minimum=0
    )
    algorithm_weight: float = option(1.0, "weight of the algorithm loss, tracr only", minimum=0)
    algorithm_loss: str = option(
        "cosine",
        "tracr only. cosine: 1 - cos(A h, r) over the whole residual (the paper); per-variable: "
        "the mean over the program's variables present at a position of 1 - cos on the "
        "variable's dimensions (squared error for a numerical one); per-variable-ce: the same "
        "with the cross-entropy of the adapter's readout of a categorical variable's value",
        choices=ALGORITHM_LOSSES,
    )
    ce_ramp: int = option(
        0,
        "tracr only: raise the answer cross-entropy's weight linearly from 1/N at the first "
        "step to 1 over the first N steps; 0: weight 1 throughout",
        minimum=0,
    )
    kl_batch_size: int = option(4, "windows of natural text per step, for the KL term", minimum=1)
    kl_seq_len: int = option(128, "tokens per window of natural text", minimum=1)
    warmup_steps: int = option(20, "linear warm-up steps, then cosine decay to 10%", minimum=0)
    grad_clip: float = option(1.0, "clip the gradient norm to this; 0: no clipping", minimum=0)
    seed: int = option(0, "seed of the training examples, the adapter and the KL windows")
    precision: str = option(
        "auto", "auto: bf16 autocast on CUDA and the CPU, fp32 on MPS", choices=PRECISIONS
    )
    split_symbols: bool = option(
        False, "derive a tokenizer without the BPE merges that join the task's symbols"
    )
    checkpoint_every: int = option(50, "steps between checkpoints", minimum=1)
    log_every: int = option(100, "steps averaged into one entry of the loss log", minimum=1)
    save_every: int = option(
        0,
        "also save the model folder every N steps into snapshots/step-N (for learning curves: "
        "eval and decode read it like the finished model); 0: none",
        minimum=0,
    )
    max_nonfinite_steps: int = option(
        1,
        "stop the run as diverged after this many consecutive steps with a non-finite loss "
        "term or gradient (each such step is skipped: no update)",
        minimum=1,
    )

    def validate(self) -> None:
        """InjectError naming the flag of the first field of the wrong type or out of range."""
        hints = field_types()
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            _check_type(field.name, value, hints[field.name])
            if hints[field.name] is float and not math.isfinite(value):
                raise InjectError(f"{flag(field.name)} must be a finite number, got {value}")
            choices = field.metadata.get("choices")
            if choices is not None and value not in choices:
                raise InjectError(
                    f"unknown {field.name} {value!r}; choose from: {', '.join(choices)}"
                )
            minimum = field.metadata.get("minimum")
            if minimum is not None and not value >= minimum:  # `not >=` also refuses NaN
                raise InjectError(f"{flag(field.name)} must be at least {minimum}, got {value}")
        self._check_variant()

    def _check_variant(self) -> None:
        """The options beyond the paper need the algorithm loss."""
        if self.uses_algorithm:
            return
        for name, default in VARIANT_OPTIONS.items():
            if getattr(self, name) != default:
                raise InjectError(
                    f"{flag(name)} {getattr(self, name)} needs --method tracr (the "
                    f"{self.method} has no algorithm loss)"
                )

    def asdict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def uses_algorithm(self) -> bool:
        return self.method == "tracr"


def method_variant(config: dict[str, Any]) -> str | None:
    """The short label of a run's options beyond the paper's (see ``record``), from its
    ``config`` (``InjectConfig.asdict()``; absent options are the defaults): None when there
    are none."""
    parts = []
    for name, default in VARIANT_OPTIONS.items():
        value = config.get(name, default)
        if value == default:
            continue
        if name == "ce_ramp":
            parts.append(f"ramp{value}")
        else:
            parts.append(str(value))
    return "+".join(parts) or None


def saved_config(config: dict[str, Any], source: str) -> InjectConfig:
    """The ``InjectConfig`` of a checkpoint's saved ``config`` (``source`` names the checkpoint
    in the error): a removed option at the value the injector still implements is ignored;
    InjectError (one line) for one at another value, or for an unknown option."""
    options = dict(config)
    fix = "start the run over in a new --output folder"
    for name, kept in REMOVED_OPTIONS.items():
        value = options.pop(name, kept)
        if value != kept:
            raise InjectError(
                f"{source} was trained with {flag(name)} {value}, an option since removed (only "
                f"its default, {kept}, remains); {fix}"
            )
    unknown = unknown_options(options)
    if unknown:
        raise InjectError(f"{source} holds unknown injection options: {', '.join(unknown)}; {fix}")
    return InjectConfig(**options)


def field_types() -> dict[str, type]:
    """The type of every field of ``InjectConfig`` (``int``, ``float``, ``str`` or ``bool``)."""
    return typing.get_type_hints(InjectConfig)


def unknown_options(names: typing.Iterable[str]) -> list[str]:
    """The ``names`` that are not fields of ``InjectConfig``, sorted."""
    known = {f.name for f in dataclasses.fields(InjectConfig)}
    return sorted(set(names) - known)


def _check_type(name: str, value: Any, kind: type) -> None:
    is_bool = isinstance(value, bool)
    ok = {
        bool: is_bool,
        int: isinstance(value, int) and not is_bool,
        float: isinstance(value, (int, float)) and not is_bool,
        str: isinstance(value, str),
    }[kind]
    if not ok:
        what = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
        raise InjectError(f"{flag(name)} must be {what[kind]}, got {value!r}")
