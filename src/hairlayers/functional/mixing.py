"""The per-sample mix of a weight box (the paper's eq. 4), shared by the backends and the layers."""

from __future__ import annotations

import torch

__all__ = ["mix", "mix_flat"]


def mix_flat(select: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """``Σ_i select[b, i] · box[i]`` with each sample's parameters flattened: ``(B, |box[0]|)``."""
    flat = box.view(box.shape[0], -1) if box.is_contiguous() else box.reshape(box.shape[0], -1)
    return torch.mm(select, flat)


def mix(select: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Per-sample parameters ``Σ_i select[b, i] · box[i]`` (eq. 4), shape ``(B, *box.shape[1:])``.

    Example:
        >>> box = torch.stack([torch.zeros(2, 3), torch.ones(2, 3)])
        >>> mix(torch.tensor([[0.25, 0.75]]), box)
        tensor([[[0.7500, 0.7500, 0.7500],
                 [0.7500, 0.7500, 0.7500]]])
    """
    return mix_flat(select, box).view(select.shape[0], *box.shape[1:])
