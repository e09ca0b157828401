"""Everything a decode run needs, loaded and checked: bad input fails here, before any pass.

``prepare`` checks the options and the paths, resolves the model folder, reads its adapter and
``injection.json``, compiles (or loads) the task's injection program, checks that the adapter
reads that program's residual and that the model has the blocks the program is aligned with,
resolves variables and layers, and only then loads the model's weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tracr_bench.compiler.task_programs import OUTPUT_NAME
from tracr_bench.compiler.token_translation import Translator
from tracr_bench.decode.config import (
    DecodeConfig,
    DecodeError,
    check_paths,
    resolve_layers,
    resolve_names,
)
from tracr_bench.decode.programs import Programs
from tracr_bench.decode.readouts import LinearReadout, load_adapter
from tracr_bench.decode.variables import default_variables, intervention_defaults
from tracr_bench.inject.run_folder import RECORD
from tracr_bench.models import load_tokenizer, resolve_model_path
from tracr_bench.task import Task, get_task


@dataclass
class Setup:
    config: DecodeConfig
    task: Task
    splits: list[str]
    translator: Translator
    programs: Programs
    subject: Any  # LMSubject or ProgramSubject
    adapter: LinearReadout | None
    readouts: list[str]
    names: list[str]  # the variables decoded
    intervene: list[str]  # the variables intervened on
    adapter_layers: list[int]
    probe_layers: list[int]
    iia_layers: list[int]  # aligned hidden states where interventions may run
    noise_layer: int | None
    model_info: dict = field(default_factory=dict)
    aligned: list[int] = field(default_factory=list)  # program layer i -> LM hidden state

    @property
    def n_layers(self) -> int:
        """L, the program's layers."""
        return self.programs.injection.n_layers

    def hidden_state(self, program_layer: int) -> int:
        """The LM hidden state aligned with the program's residual after ``program_layer``."""
        return self.aligned[program_layer]

    def program_layer(self, hidden_state: int) -> int:
        """The program layer aligned with ``hidden_state`` (one of ``aligned``)."""
        return self.aligned.index(hidden_state)


def prepare(
    config: DecodeConfig,
    *,
    subject=None,
    adapter: LinearReadout | None = None,
    aligned: list[int] | None = None,
) -> Setup:
    """Check ``config`` and load what it names. A ``subject`` given here (the compiled program,
    in tests) replaces the model; ``config.model`` then only provides the tokenizer, and
    ``aligned`` (default: the identity) is its hidden state for each program layer."""
    config.check()
    check_paths(config.output, config.plot, readout=config.readout)  # and every PNG --plot makes
    task = get_task(config.task)
    splits = list(config.splits) if config.splits is not None else task.eval_splits
    for name in splits:
        task.split(name)
    info: dict[str, Any] = {"requested": config.model}
    path = None
    if subject is None:
        path = resolve_model_path(config.model)
        info.update(path=str(path.resolve()), injection=_injection_record(path))
        # a baseline run saves its adapter untrained: it reads nothing, so it counts as none
        trained = (info["injection"] or {}).get("method") != "baseline"
        adapter = load_adapter(path) if trained else None
    readouts = config.readouts(adapter is not None)
    injected_with = (info.get("injection") or {}).get("task")
    if "adapter" in readouts and injected_with not in (None, task.name):
        raise DecodeError(
            f"{config.model!r} was injected with task {injected_with!r} and its adapter reads "
            f"that program; decode it with --task {injected_with}, or use --readout probe"
        )
    if "probe" in readouts and "train" in splits:
        raise DecodeError(
            "--split train: probes are fitted on train; score them on test or an OOD split"
        )
    translator = Translator(task, load_tokenizer(config.model))
    programs = Programs(task, translator, config.cache_dir, config.device)
    injection = programs.injection
    if adapter is not None and adapter.labels != injection.compiled.residual_labels:
        raise DecodeError(
            f"the adapter of {config.model!r} reads a residual stream of {len(adapter.labels)} "
            f"dimensions that is not {task.name!r}'s compiled injection program "
            f"({injection.compiled.residual_width} dimensions); was it injected with this task?"
        )
    names, intervene = _variables(config, default_variables(injection.variables))

    n_hidden = subject.n_hidden if subject is not None else _hidden_states(path)
    max_edit = subject.max_edit_layer if subject is not None else n_hidden - 2
    L = injection.n_layers
    recorded = (info.get("injection") or {}).get("aligned_hidden_states")
    if aligned is None and recorded is None and n_hidden - 1 < L + (subject is None):
        raise DecodeError(
            f"the model has {n_hidden - 1} blocks; {task.name!r}'s program has {L} layers and is "
            f"aligned with hidden states 0..{L}, so it needs at least {L + 1} blocks"
        )
    source = "given" if aligned is not None else "injection.json" if recorded else "identity"
    aligned = check_alignment(aligned if aligned is not None else recorded, L, n_hidden)
    info.update(aligned_hidden_states=aligned, alignment=source)
    adapter_layers = resolve_layers(config.layers, aligned, n_hidden)
    probe_layers = resolve_layers(config.layers, list(range(n_hidden)), n_hidden)
    iia_layers = [
        h
        for h in resolve_layers(config.layers, aligned, n_hidden)
        if h in aligned and h <= max_edit
    ]
    noise_layer = _noise_layer(aligned[L], max_edit) if config.noise else None
    if subject is None:
        subject = _load_subject(path, config.device)
        info["weights_sha256"] = _digest(path)
    info.update(hidden_states=subject.n_hidden, hidden_size=subject.width)
    adapter = adapter.to(subject.device) if adapter is not None else None
    return Setup(
        config, task, splits, translator, programs, subject, adapter, readouts, names,
        intervene, adapter_layers, probe_layers, iia_layers, noise_layer, info, aligned,
    )  # fmt: skip


def check_alignment(aligned: list[int] | None, n_layers: int, n_hidden: int) -> list[int]:
    """The LM hidden state of each program layer 0..L: ``aligned`` (an injection record's
    ``program.aligned_hidden_states``) checked, or ``range(L + 1)`` when None."""
    if aligned is None:
        return list(range(n_layers + 1))
    ok = (
        isinstance(aligned, list)
        and len(aligned) == n_layers + 1
        and all(isinstance(h, int) and not isinstance(h, bool) for h in aligned)
        and all(a < b for a, b in zip(aligned, aligned[1:], strict=False))
        and 0 <= aligned[0]
        and aligned[-1] < n_hidden
    )
    if not ok:
        raise DecodeError(
            f"injection.json's program.aligned_hidden_states {aligned!r} is not {n_layers + 1} "
            f"increasing hidden-state indices in 0..{n_hidden - 1} (one per program layer "
            "0..L); fix or remove it (without it program layer i is hidden state i)"
        )
    return list(aligned)


def _noise_layer(last_aligned: int, max_edit: int) -> int | None:
    """Where the noise goes: the output of the block after the last aligned hidden state (as
    the paper's detach-and-roll), else the last aligned state itself, else nowhere."""
    for layer in (last_aligned + 1, last_aligned):
        if layer <= max_edit:
            return layer
    return None


def _variables(config: DecodeConfig, known: list[str]) -> tuple[list[str], list[str]]:
    """The variables decoded and those intervened on (which are decoded too, as is the output
    when the noise check runs)."""
    names = resolve_names(config.variables, known, "--variables")
    if config.intervene == "none":
        intervene = []
    elif config.intervene == "auto":
        intervene = intervention_defaults(names, OUTPUT_NAME)
    else:
        intervene = resolve_names(tuple(config.intervene), known, "--intervene")
    extra = [n for n in [*intervene, *([OUTPUT_NAME] if config.noise else [])] if n not in names]
    return names + list(dict.fromkeys(extra)), intervene


def _injection_record(path: Path) -> dict | None:
    """What the model folder's ``injection.json`` says (method, task, steps, seed); None for a
    model that was never injected."""
    record_path = path / RECORD
    if not record_path.is_file():
        return None
    record = json.loads(record_path.read_text())
    out = {k: record.get(k) for k in ("method", "task", "steps", "seed", "method_variant")}
    out["snapshot_step"] = record.get("snapshot_step")
    out["aligned_hidden_states"] = (record.get("program") or {}).get("aligned_hidden_states")
    return out


def _hidden_states(path: Path) -> int:
    """Hidden states of the model at ``path`` (blocks + 1), from its config alone."""
    from transformers import AutoConfig

    from tracr_bench.inject.blocks import num_layers

    n = num_layers(SimpleNamespace(config=AutoConfig.from_pretrained(path)))
    if n is None:
        raise DecodeError(f"cannot tell how many blocks the model at {str(path)!r} has")
    return n + 1


def _load_subject(path: Path, device: str):
    from tracr_bench.decode.subjects import LMSubject
    from tracr_bench.models import load_model

    lm, tokenizer = load_model(path, device=device)
    return LMSubject(lm, tokenizer)


def _digest(path: Path) -> dict[str, str]:
    from tracr_bench.models import weights_digest

    return weights_digest(path)
