"""Which dataset items each optimiser step sees: shuffled epochs, sharded across ranks, resumable.

Epoch ``e`` is a permutation of the dataset drawn from ``(seed, e)`` alone. Global batch ``k`` of
the epoch is the slice ``[k·B·W, (k+1)·B·W)`` of that permutation (``B`` items per rank, ``W``
ranks) and rank ``r`` takes its ``r``-th chunk of ``B``. So a run on ``W`` processes sees, step for
step, the same items as one process with batch ``B·W``, and a run resumed at ``(epoch, batch)``
continues with exactly the batches an uninterrupted run would have drawn. The last incomplete
global batch of an epoch is dropped (every step has a full batch on every rank).
"""

from __future__ import annotations

import torch

from .._rng import mix_seed
from ..errors import HairError

__all__ = ["EpochBatches"]


class EpochBatches:
    """Batches of dataset indices for one rank, epoch by epoch.

    Args:
        num_items: dataset length.
        batch_size: items per rank per step.
        seed: run seed; epoch ``e``'s order depends only on ``(seed, e)``.
        rank: this process's index in ``[0, world_size)``.
        world_size: number of data-parallel processes.
        shuffle: draw a random order per epoch (else ``0, 1, 2, ...``).

    Example:
        >>> two = [EpochBatches(10, 2, seed=0, rank=r, world_size=2).batches(0) for r in (0, 1)]
        >>> one = EpochBatches(10, 4, seed=0).batches(0)
        >>> [a + b for a, b in zip(*two)] == one
        True
        >>> EpochBatches(10, 4, seed=0).batches_per_epoch
        2
    """

    def __init__(
        self, num_items: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1, shuffle: bool = True
    ) -> None:
        if batch_size < 1:
            raise HairError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise HairError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if num_items < batch_size * world_size:
            raise HairError(
                f"the dataset has {num_items} items, fewer than one global batch of"
                f" {batch_size} x {world_size} rank(s) = {batch_size * world_size}"
            )
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle

    @property
    def batches_per_epoch(self) -> int:
        """Full global batches in one pass over the data (the remainder is dropped)."""
        return self.num_items // (self.batch_size * self.world_size)

    def order(self, epoch: int) -> list[int]:
        """The whole dataset's item order in ``epoch`` (identical on every rank)."""
        if not self.shuffle:
            return list(range(self.num_items))
        gen = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
        return torch.randperm(self.num_items, generator=gen).tolist()

    def batches(self, epoch: int, start: int = 0) -> list[list[int]]:
        """This rank's batches of ``epoch``, from batch ``start`` (to resume mid-epoch) to the end."""
        if not 0 <= start <= self.batches_per_epoch:
            raise HairError(f"start batch must be in [0, {self.batches_per_epoch}], got {start}")
        order = self.order(epoch)
        global_batch = self.batch_size * self.world_size
        out = []
        for k in range(start, self.batches_per_epoch):
            first = k * global_batch + self.rank * self.batch_size
            out.append(order[first : first + self.batch_size])
        return out
