"""Data-parallel training across processes: who am I, and setting up ``torch.distributed``.

``torchrun --nproc_per_node=N script.py`` starts N copies of a script with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in the environment;
:func:`init_distributed` turns those into a process group (``gloo`` on CPU, ``nccl`` on CUDA) and
the trainer wraps the model in ``DistributedDataParallel``. Without those variables everything
runs as a single process and nothing here needs ``torch.distributed`` at all.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..errors import HairError

__all__ = ["DistInfo", "barrier", "dist_info", "gather_objects", "init_distributed"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a data-parallel run.

    Attributes:
        rank: global index of this process.
        world_size: number of processes.
        local_rank: index on this machine (selects the GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes checkpoints (rank 0)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def dist_info() -> DistInfo:
    """This process's rank and world size: from the process group if one is set up, else single.

    Example:
        >>> dist_info()
        DistInfo(rank=0, world_size=1, local_rank=0)
    """
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            rank=dist.get_rank(),
            world_size=dist.get_world_size(),
            local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
        )
    return DistInfo()


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment, if it describes one.

    Does nothing when a group already exists (the caller set it up) or when ``WORLD_SIZE`` is
    unset or 1. A group created here stays open for the caller (``dist_info()`` after ``train``)
    and is destroyed at interpreter exit: a gloo group still running at teardown aborts the
    process ("terminate called without an active exception").

    Args:
        device: the training device; ``cuda`` selects ``nccl`` and sets the current GPU to
            ``LOCAL_RANK``, anything else selects ``gloo``.

    Returns:
        The resulting :class:`DistInfo`.

    Raises:
        HairError: ``WORLD_SIZE`` > 1 but ``torch.distributed`` is unavailable or ``RANK`` is unset.
    """
    if dist.is_available() and dist.is_initialized():
        return dist_info()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_available():
        raise HairError(f"WORLD_SIZE={world_size} asks for distributed training, but this torch build has no torch.distributed")
    if "RANK" not in os.environ:
        raise HairError(f"WORLD_SIZE={world_size} is set but RANK is not; start the script with torchrun")
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    atexit.register(_destroy_group)
    return dist_info()


def _destroy_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (just ``[obj]`` in a single process)."""
    info = dist_info()
    if not info.active:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait for all ranks (no-op in a single process)."""
    if dist_info().active:
        dist.barrier()


def mean_over_ranks(value: float, device: torch.device) -> float:
    """Average a Python number over all ranks (identity in a single process)."""
    info = dist_info()
    if not info.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size
