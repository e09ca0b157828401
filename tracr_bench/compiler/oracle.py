"""The oracle: the compiled program itself, run on an LM tokenizer's translation of prompt + answer.

It checks that prompt, token translation and program agree with the reference solver
(``Task.target``): the paper's integer-sum task translated ``=`` to the filler and its program
answered zeros; nothing caught it. For every split it must score 100%, except splits whose task
says why it cannot (``Split.oracle_exempt``). The oracle program reads the evaluation splits;
``which="injection"`` runs the injection program (on ``train``, what the injector reads).

Where it falls short, ``diagnose`` names the likely cause in one line: the prompt's own words
read as program symbols, a program that is right only without the causal mask (checked with
``rasp.evaluate`` instead of ``tracr.rasp.causal_eval``), a RASP program that is itself wrong,
or a compiled program less exact than its RASP (``mlp_exactness`` too low: it tries larger
values and says which one works).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from tracr_bench.compiler.compiling import compile_program
from tracr_bench.compiler.task_programs import Which, compile_task, program_for, program_settings
from tracr_bench.compiler.token_translation import TranslatedExample, Translator
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.task import Example, Task, TaskError

MAX_TRIED_EXACTNESS = 10**8  # the largest mlp_exactness the diagnosis tries


@dataclass
class OracleResult:
    task: str
    split: str
    n: int
    correct: int
    exempt: str | None
    seconds: float
    failures: list[dict] = field(default_factory=list)  # the first few wrong examples
    program: str = "oracle"  # which compiled program read the split
    diagnosis: str | None = None  # the likely cause of the failures (not for exempt splits)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["accuracy"] = self.accuracy
        return d


def batch_ids(
    rows: list[TranslatedExample], lookup: torch.Tensor, bos_id: int, pad_id: int
) -> torch.Tensor:
    """Compiled input ids [B, T]: BOS, the translated LM ids, right-padded with PAD."""
    width = 1 + max(len(r.lm_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    ids[:, 0] = bos_id
    for i, r in enumerate(rows):
        ids[i, 1 : 1 + len(r.lm_ids)] = lookup[torch.tensor(r.lm_ids, dtype=torch.long)]
    return ids


def program_answers(
    program: TorchProgram, translator: Translator, rows: list[TranslatedExample], batch_size: int
) -> list[list[str]]:
    """The compiled program's answer units for each row (read at its answer positions)."""
    device = program.token_embed.device
    lookup = translator.lookup(program.compiled.input_encoding).to(device)
    out: list[list[str]] = []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            ids = batch_ids(chunk, lookup, program.bos_id, program.pad_id).to(device)
            decoded = program.decode_output(program(ids).final)
            out.extend(
                [str(d[p]) for p in row.answer_positions]
                for row, d in zip(chunk, decoded, strict=True)
            )
    return out


def run_oracle(
    task: Task,
    split: str,
    tokenizer,
    *,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 128,
    device: str = "cpu",
    cache_dir: Path | None = None,
    program: TorchProgram | None = None,
    which: Which = "oracle",
    diagnose_failures: bool = True,
    examples: Sequence[Example] | None = None,
) -> OracleResult:
    """Score the ``which`` compiled program on ``split`` (``limit`` examples at most); below
    100% on a split that is not exempt, ``diagnosis`` says why (``diagnose``). ``examples``:
    the split's examples drawn already (``tracr-bench eval`` passes the ones the model was
    asked), else the first ``limit`` of the split at ``seed`` are drawn here."""
    sp = task.split(split)
    if limit is not None and limit <= 0:
        raise TaskError(f"--limit must be a positive number of examples, got {limit}")
    t0 = time.time()
    if program is None:
        program = TorchProgram.from_compiled(compile_task(task, which, cache_dir=cache_dir))
    program = program.to(device)
    translator = Translator(task, tokenizer)
    if examples is None:
        examples = task.examples(split, size=limit, seed=seed)
    examples = list(examples)[:limit]
    rows = [translator.encode_example(ex) for ex in examples]
    too_long = [r for r in rows if len(r.lm_ids) > program.max_seq_len]
    if too_long:
        worst = max(len(r.lm_ids) for r in too_long)
        raise TaskError(
            f"{task.name}/{split}: {len(too_long)} examples are longer ({worst} tokens) than "
            f"the {which} program's max_seq_len {program.max_seq_len} with this tokenizer"
        )
    answers = program_answers(program, translator, rows, batch_size) if rows else []
    wrong = [(r, got) for r, got in zip(rows, answers, strict=True) if got != r.answer_units]
    failures = [
        {"prompt": r.example.prompt, "target": r.example.target, "program": got}
        for r, got in wrong[:5]
    ]
    result = OracleResult(
        task.name, split, len(rows), len(rows) - len(wrong), sp.oracle_exempt, 0.0, failures, which
    )
    if wrong and sp.oracle_exempt is None and diagnose_failures:
        failing = [r for r, _ in wrong[:5]]
        result.diagnosis = diagnose(
            task, which, translator, failing, program, rows=rows, cache_dir=cache_dir
        )
    result.seconds = time.time() - t0
    return result


def diagnose(
    task: Task,
    which: Which,
    translator: Translator,
    failing: list[TranslatedExample],
    program: TorchProgram,
    *,
    rows: list[TranslatedExample] | None = None,
    cache_dir: Path | None = None,
) -> str:
    """One line: the likely reason the compiled program answered ``failing`` wrongly (a larger
    ``mlp_exactness`` is tried on every one of ``rows``, default ``failing``)."""
    rasp_program = program_for(task, which)
    for row in failing:
        extra = _prompt_symbols_outside_input(task, row)
        if extra:
            return (
                f"the prompt's own words are read as program symbols {extra} (in "
                f"{row.example.prompt!r}): reword the prompt or the token map"
            )
    for row in failing:
        causal = _causal_answers(rasp_program, row)
        if causal != row.answer_units:
            if _prefix_answers(rasp_program, row) == row.answer_units:
                return (
                    f"the RASP program is right under rasp.evaluate but answers {causal} for "
                    f"{row.answer_units} under causal compilation (each position sees only the "
                    "positions up to it): check it with tracr.rasp.causal_eval"
                )
            return (
                f"the RASP program itself answers {causal} where the solver (Task.target) "
                f"answers {row.answer_units} for {row.example.prompt!r} "
                "(tracr.rasp.causal_eval on the translated prompt + answer)"
            )
    return _exactness_diagnosis(task, which, translator, rows or failing, program, cache_dir)


def _prompt_symbols_outside_input(task: Task, row: TranslatedExample) -> list[str]:
    """Program symbols the prompt holds beyond those of the input itself (e.g. the ``z`` of
    ``"Is there a z?"``), before the trigger."""
    tm = task.token_map
    trigger = row.answer_positions[0]
    read = [s for s in row.symbols[1:trigger] if s != tm.filler]
    expected = [tm.symbols[c] for c in row.example.input if c in tm.symbols]
    extra = list(read)
    for s in expected:
        if s in extra:
            extra.remove(s)
    return extra


def _causal_answers(rasp_program, row: TranslatedExample) -> list[str]:
    from tracr.rasp import causal_eval

    out = causal_eval.evaluate(rasp_program, row.symbols[1:])  # RASP sees no BOS
    return [str(out[p - 1]) for p in row.answer_positions]


def _prefix_answers(rasp_program, row: TranslatedExample) -> list[str]:
    """``rasp.evaluate`` (no causal mask) on each prefix that ends at an answer position."""
    from tracr.rasp import rasp

    return [
        str(rasp.evaluate(rasp_program, row.symbols[1 : p + 1])[-1]) for p in row.answer_positions
    ]


def _exactness_diagnosis(task, which, translator, rows, program, cache_dir) -> str:
    """Recompile with mlp_exactness x10, x100, ... and say which value answers all ``rows``."""
    current = program.compiled.mlp_exactness
    value = current * 10
    while value <= MAX_TRIED_EXACTNESS:
        cp = compile_program(
            program_for(task, which),
            task.token_map.compiler_vocab(),
            program.max_seq_len,
            causal=True,
            mlp_exactness=value,
            cache_dir=cache_dir,
        )
        trial = TorchProgram.from_compiled(cp).to(program.token_embed.device)
        answers = program_answers(trial, translator, rows, 128)
        if all(got == row.answer_units for got, row in zip(answers, rows, strict=True)):
            settings = program_settings(task, which, cache_dir=cache_dir)
            step = settings.exactness_step
            need = f" ({step} needs >= {settings.needed_exactness:,.0f})" if step else ""
            return (
                f"the compiled {which} program is less exact than its RASP (causal_eval agrees "
                f"with the solver): mlp_exactness {current:,} is too low for max_seq_len "
                f"{program.max_seq_len}{need}; {value:,} answers all {len(rows)} examples: "
                f"declare mlp_exactness={value} or leave it out to have it chosen"
            )
        value *= 10
    return (
        f"the compiled {which} program disagrees with its own RASP (causal_eval agrees with the "
        f"solver), and no mlp_exactness up to {MAX_TRIED_EXACTNESS:,} fixes it: look for a "
        "categorical Aggregate that selects several positions (tracr averages them) or a "
        "numerical Aggregate of values other than 0 and 1"
    )
