"""One process or many: the same training command runs plain or under torchrun (DDP).

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (and the rendezvous address); when
``WORLD_SIZE`` is above 1 the trainer joins a process group: ``nccl`` when CUDA is present (one GPU
per process, by local rank), ``gloo`` on CPU. Rank 0 alone writes files and draws the progress bar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from toolkit.errors import CamkitError


@dataclass(frozen=True)
class Processes:
    """Where this process stands in the run."""

    world_size: int
    rank: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes checkpoints and logs."""
        return self.rank == 0

    @property
    def backend(self) -> str:
        return "nccl" if self.device.type == "cuda" else "gloo"


def from_env() -> Processes:
    """The process layout torchrun describes in the environment (one process when absent)."""
    try:
        world = int(os.environ["WORLD_SIZE"]) if "WORLD_SIZE" in os.environ else 1
        rank = int(os.environ["RANK"]) if "RANK" in os.environ else 0
        local = int(os.environ["LOCAL_RANK"]) if "LOCAL_RANK" in os.environ else rank
    except ValueError:
        raise CamkitError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (set by torchrun)") from None
    if world > 1 and "MASTER_ADDR" not in os.environ:
        raise CamkitError("WORLD_SIZE > 1 but no MASTER_ADDR; launch multi-process runs with torchrun")
    if torch.cuda.is_available():
        device = torch.device("cuda", local % torch.cuda.device_count())
    else:
        device = torch.device("cpu")
    return Processes(world, rank, local, device)


def start(procs: Processes) -> bool:
    """Join the process group when distributed; True when this call created it."""
    if procs.device.type == "cuda":
        torch.cuda.set_device(procs.device)
    if not procs.distributed or dist.is_initialized():
        return False
    dist.init_process_group(backend=procs.backend)
    return True


def stop(created: bool) -> None:
    if created and dist.is_initialized():
        dist.destroy_process_group()


def barrier(procs: Processes) -> None:
    if procs.distributed:
        dist.barrier()


def wrap(net: nn.Module, procs: Processes) -> nn.Module:
    """DistributedDataParallel around ``net`` when distributed (gradients averaged per backward).

    find_unused_parameters stays off: the engine gives each phase only its own group's networks
    wrapped and freezes the rest (see recipes/_common/recipe.py), so every wrapped parameter gets
    exactly one gradient per backward.
    """
    if not procs.distributed:
        return net
    from torch.nn.parallel import DistributedDataParallel

    ids = [procs.device.index] if procs.device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids)


def unwrap(net: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (state_dict keys without ``module.``)."""
    return net.module if hasattr(net, "module") and isinstance(net.module, nn.Module) else net


def mean_across(value: torch.Tensor, procs: Processes) -> float:
    """The mean of a scalar over all processes (NaN anywhere gives NaN everywhere)."""
    value = value.detach().reshape(1).float()
    if procs.distributed:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value = value / procs.world_size
    return float(value.item())


def means_across(values: list[torch.Tensor], procs: Processes) -> list[float]:
    """The means of several scalars over all processes, in one all-reduce."""
    if not values:
        return []
    stacked = torch.stack([v.detach().reshape(()).float() for v in values])
    if procs.distributed:
        dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
        stacked = stacked / procs.world_size
    return [float(v) for v in stacked.cpu()]


def gather(obj: object, procs: Processes) -> list[object]:
    """``obj`` of every process, by rank (a one-element list when not distributed)."""
    if not procs.distributed:
        return [obj]
    out: list[object] = [None] * procs.world_size
    dist.all_gather_object(out, obj)
    return out
