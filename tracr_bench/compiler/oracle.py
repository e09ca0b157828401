"""The oracle: the compiled program itself, run on an LM tokenizer's translation of prompt + answer.

It checks that prompt, token translation and program agree (the paper's integer-sum task
translated ``=`` to the filler and its program answered zeros; nothing caught it). For every
split it must score 100%, except splits whose task says why it cannot (``Split.oracle_exempt``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from tracr_bench.compiler.task_programs import compile_task
from tracr_bench.compiler.token_translation import TranslatedExample, Translator
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.task import Task, TaskError


@dataclass
class OracleResult:
    task: str
    split: str
    n: int
    correct: int
    exempt: str | None
    seconds: float
    failures: list[dict] = field(default_factory=list)  # the first few wrong examples

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
) -> OracleResult:
    """Score the oracle program on ``split`` (``limit`` examples at most)."""
    sp = task.split(split)
    if limit is not None and limit <= 0:
        raise TaskError(f"--limit must be a positive number of examples, got {limit}")
    t0 = time.time()
    if program is None:
        program = TorchProgram.from_compiled(compile_task(task, "oracle", cache_dir=cache_dir))
    program = program.to(device)
    translator = Translator(task, tokenizer)
    lookup = translator.lookup(program.compiled.input_encoding)
    examples = task.examples(split, size=limit if limit is not None else None, seed=seed)
    rows = [translator.encode_example(ex) for ex in examples]
    too_long = [r for r in rows if len(r.lm_ids) > program.max_seq_len]
    if too_long:
        worst = max(len(r.lm_ids) for r in too_long)
        raise TaskError(
            f"{task.name}/{split}: {len(too_long)} examples are longer ({worst} tokens) than "
            f"the oracle program's max_seq_len {program.max_seq_len} with this tokenizer"
        )
    correct = 0
    failures: list[dict] = []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            ids = batch_ids(chunk, lookup, program.bos_id, program.pad_id).to(device)
            decoded = program.decode_output(program(ids).final)
            for row, out in zip(chunk, decoded, strict=True):
                got = [str(out[p]) for p in row.answer_positions]
                if got == row.answer_units:
                    correct += 1
                elif len(failures) < 5:
                    failures.append(
                        {
                            "prompt": row.example.prompt,
                            "target": row.example.target,
                            "program": got,
                        }
                    )
    seconds = time.time() - t0
    return OracleResult(task.name, split, len(rows), correct, sp.oracle_exempt, seconds, failures)
