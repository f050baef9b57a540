"""The Hyper Selecting Net (HSN): GIV -> convex mixing weights over the N experts (eq. 3)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ..errors import HairError


def check_giv(giv: torch.Tensor, giv_dim: int) -> None:
    """Raise a clear error unless ``giv`` is a finite ``(B, giv_dim)`` tensor."""
    if not isinstance(giv, torch.Tensor):
        raise TypeError(f"the GIV must be a Tensor of shape (B, {giv_dim}), got {type(giv).__name__}")
    if giv.dim() != 2 or giv.shape[1] != giv_dim:
        raise HairError(f"the GIV must have shape (B, giv_dim) = (B, {giv_dim}), got {tuple(giv.shape)}")
    # A data-dependent check would break torch.compile graphs; eager calls still get it.
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(giv).all()):
        raise HairError("the GIV contains NaN or Inf values; check the classifier's input and training")


class HyperSelectingNet(nn.Module):
    """A small MLP with a softmax head: ``V_s = softmax(FCNN(V_g))`` (the paper's eq. 3).

    The softmax keeps the kernel mix convex, which the paper credits with stable weight generation.

    Args:
        giv_dim: width of the Global Information Vector.
        num_kernels: N, the number of experts in the weight box it drives.
        hidden: widths of the hidden layers (the official code uses 48, 24, 12 after a GIV of 96).

    Shape:
        - Input: ``(B, giv_dim)``
        - Output: ``(B, num_kernels)``, rows sum to one.

    Example:
        >>> import torch
        >>> hsn = HyperSelectingNet(giv_dim=96, num_kernels=5)
        >>> select = hsn(torch.randn(2, 96))
        >>> select.shape, torch.allclose(select.sum(dim=1), torch.ones(2))
        (torch.Size([2, 5]), True)
    """

    def __init__(
        self,
        giv_dim: int,
        num_kernels: int,
        hidden: Sequence[int] = (48, 24, 12),
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if giv_dim < 1 or num_kernels < 1:
            raise HairError(f"giv_dim and num_kernels must be >= 1, got {giv_dim} and {num_kernels}")
        self.giv_dim = giv_dim
        self.num_kernels = num_kernels
        self.hidden = tuple(hidden)
        widths = [giv_dim, *self.hidden]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(width_in, width_out, device=device, dtype=dtype), nn.GELU()]
        layers.append(nn.Linear(widths[-1], num_kernels, device=device, dtype=dtype))
        self.fcnn = nn.Sequential(*layers)

    def forward(self, giv: torch.Tensor) -> torch.Tensor:
        check_giv(giv, self.giv_dim)
        return torch.softmax(self.fcnn(giv), dim=-1)

    def extra_repr(self) -> str:
        return f"giv_dim={self.giv_dim}, num_kernels={self.num_kernels}, hidden={self.hidden}"
