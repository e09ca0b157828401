"""One injection run on one process or on several (data parallel), through accelerate.

``torchrun --nproc_per_node N -m tracr_bench inject ...`` or ``accelerate launch
--num_processes N -m tracr_bench inject ...`` start N processes; ``Processes.start`` makes the
``Accelerator`` that joins them (gloo on the CPU, NCCL on GPUs), and a plain ``tracr-bench
inject`` is the same code with N = 1. What is global and what is per process:

- the configuration's ``batch_size`` and ``kl_batch_size`` are global: each must divide by N,
  and process ``r`` trains on rows ``r * B/N .. (r + 1) * B/N - 1`` of the batch one process
  would draw (``shard``). The data stream (example indices by step, the generator of the
  natural-text offsets) is the same on every process, so it is one global state, which the
  checkpoint keeps; a run can resume under any N that divides both batch sizes;
- the losses are sums over the shard divided by the global batch's counts; their sum over the
  processes (``sum``, one all-reduce of a few numbers per step) is the one-process loss, and the
  gradients DDP averages are the one-process gradient (the backward pass scales by N);
- detach-and-roll rolls the global batch: row 0 of a shard receives the rest of the previous
  shard's last row (``previous_row``, one all-gather of one ``[T, H]`` row per step), so an
  example's rolled-in hidden state is the same as in the one-process run;
- dropout masks cannot be split that way: torch's generator is seeded per step and process
  (``dropout_seed``), so a resumed run repeats its masks under the same N;
- only the main process writes (checkpoints, the model folder, ``injection.json``); a check it
  alone makes (the output folder) is shared with the others through ``on_main``, so that every
  process stops with the same error.

With an accelerate config (or environment) that selects FSDP, ``fsdp`` holds the settings and the
LM is sharded instead of wrapped by DDP (``sharding``); everything above holds unchanged.
``parallelism`` names what runs: ``fsdp``, ``ddp`` or ``single``. DeepSpeed, Megatron-LM and
XLA are refused in one line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from tracr_bench.inject.config import InjectConfig, InjectError
from tracr_bench.inject.sharding import Fsdp

T = TypeVar("T")


def check_divides(cfg: InjectConfig, n: int) -> None:
    """InjectError unless both global batch sizes divide among ``n`` processes."""
    for name in ("batch_size", "kl_batch_size"):
        size = getattr(cfg, name)
        if size % n:
            flag = "--" + name.replace("_", "-")
            raise InjectError(
                f"{flag} {size} does not divide among {n} processes (the batch sizes are "
                f"global): pass a multiple of {n}"
            )


def dropout_seed(seed: int, step: int, rank: int) -> int:
    """The seed of torch's generator at ``step`` on process ``rank`` (dropout masks)."""
    return (seed * 1_000_003 + step) * 4_099 + rank


@dataclasses.dataclass
class Processes:
    """The processes of one run, as accelerate sees them."""

    accelerator: Any  # accelerate.Accelerator
    fsdp: Fsdp | None = None  # the LM sharded (FSDP2) rather than wrapped by DDP

    @classmethod
    def start(cls, device: torch.device) -> Processes:
        """Join the processes the launcher started (or this one alone) on ``device``'s kind."""
        from accelerate import Accelerator

        if _launched_world_size() > 1 and device.type == "cuda" and device.index is not None:
            raise InjectError(
                f"--device {device}: under a launcher each process takes the GPU of its local "
                "rank; pass --device cuda (or auto)"
            )
        if device.type == "cuda" and device.index is not None:
            torch.cuda.set_device(device)
        try:
            accelerator = Accelerator(cpu=device.type == "cpu", mixed_precision="no")
        except ValueError as err:  # accelerate's state is per process and fixed once made
            raise InjectError(f"cannot run on {device} in this process: {err}") from None
        if accelerator.device.type != device.type:
            raise InjectError(
                f"--device {device}: the launcher's processes run on {accelerator.device.type}"
            )
        kind = accelerator.distributed_type.value
        if kind not in ("NO", "FSDP") and not kind.startswith("MULTI_"):  # DEEPSPEED, MEGATRON
            raise InjectError(
                f"accelerate's {kind} is not supported by the injector; use data parallel "
                "(torchrun, or accelerate launch without a DeepSpeed config) or FSDP (an "
                "accelerate config with distributed_type: FSDP and fsdp_version: 2)"
            )
        return cls(accelerator, Fsdp.select(accelerator))

    @property
    def parallelism(self) -> str:
        """``fsdp`` (the LM sharded), ``ddp`` (replicated, several processes) or ``single``."""
        if self.fsdp is not None:
            return "fsdp"
        return "ddp" if self.n > 1 else "single"

    @property
    def n(self) -> int:
        return self.accelerator.num_processes

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def shard(self, size: int) -> slice:
        """This process's rows of a global batch of ``size`` (``check_divides`` first)."""
        part = size // self.n
        return slice(self.rank * part, (self.rank + 1) * part)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over the processes."""
        if self.n == 1:
            return values
        return self.accelerator.reduce(values.contiguous(), reduction="sum")

    def previous_row(self, last: torch.Tensor) -> torch.Tensor:
        """The ``last`` row of the process before this one (of the last, for process 0)."""
        if self.n == 1:
            return last
        from accelerate.utils import gather

        rows = gather(last[None].float().contiguous())  # [N, T, H], in process order
        return rows[(self.rank - 1) % self.n].to(last.dtype)

    def on_main(self, work: Callable[[], T]) -> T | None:
        """``work()`` on the main process only (None elsewhere); an InjectError it raises is
        raised on every process, so that all of them stop."""
        result, error = None, None
        if self.is_main:
            try:
                result = work()
            except InjectError as err:
                error = str(err)
        if self.n > 1:
            from accelerate.utils import broadcast_object_list

            box = broadcast_object_list([error])
            error = box[0]
        if error is not None:
            raise InjectError(error)
        return result

    def wait(self) -> None:
        """Every process waits here for the others."""
        self.accelerator.wait_for_everyone()


def _launched_world_size() -> int:
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))
