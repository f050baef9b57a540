"""The Hyper Selecting Net (HSN): GIV -> convex mixing weights over the N experts (eq. 3)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .._amp import autocast_active
from .._checks import host_sync_allowed, positive_int
from ..errors import HairError


def check_giv(giv: torch.Tensor, giv_dim: int, dtype: torch.dtype | None = None) -> None:
    """Raise a clear error unless ``giv`` is a floating-point ``(B, giv_dim)`` tensor.

    With ``dtype`` (the selecting net's), a GIV of another dtype is refused too, except under
    ``torch.autocast``, which casts it. Finiteness is checked on the logits (see
    :meth:`HyperSelectingNet.forward`).
    """
    if not isinstance(giv, torch.Tensor):
        raise TypeError(f"the GIV must be a Tensor of shape (B, {giv_dim}), got {type(giv).__name__}")
    if giv.dim() != 2 or giv.shape[1] != giv_dim:
        raise HairError(f"the GIV must have shape (B, giv_dim) = (B, {giv_dim}), got {tuple(giv.shape)}")
    if not giv.is_floating_point():
        raise TypeError(f"the GIV must be a floating-point tensor, got {giv.dtype}")
    if dtype is not None and giv.dtype != dtype and not autocast_active(giv.device.type):
        raise HairError(
            f"the GIV is {giv.dtype} but the selecting net is {dtype}: convert one of them "
            f"(giv.to({dtype}) or layer.to({giv.dtype}))"
        )


def _check_logits(giv: torch.Tensor, logits: torch.Tensor) -> None:
    """Refuse non-finite logits (their softmax is NaN), saying whether the GIV itself is at fault."""
    if not host_sync_allowed(giv) or bool(torch.isfinite(logits).all()):
        return
    if not bool(torch.isfinite(giv).all()):
        raise HairError("the GIV contains NaN or Inf values; check the classifier's input and training")
    raise HairError(
        f"the selecting net's logits overflow {logits.dtype} for a finite GIV (max |giv| = "
        f"{giv.abs().max().item():.3g}), so the selection would be NaN: the GIV is far too large "
        "(normalise it) or the selecting net's weights are not finite"
    )


class HyperSelectingNet(nn.Module):
    """A small MLP with a softmax head: ``V_s = softmax(FCNN(V_g))`` (the paper's eq. 3).

    The softmax keeps the kernel mix convex, which the paper credits with stable weight generation.

    Initialisation (the paper does not give one): hidden layers He-normal with zero bias, the last
    layer normal with standard deviation ``1 / sqrt(fan_in)`` and zero bias, so the logits carry the
    GIV's variation from image to image at about its own scale and prefer no expert a priori. With
    torch's default ``nn.Linear`` init four layers shrink that variation about 60-fold, the biases
    decide the selection, every image gets the same mix and the experts get identical updates
    (docs/analysis.md, "Why HAIR did not specialise").

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
        self.giv_dim = positive_int("giv_dim", giv_dim)
        self.num_kernels = positive_int("num_kernels", num_kernels)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise TypeError(f"hidden (hsn_hidden) must be a sequence of positive ints, got {hidden!r}")
        self.hidden = tuple(positive_int(f"hidden[{i}] (hsn_hidden)", w) for i, w in enumerate(hidden))
        widths = [giv_dim, *self.hidden]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(width_in, width_out, device=device, dtype=dtype), nn.GELU()]
        layers.append(nn.Linear(widths[-1], num_kernels, device=device, dtype=dtype))
        self.fcnn = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Variance-preserving init: He-normal hidden layers, a ``1/sqrt(fan_in)`` last layer, zero biases."""
        linears = [m for m in self.fcnn if isinstance(m, nn.Linear)]
        for hidden in linears[:-1]:
            nn.init.kaiming_normal_(hidden.weight, nonlinearity="relu")  # GELU's gain is close to ReLU's
            nn.init.zeros_(hidden.bias)
        last = linears[-1]
        nn.init.normal_(last.weight, std=last.in_features ** -0.5)
        nn.init.zeros_(last.bias)

    def forward(self, giv: torch.Tensor) -> torch.Tensor:
        check_giv(giv, self.giv_dim, self.fcnn[0].weight.dtype)
        logits = self.fcnn(giv)
        _check_logits(giv, logits)
        return torch.softmax(logits, dim=-1)

    def extra_repr(self) -> str:
        return f"giv_dim={self.giv_dim}, num_kernels={self.num_kernels}, hidden={self.hidden}"
