"""The oracle column of ``tracr-bench eval``: each split's examples, as the model was asked them,
read by the task's compiled oracle program through the model's tokenizer.

In: the split rows (with ``max_prompt_tokens`` from the context check), the run's settings, the
model's tokenizer. Out: each row's ``oracle_accuracy`` or ``oracle_note``.

It costs nothing to run the programs; compiling them on an empty cache is what costs (several
seconds to minutes a task). So:

- each task's program is compiled once for the inputs this run reads
  (``compiler.task_programs.compile_sized``: the longest prompt of its evaluated splits plus
  its longest answer, in the model's tokenizer), not for every length of every split, and with
  no survey of the whole splits;
- ``start`` hands each task to one of ``WORKERS`` worker processes (spawned, so that no torch
  or lm-eval state is forked; one torch thread each) and returns at once: while lm-eval runs
  the model, they compile the task's program and score its rows on the examples already drawn
  (``split_rows.evaluated``: no draw of its own); ``finish`` collects the figures. A task its
  worker could not handle (e.g. one registered only in this process) is done in this process;
  an error while compiling or scoring becomes the row's note.

With several processes (``torchrun``) each one compiles and scores its share of the rows in
itself, and all get every figure.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path

from tracr_bench.evaluate.processes import Processes
from tracr_bench.evaluate.results import SplitResult
from tracr_bench.evaluate.settings import RunSettings
from tracr_bench.evaluate.split_rows import evaluated
from tracr_bench.task import TaskError, get_task

WORKERS = 2  # compiling processes (the machine this was tuned on has 2 cores)


@dataclass
class OracleJob:
    """The oracle column under way: the rows this process scores, by task, and the programs
    being compiled for them."""

    rows: list[SplitResult]
    mine: list[int]  # indices of the rows this process scores
    by_task: dict[str, list[int]] = field(default_factory=dict)
    longest: dict[str, int] = field(default_factory=dict)  # tokens each task's program reads
    pending: dict = field(default_factory=dict)  # task -> AsyncResult of its worker
    pool: object | None = None


def longest_input(row: SplitResult, run: RunSettings, tokenizer) -> int:
    """An upper bound on prompt + answer tokens of the row's evaluated examples (the longest
    prompt, from the context check, plus the longest answer)."""
    task = get_task(row.task)
    examples = evaluated(task, row.split, run)
    prompt = row.max_prompt_tokens
    if prompt is None:
        prompt = max(len(tokenizer.encode(ex.prompt, add_special_tokens=False)) for ex in examples)
    answer = max(len(tokenizer.encode(ex.target, add_special_tokens=False)) for ex in examples)
    return prompt + answer


def start(rows: list[SplitResult], run: RunSettings, tokenizer, procs: Processes) -> OracleJob:
    """Plan this process's share of the column and start compiling its programs."""
    job = OracleJob(rows, procs.share(rows))
    for i in job.mine:
        row = rows[i]
        if row.skipped == "the split is empty":
            row.oracle_note = "n/a: the split is empty"
            continue
        job.by_task.setdefault(row.task, []).append(i)
        need = longest_input(row, run, tokenizer)
        job.longest[row.task] = max(job.longest.get(row.task, 0), need)
    if procs.count == 1 and job.longest:
        ctx = multiprocessing.get_context("spawn")
        job.pool = ctx.Pool(min(WORKERS, len(job.longest)))
        for name, longest in job.longest.items():
            work = (name, longest, run.cache_dir, tokenizer, _splits(job, name, run))
            job.pending[name] = job.pool.apply_async(_task_column, work)
        job.pool.close()
    return job


def stop(job: OracleJob) -> None:
    """End the workers now (the run failed or was interrupted: nothing waits for them)."""
    if job.pool is not None:
        job.pool.terminate()
        job.pool.join()
        job.pool = None


def finish(job: OracleJob, run: RunSettings, tokenizer, procs: Processes) -> None:
    """Each row's figures, from its task's worker or computed here; every process gets every
    row's figures."""
    from tqdm.auto import tqdm

    show = run.progress and procs.is_main
    bar = tqdm(total=len(job.mine), desc="oracle", unit="split", disable=not show)
    try:
        for name, indices in job.by_task.items():
            bar.set_postfix_str(name)
            figures = _from_worker(job, name)
            if figures is None:
                splits = _splits(job, name, run)
                figures = _task_column(name, job.longest[name], run.cache_dir, tokenizer, splits)
            for i, (accuracy, note) in zip(indices, figures, strict=True):
                job.rows[i].oracle_accuracy, job.rows[i].oracle_note = accuracy, note
            bar.update(len(indices))
    finally:
        bar.close()
        stop(job)
    figures = [(i, job.rows[i].oracle_accuracy, job.rows[i].oracle_note) for i in job.mine]
    for i, accuracy, note in procs.gather(figures):
        job.rows[i].oracle_accuracy, job.rows[i].oracle_note = accuracy, note


def _splits(job: OracleJob, name: str, run: RunSettings) -> list[tuple[str, tuple]]:
    """(split, the examples the model is asked) of the task's rows."""
    task = get_task(name)
    return [(job.rows[i].split, evaluated(task, job.rows[i].split, run)) for i in job.by_task[name]]


def _from_worker(job: OracleJob, name: str) -> list | None:
    """The task's figures from its worker; None if there is no worker or it failed."""
    pending = job.pending.pop(name, None)
    if pending is None:
        return None
    try:
        return pending.get()
    except Exception:  # e.g. a task registered only in this process: done here instead
        return None


def _task_column(
    name: str, longest: int, cache_dir: Path | None, tokenizer, splits: list[tuple[str, tuple]]
) -> list[tuple[float | None, str | None]]:
    """A worker's job (or this process's): the task's oracle program for inputs of ``longest``
    tokens, and (accuracy, note) for each (split, examples)."""
    import torch

    from tracr_bench.compiler.oracle import run_oracle
    from tracr_bench.compiler.task_programs import compile_sized
    from tracr_bench.compiler.torch_program import TorchProgram

    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)  # a worker: leave the other cores to the model
    task = get_task(name)
    try:
        compiled = compile_sized(task, "oracle", longest, cache_dir=cache_dir)
        program = TorchProgram.from_compiled(compiled)
    except (TaskError, ValueError) as err:
        return [(None, f"n/a: {str(err).splitlines()[0]}")] * len(splits)
    figures: list[tuple[float | None, str | None]] = []
    for split, examples in splits:
        try:
            res = run_oracle(task, split, tokenizer, examples=examples, program=program)
        except (TaskError, ValueError) as err:
            figures.append((None, f"n/a: {str(err).splitlines()[0]}"))
            continue
        figures.append((res.accuracy, f"exempt: {res.exempt}" if res.exempt else None))
    return figures


__all__ = ["OracleJob", "finish", "start", "stop"]
