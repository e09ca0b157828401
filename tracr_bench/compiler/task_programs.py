"""A task's two compiled programs, the lengths and exactness they are compiled with, from the
on-disk cache or compiled now.

- ``injection``: compiled for the training lengths; the injector aligns the LM's hidden states
  with its residual stream, so it is kept small.
- ``oracle``: compiled for the longest split; checks every split.

``compile_sized`` compiles either for the inputs one run reads instead (``tracr-bench eval``'s
oracle column: the longest prompt + answer of the evaluated examples in the model's tokenizer),
which needs no survey of every split and compiles a program no longer than the run needs (not
rounded up: a longer program can need a larger ``mlp_exactness`` and compiles slower).

What a task leaves out (None) is computed here, and what it declares is checked:

- ``max_seq_len``: the longest prompt + answer of the program's splits (``train``; every split),
  in tokens of the default LM's tokenizer, BOS excluded (the compiled model adds its own BOS;
  ``Translator.encode_example`` gives it prompt + answer, and the stop newline the injector
  trains is never read by the program). ``tracr_bench.task.survey`` says what the bound covers.
  A declared length below it is a one-line ``TaskError`` that gives the needed value.
- ``mlp_exactness``: the smallest power of ten (at least tracr's default, 100) at which every
  numerical MLP decodes its inputs exactly. tracr's discretising MLP with exactness L reads
  two neighbouring input values apart only when L >= 2 / their gap, and only gaps where the
  output changes matter: for a SelectorWidth (it decodes 1/(w + 1), w up to max_seq_len = N)
  that is 2 N (N + 1). The gaps come from the compiler's own value sets; where a numerical
  mean's real values fall outside them, the oracle's check catches what this misses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from tracr_bench.compiler.compiling import CompiledProgram, compile_program, default_cache_dir
from tracr_bench.task import Task, TaskError
from tracr_bench.task.survey import token_spans

Which = Literal["injection", "oracle"]
OUTPUT_NAME = "final_result"
MIN_EXACTNESS = 100  # tracr's default


@dataclass(frozen=True)
class ProgramSettings:
    """What one program is compiled with, and where each value comes from."""

    which: str
    max_seq_len: int
    needed_max_seq_len: int  # the longest prompt + answer of its splits (the computed value)
    max_seq_len_declared: bool
    mlp_exactness: int
    needed_exactness: float  # 2 / the narrowest gap that matters (see the module docstring)
    exactness_step: str  # the SOp that needs it, e.g. "SelectorWidth 'ones'"
    mlp_exactness_declared: bool


def program_for(task: Task, which: Which):
    """The task's RASP program for ``which``, its output named ``final_result``."""
    if which == "oracle" and task.oracle_program is not None:
        program = task.oracle_program()
    else:
        program = task.program()
    return program.named(OUTPUT_NAME)


@cache
def default_tokenizer():
    """The default LM's tokenizer, what the lengths are counted in (loaded once)."""
    from tracr_bench.models import load_tokenizer

    return load_tokenizer("default")


@cache
def default_tokenizer_id() -> str:
    """The sha256 of the default LM's tokenizer file: cached token counts are keyed by it."""
    from tracr_bench.models import DEFAULT_MODEL_DIR, file_sha256

    return file_sha256(DEFAULT_MODEL_DIR / "tokenizer.json")


def _check_which(which: str) -> None:
    if which not in ("injection", "oracle"):
        raise TaskError(f"unknown program kind {which!r}; choose injection or oracle")


def needed_max_seq_len(task: Task, which: Which, *, cache_dir: Path | None = None) -> int:
    """The longest prompt + answer the ``which`` program reads, in default-tokenizer tokens."""
    _check_which(which)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    splits = ["train"] if which == "injection" else list(task.splits)
    spans = token_spans(task, default_tokenizer, default_tokenizer_id(), root, splits)
    return max(span.bound for span in spans.values())


def needed_exactness(program, vocab: set[str], max_seq_len: int) -> tuple[float, str]:
    """(2 / the narrowest gap that matters over every numerical MLP, the SOp that has it); (0,
    "") for a program with no numerical MLP. See the module docstring."""
    from tracr.compiler import basis_inference, nodes, rasp_to_graph
    from tracr.rasp import rasp
    from tracr.utils import errors

    extracted = rasp_to_graph.extract_rasp_graph(program)
    graph = extracted.graph
    basis_inference.infer_bases(graph, extracted.sink, set(vocab), max_seq_len)
    worst, step = 0.0, ""
    for node in graph.nodes.values():
        expr = node[nodes.EXPR]
        if isinstance(expr, rasp.SelectorWidth):
            n = max(node[nodes.VALUE_SET])
            need, kind = 2.0 * n * (n + 1), "SelectorWidth"
        elif isinstance(expr, rasp.Map) and rasp.is_numerical(expr.inner):
            f = errors.ignoring_arithmetic_errors(expr.f)
            values = graph.nodes[expr.inner.label][nodes.VALUE_SET]
            kept = [(x, f(x)) for x in sorted(values) if f(x) is not None]
            pairs = zip(kept, kept[1:], strict=False)
            gaps = [x1 - x0 for (x0, y0), (x1, y1) in pairs if y0 != y1]
            need, kind = (2.0 / min(gaps) if gaps else 0.0), "numerical Map"
        else:
            continue
        if need > worst:
            worst, step = need, f"{kind} {expr.name!r}"
    return worst, step


def exactness_for(need: float) -> int:
    """The smallest power of ten >= ``need``, and at least tracr's default 100."""
    value = MIN_EXACTNESS
    while value < need:
        value *= 10
    return value


@cache
def _settings(task: Task, which: Which, cache_dir: Path | None) -> ProgramSettings:
    needed_len = needed_max_seq_len(task, which, cache_dir=cache_dir)
    declared_len = task.injection_max_seq_len if which == "injection" else task.oracle_max_seq_len
    if declared_len is not None and declared_len < needed_len:
        covers = "train" if which == "injection" else "every split"
        raise TaskError(
            f"task {task.name!r}: {which}_max_seq_len {declared_len} is too small: the longest "
            f"prompt + answer of {covers} is {needed_len} tokens of the default tokenizer; "
            f"declare {needed_len}, or leave it out to have it computed"
        )
    max_seq_len = needed_len if declared_len is None else declared_len
    need, step = needed_exactness(
        program_for(task, which), task.token_map.compiler_vocab(), max_seq_len
    )
    exactness = task.mlp_exactness if task.mlp_exactness is not None else exactness_for(need)
    return ProgramSettings(
        which=which,
        max_seq_len=max_seq_len,
        needed_max_seq_len=needed_len,
        max_seq_len_declared=declared_len is not None,
        mlp_exactness=exactness,
        needed_exactness=need,
        exactness_step=step,
        mlp_exactness_declared=task.mlp_exactness is not None,
    )


def program_settings(
    task: Task, which: Which = "injection", *, cache_dir: Path | None = None
) -> ProgramSettings:
    """``max_seq_len`` and ``mlp_exactness`` of the ``which`` program: declared (and checked)
    or computed; computed once per process (token counts are also cached in ``cache_dir``)."""
    _check_which(which)
    return _settings(task, which, Path(cache_dir) if cache_dir is not None else None)


def compile_task(
    task: Task, which: Which = "injection", *, cache_dir: Path | None = None
) -> CompiledProgram:
    settings = program_settings(task, which, cache_dir=cache_dir)
    return compile_program(
        program_for(task, which),
        task.token_map.compiler_vocab(),
        settings.max_seq_len,
        causal=True,
        mlp_exactness=settings.mlp_exactness,
        cache_dir=cache_dir,
    )


def sized_settings(task: Task, which: Which, longest: int) -> tuple[int, int]:
    """(max_seq_len, mlp_exactness) of the ``which`` program for inputs of at most ``longest``
    tokens (prompt + answer, BOS excluded): the declared length if it covers them, else
    ``longest``; the exactness declared, or computed for that length (``needed_exactness``).
    Reads no split."""
    _check_which(which)
    if longest < 1:
        raise TaskError(f"task {task.name!r}: nothing to compile for (longest input {longest})")
    declared = task.injection_max_seq_len if which == "injection" else task.oracle_max_seq_len
    max_seq_len = declared if declared is not None and declared >= longest else longest
    if task.mlp_exactness is not None:
        return max_seq_len, task.mlp_exactness
    vocab = task.token_map.compiler_vocab()
    need, _ = needed_exactness(program_for(task, which), vocab, max_seq_len)
    return max_seq_len, exactness_for(need)


def compile_sized(
    task: Task | str, which: Which, longest: int, *, cache_dir: Path | None = None
) -> CompiledProgram:
    """The ``which`` program compiled (or loaded from the cache) for inputs of at most
    ``longest`` tokens (``sized_settings``). ``task`` may be its registered name, so that a
    worker process can be handed it."""
    if isinstance(task, str):
        from tracr_bench.task import get_task

        task = get_task(task)
    max_seq_len, exactness = sized_settings(task, which, longest)
    return compile_program(
        program_for(task, which),
        task.token_map.compiler_vocab(),
        max_seq_len,
        causal=True,
        mlp_exactness=exactness,
        cache_dir=cache_dir,
    )
