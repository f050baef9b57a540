"""The mixed deformable convolution: every sample convolved with its own mix of N expert kernels,
at displaced and modulated taps (DCNv2).

The op mixes the box (eq. 4) and hands the per-sample kernels to the deformable convolution of
:mod:`hairlayers.ops.deform_conv`, whose backends (pure PyTorch; torchvision takes one weight per
batch only) are chosen by :func:`~hairlayers.functional.backends.choose`. The float64 definition
is :func:`hairlayers.functional.reference.deform_conv2d`.
"""

from __future__ import annotations

import torch

from .._amp import autocast_inputs
from .._checks import check_bias_box, check_select, describe
from ..errors import HairError
from ..ops.deform_conv import deform_conv2d
from .geometry import IntOr2
from .mixing import mix

__all__ = ["mixed_deform_conv2d"]


def mixed_deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None = None,
    stride: IntOr2 = 1,
    padding: IntOr2 = 0,
    dilation: IntOr2 = 1,
    mask: torch.Tensor | None = None,
    *,
    max_elements: int | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Modulated deformable convolution where sample ``b`` uses ``Σ_i select[b, i] · weight_box[i]``.

    Args:
        x: input ``(B, C_in, H, W)``.
        offset: ``(B, 2·G·kH·kW, H', W')``, as for :func:`~hairlayers.ops.deform_conv2d`.
        select: mixing weights ``(B, N)``.
        weight_box: expert kernels ``(N, C_out, C_in // groups, kH, kW)``; ``groups`` follows
            from ``C_in / weight_box.shape[2]``.
        bias_box: expert biases ``(N, C_out)`` or ``None``.
        stride, padding, dilation: ints or pairs (integer padding only).
        mask: modulation ``(B, G·kH·kW, H', W')`` or ``None``.
        max_elements, backend: as for :func:`~hairlayers.ops.deform_conv2d` (per-sample kernels
            run on the pure-PyTorch backend; ``"torchvision"`` raises saying why).

    Returns:
        ``(B, C_out, H', W')``.

    Example:
        >>> import torch
        >>> from hairlayers.functional import mixed_deform_conv2d
        >>> x, box = torch.randn(2, 4, 8, 8), torch.randn(3, 6, 4, 3, 3)
        >>> offset, mask = torch.randn(2, 18, 8, 8), torch.rand(2, 9, 8, 8)
        >>> select = torch.softmax(torch.randn(2, 3), dim=1)
        >>> mixed_deform_conv2d(x, offset, select, box, padding=1, mask=mask).shape
        torch.Size([2, 6, 8, 8])
    """
    x, offset, select, weight_box, bias_box, mask = autocast_inputs(x, offset, select, weight_box, bias_box, mask)
    if not isinstance(weight_box, torch.Tensor) or weight_box.dim() != 5:
        raise HairError(f"weight_box must be 5-D (N, C_out, C_in // groups, kH, kW), got {describe(weight_box)}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise HairError(f"mixed_deform_conv2d expects a 4-D input (B, C_in, H, W), got {describe(x)}")
    check_select(select, x.shape[0], weight_box.shape[0])
    check_bias_box(bias_box, weight_box.shape[0], weight_box.shape[1])
    if select.dtype != weight_box.dtype:
        raise HairError(f"select is {select.dtype} but weight_box is {weight_box.dtype}; they must match")
    weight = mix(select, weight_box)  # (B, C_out, C_in // groups, kH, kW); deform_conv2d checks the rest
    bias = None if bias_box is None else mix(select, bias_box)
    return deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask,
                         max_elements=max_elements, backend=backend)
