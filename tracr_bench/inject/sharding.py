"""FSDP for the injector: the trained LM sharded with torch's ``fully_shard`` (FSDP2), chosen
through accelerate's FSDP settings; the adapter replicated; the frozen copy sharded on its own.

In: ``Fsdp.select(accelerator)`` reads the FSDP plugin that ``accelerate launch --config_file
fsdp.yaml`` (``distributed_type: FSDP``) or the environment of a ``torchrun`` launch
(``ACCELERATE_USE_FSDP=true``, ``FSDP_VERSION=2``, ``FSDP_RESHARD_AFTER_FORWARD``) asks for. On
the CPU accelerate itself leaves such a run MULTI_CPU (its FSDP type is for accelerators), so the
plugin is read from the same variables here. Out: None without FSDP or with one process; an
``Fsdp`` otherwise; InjectError (one line) for the settings the injector does not support
(``fsdp_version: 1``, parameter offload, activation checkpointing, an FSDP mixed-precision
policy: ``--precision`` is the injector's).

Layout (``Fsdp.shard``, on a model still on the CPU; FSDP moves each unit's shards to the
process's device, so a model that does not fit one device is never whole on it):

- trained LM: one FSDP unit per transformer block (``blocks.find_blocks``, whatever the
  architecture; accelerate's auto-wrap settings are not used) and the root unit for the rest
  (embeddings, final norm, head: tied weights stay in one unit). Its parameters become DTensors
  sharded on dim 0; AdamW, made after, holds the shards of its moments;
- adapter: a plain module on every process (small; ``losses.OutputSubspace`` reads its rows each
  step); ``average_gradients`` averages its gradient after the backward pass;
- frozen copy: its own FSDP units in the same layout, no gradient, never in the optimiser, for
  memory only (resharded after each forward pass).

The gradient norm for clipping is the global one over the LM's shards and the adapter
(``clip_grad_norm``), the same on every process. Checkpoints and the final save hold full state
dicts in the formats of one process (``saveable``, collective: every process calls it, the main
process gets CPU copies), so a run checkpointed under FSDP resumes under one process or DDP and
the other way round; ``loadable`` slices a checkpoint's full tensors to this process's shards.
The options ``fsdp_state_dict_type`` and ``fsdp_cpu_ram_efficient_loading`` are not used: every
process loads the whole model into CPU memory, and every checkpoint is a full state dict.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any

import torch
from torch import nn

from tracr_bench.inject.blocks import find_blocks
from tracr_bench.inject.config import InjectError

FIX = "edit the FSDP settings of the accelerate config (or the FSDP_* variables)"


@dataclasses.dataclass
class Fsdp:
    """How the LM is sharded over the processes of a run."""

    reshard_after_forward: bool

    @classmethod
    def select(cls, accelerator: Any) -> Fsdp | None:
        """The FSDP settings the launcher asked for; None without FSDP or with one process."""
        plugin = getattr(accelerator.state, "fsdp_plugin", None)
        if plugin is None:
            if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() != "true":
                return None
            from accelerate.utils import FullyShardedDataParallelPlugin

            try:
                plugin = FullyShardedDataParallelPlugin()
            except (ValueError, KeyError, ImportError) as err:
                raise InjectError(f"accelerate's FSDP settings: {err}; {FIX}") from None
        _check(plugin)
        if accelerator.num_processes == 1:
            return None  # nothing to shard over
        return cls(reshard_after_forward=bool(plugin.reshard_after_forward))

    def shard(self, lm: nn.Module, device_type: str, frozen: bool = False) -> None:
        """Shard ``lm`` in place: one unit per block, then the root (see the module's text)."""
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        # the LM returns views (hidden states); nothing here changes them in place
        warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")
        mesh = init_device_mesh(device_type, (dist.get_world_size(),))
        reshard = True if frozen else self.reshard_after_forward
        for block in find_blocks(lm):
            fully_shard(block, mesh=mesh, reshard_after_forward=reshard)
        fully_shard(lm, mesh=mesh, reshard_after_forward=reshard)

    @staticmethod
    def average_gradients(params: list[nn.Parameter]) -> None:
        """Average the gradients of replicated (not sharded) parameters over the processes."""
        import torch.distributed as dist

        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        for g, part in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
            g.copy_(part.view_as(g))

    @staticmethod
    def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> float:
        """Scale the gradients so that their global 2-norm is at most ``max_norm`` (as
        ``torch.nn.utils.clip_grad_norm_``); returns the norm before, the same on every process."""
        import torch.distributed as dist
        from torch.distributed.tensor import DTensor

        grads = [p.grad for p in params if p.grad is not None]
        local = [g.to_local() for g in grads if isinstance(g, DTensor)]
        whole = [g for g in grads if not isinstance(g, DTensor)]
        device = (local or whole)[0].device
        square = torch.zeros((), device=device)
        for g in local:
            square += g.float().pow(2).sum()
        dist.all_reduce(square)
        for g in whole:
            square += g.float().pow(2).sum()
        total = square.sqrt()
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        with torch.no_grad():
            for g in local + whole:
                g.mul_(coef.to(g.dtype))
        return float(total)


def _check(plugin: Any) -> None:
    """InjectError for FSDP settings the injector does not support."""
    if plugin.fsdp_version != 2:
        raise InjectError(
            f"accelerate's FSDP config asks for fsdp_version {plugin.fsdp_version}; the injector "
            "shards with FSDP2 (torch's fully_shard): set fsdp_version: 2 (or FSDP_VERSION=2)"
        )
    from torch.distributed.fsdp import CPUOffloadPolicy

    unsupported = {
        "fsdp_offload_params": isinstance(plugin.cpu_offload, CPUOffloadPolicy),
        "fsdp_activation_checkpointing": bool(plugin.activation_checkpointing),
        "mixed_precision_policy (use --precision)": plugin.mixed_precision_policy is not None,
    }
    asked = [name for name, on in unsupported.items() if on]
    if asked:
        raise InjectError(
            f"accelerate's FSDP config sets {', '.join(asked)}, which the injector does not "
            f"support; {FIX}"
        )


class Gathered:
    """A full state dict, passed where ``checkpoint`` and ``run_folder`` call ``state_dict()``."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def state_dict(self) -> dict[str, Any]:
        return self.state


def _gather(state: dict[str, Any], keep: bool) -> dict[str, Any]:
    """``state`` with its DTensors gathered whole (collective), CPU copies if ``keep``."""
    from torch.distributed.tensor import DTensor

    out: dict[str, Any] = {}
    done: dict[int, torch.Tensor | None] = {}  # tied weights: gathered once
    for k, v in state.items():
        if isinstance(v, dict):
            out[k] = _gather(v, keep)
            continue
        if isinstance(v, DTensor):
            if id(v) not in done:  # the same keys in the same order on every process
                full = v.full_tensor()
                done[id(v)] = full.detach().cpu() if keep else None  # only one whole at a time
            v = done[id(v)]
        if keep:
            out[k] = v.detach().cpu() if isinstance(v, torch.Tensor) else v
    return out


def saveable(
    processes: Any, lm: nn.Module, optimizer: Any = None, model_folder: bool = False
) -> tuple[Any, Any]:
    """``(lm, optimizer)`` as ``save_checkpoint`` / ``save_model_folder`` take them: themselves
    without FSDP; under FSDP gathered (every process must call this; the others get Nones): with
    ``model_folder`` an unsharded LM that ``save_pretrained`` writes, else ``Gathered``."""
    if processes.fsdp is None:
        return lm, optimizer
    keep = processes.is_main
    state = _gather(lm.state_dict(), keep)
    opt = None
    if optimizer is not None:
        saved = optimizer.state_dict()
        opt = Gathered(
            {"state": _gather(saved["state"], keep), "param_groups": saved["param_groups"]}
        )
    if not keep:
        return None, None
    return (_plain_copy(lm, state) if model_folder else Gathered(state)), opt


def _plain_copy(lm: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """An unsharded LM of ``lm``'s class and config holding the tensors of ``state``."""
    from torch.distributed.fsdp import FSDPModule

    cls = next(c for c in type(lm).__mro__ if not issubclass(c, FSDPModule))
    with torch.device("meta"):
        plain = cls(lm.config)
    plain.load_state_dict(state, strict=True, assign=True)
    plain.tie_weights()
    plain.generation_config = lm.generation_config
    return plain.eval()


def _shard_like(full: torch.Tensor, like: Any) -> Any:
    """``full`` as a DTensor placed like ``like`` (this process's slice; no communication), or
    ``full`` itself when ``like`` is not a DTensor."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if not isinstance(like, DTensor):
        return full
    full = full.to(device=like.to_local().device, dtype=like.dtype)
    return distribute_tensor(full, like.device_mesh, like.placements, src_data_rank=None)


class _ModuleLoad:
    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def load_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True) -> Any:
        current = self.module.state_dict()
        state = {k: _shard_like(v, current.get(k)) for k, v in state.items()}
        return self.module.load_state_dict(state, strict=strict)


class _OptimizerLoad:
    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        state = {
            i: {k: v if k == "step" else _shard_like(v, params[i]) for k, v in s.items()}
            for i, s in saved["state"].items()
        }
        self.optimizer.load_state_dict({**saved, "state": state})


def loadable(processes: Any, lm: nn.Module, optimizer: Any) -> tuple[Any, Any]:
    """``(lm, optimizer)`` as ``load_checkpoint`` takes them: under FSDP, objects whose
    ``load_state_dict`` slices the checkpoint's full tensors to this process's shards."""
    if processes.fsdp is None:
        return lm, optimizer
    return _ModuleLoad(lm), _OptimizerLoad(optimizer)
