"""How well labels can be told apart from a set of vectors (GIVs): leave-one-out k-NN accuracy."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import HairError

__all__ = ["check_points", "chance_accuracy", "knn_accuracy", "squared_distances"]


def check_points(x: Any, name: str) -> torch.Tensor:
    """``x`` as a finite ``(n, d)`` tensor, or a clear error naming ``name``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, d), got {type(x).__name__}")
    if x.dim() != 2:
        raise HairError(f"{name} must have shape (n, d), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise HairError(f"{name} holds non-finite values")
    return x


def squared_distances(x: torch.Tensor) -> torch.Tensor:
    """All pairwise squared Euclidean distances ``(n, n)`` of the rows of ``x`` (exact, no expansion trick)."""
    return (x[:, None, :] - x[None, :, :]).pow(2).sum(-1)


def _codes(labels: Sequence[str], n: int) -> tuple[torch.Tensor, list[str]]:
    if len(labels) != n:
        raise HairError(f"need one label per point: {n} points, {len(labels)} labels")
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index[label] for label in labels]), names


def knn_accuracy(x: torch.Tensor, labels: Sequence[str], k: int = 5, groups: Sequence[Any] | None = None) -> float:
    """Leave-one-out k-nearest-neighbour label accuracy (Euclidean).

    The majority label of the ``k`` nearest other points is the guess; between labels with equal
    votes, the one of the nearest neighbour wins.

    Args:
        x: points, one per row.
        labels: one label per point.
        k: neighbours that vote (``1 <= k < n``).
        groups: optional group of every point (e.g. which clean image it was made from); points
            of the point's own group are not its neighbours, so shared content cannot vote.

    Returns:
        The fraction of points whose neighbours' majority label is their own.

    Shape:
        ``x``: ``(n, d)``.

    Example:
        >>> import torch
        >>> knn_accuracy(torch.tensor([[0.0], [0.1], [5.0], [5.1]]), ["a", "a", "b", "b"], k=1)
        1.0
    """
    x = check_points(x, "knn_accuracy: x").double()
    n = x.shape[0]
    codes, names = _codes(labels, n)
    if not 1 <= k < n:
        raise HairError(f"knn_accuracy: k must be in [1, n - 1] = [1, {n - 1}], got {k}")
    d = squared_distances(x).fill_diagonal_(math.inf)
    if groups is not None:
        g_codes, _ = _codes([str(v) for v in groups], n)
        d = d.masked_fill(g_codes[:, None] == g_codes[None, :], math.inf)
        largest = int(torch.bincount(g_codes).max())
        if k > n - largest:
            raise HairError(f"knn_accuracy: k={k} exceeds the {n - largest} points outside the largest group")
    nearest = codes[d.topk(k, dim=1, largest=False).indices]  # (n, k) neighbour labels, nearest first
    counts = torch.zeros(n, len(names), dtype=torch.long).scatter_add_(1, nearest, torch.ones_like(nearest))
    tied = counts == counts.max(1, keepdim=True).values
    first = tied.gather(1, nearest).int().argmax(1)  # rank of the nearest neighbour with a winning label
    winner = nearest.gather(1, first[:, None])[:, 0]
    return float((winner == codes).double().mean())


def chance_accuracy(labels: Sequence[str]) -> float:
    """Accuracy of always guessing the most frequent label (what k-NN accuracy is compared with).

    Example:
        >>> chance_accuracy(["a", "a", "b", "c"])
        0.5
    """
    if not labels:
        raise HairError("chance_accuracy: no labels")
    return max(Counter(labels).values()) / len(labels)
