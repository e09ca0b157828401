"""Several processes: ``tracr-bench eval`` data-parallel under ``torchrun`` or ``accelerate
launch``.

Each process loads the model (on its own device: ``cuda:<local rank>`` on GPUs, the CPU with
gloo) and runs the same ``simple_evaluate``; the requests are split by document in the lm-eval
model itself (``share_requests``): for each request type, process ``r`` of ``n`` answers the
requests of documents ``r, r + n, ...`` (the documents lm-eval's own data parallelism would give
it), and the answers are gathered so that every process hands lm-eval the answers to all
requests. lm-eval then scores every document on every process, in the same order as one process
does, so the figures are those of one process.

Why not lm-eval's own split (``HFLM`` with a rank and a world size)? lm-eval 0.4.13 gathers the
per-document metrics on process 0 by the metric names process 0 has seen
(``evaluator.evaluate``): a metric that only some processes produced (the per-length buckets
``acc_len_*``, which only a bucket's documents report) raises ``KeyError`` there, or is dropped
when process 0 has none of its documents. Splitting the requests keeps lm-eval's scoring as
with one process, and needs no padding of the request lists.

``Processes`` is the rest of the run's view of this: which process is the main one (it alone
writes the results file and prints), the share of a list a process takes (the oracle's splits),
gathering pieces from every process, and handing the main process's results to all. With one
process (no launcher) every method is the identity and nothing of ``accelerate`` is touched.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def launched_processes() -> int:
    """How many processes the launcher started (``WORLD_SIZE``; 1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main_process() -> bool:
    """Whether this is the process that reports (global rank 0), readable before any set-up."""
    return int(os.environ.get("RANK", "0") or 0) == 0


@dataclass(frozen=True)
class Processes:
    """This process's place in the run: ``accelerator`` is None for a single process."""

    accelerator: Any = None

    @property
    def rank(self) -> int:
        return 0 if self.accelerator is None else self.accelerator.process_index

    @property
    def count(self) -> int:
        return 1 if self.accelerator is None else self.accelerator.num_processes

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> str:
        """Where this process puts the model: the launcher's device for it (``cuda:<local
        rank>`` on GPUs, ``cpu`` with gloo), else the requested one."""
        return requested if self.accelerator is None else str(self.accelerator.device)

    def share(self, items: Sequence) -> list[int]:
        """The indices of ``items`` this process takes: every ``count``-th from its rank."""
        return list(range(self.rank, len(items), self.count))

    def gather(self, piece: list) -> list:
        """Every process's ``piece`` (a list), concatenated in rank order, on every process."""
        if self.accelerator is None:
            return list(piece)
        from accelerate.utils import gather_object

        return list(gather_object(piece))

    def sum_counts(self, counts: Counter) -> Counter:
        """The counters of every process, added up."""
        total: Counter = Counter()
        for part in self.gather([dict(counts)]):
            total.update(part)
        return total

    def from_main(self, obj: Any) -> Any:
        """The main process's ``obj``, on every process."""
        if self.accelerator is None:
            return obj
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([obj], from_process=0)[0]

    def share_requests(self, hflm) -> None:
        """Make the lm-eval model ``hflm`` answer only this process's share of every request
        list it is given (by document), and return the answers of all processes."""
        if self.accelerator is None:
            return
        for name in REQUEST_TYPES:  # instance attributes shadow the class's methods
            setattr(hflm, name, self._shared(getattr(hflm, name)))

    def _shared(self, answer: Callable) -> Callable:
        def shared(requests: list, disable_tqdm: bool = False) -> list:
            mine = [
                i for i, req in enumerate(requests) if _doc_id(req, i) % self.count == self.rank
            ]
            quiet = disable_tqdm or not self.is_main
            out = answer([requests[i] for i in mine], disable_tqdm=quiet) if mine else []
            answers: list = [None] * len(requests)
            for i, a in self.gather(list(zip(mine, out, strict=True))):
                answers[i] = a
            return answers

        return shared


REQUEST_TYPES = ("generate_until", "loglikelihood", "loglikelihood_rolling")


def _doc_id(request, index: int) -> int:
    doc_id = getattr(request, "doc_id", None)
    return doc_id if isinstance(doc_id, int) else index


def finish() -> None:
    """At the end of a launched run: wait for every process, then leave the process group, so
    that no process exits while another still talks to it (gloo aborts a process whose peer
    has gone)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def start() -> Processes:
    """This process's ``Processes``: with a launcher that started several, the
    ``Accelerator`` (which joins the process group: NCCL on GPUs; gloo on a machine without
    one, where accelerate needs ``cpu=True`` to see several processes at all)."""
    if launched_processes() <= 1:
        return Processes()
    from datetime import timedelta

    import torch
    from accelerate import Accelerator, InitProcessGroupKwargs

    # as lm-eval's HFLM: a long timeout, since one process may wait on another's share
    group = InitProcessGroupKwargs(timeout=timedelta(weeks=52))
    return Processes(Accelerator(cpu=not torch.cuda.is_available(), kwargs_handlers=[group]))


__all__ = ["Processes", "finish", "is_main_process", "launched_processes", "start"]
