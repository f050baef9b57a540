"""The slow, obviously-correct definitions of the mixed ops: the specification.

Every sample ``b`` gets its own parameters ``Σ_i select[b, i] · box[i]`` (the paper's eq. 4) and is
processed alone by the matching ``torch.nn.functional`` op. Fast backends are tested against these
functions, usually with ``upcast=True`` (float64 arithmetic, result cast back).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .geometry import ConvSpec, ConvTransposeSpec
from .mixing import mix


def _per_sample(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    upcast: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``x`` and every sample's mixed weight and bias, in float64 when ``upcast``."""
    if upcast:
        x, select, weight_box = x.double(), select.double(), weight_box.double()
        bias_box = None if bias_box is None else bias_box.double()
    return x, mix(select, weight_box), None if bias_box is None else mix(select, bias_box)


def conv2d(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    spec: ConvSpec,
    upcast: bool = False,
) -> torch.Tensor:
    """Per-sample loop of ``F.conv2d`` with mixed weights; ``upcast`` computes in float64."""
    dtype = x.dtype
    x, weights, biases = _per_sample(x, select, weight_box, bias_box, upcast)
    top, bottom, left, right = spec.pad
    outputs = []
    for b in range(x.shape[0]):
        sample = F.pad(x[b : b + 1], (left, right, top, bottom))
        outputs.append(
            F.conv2d(
                sample,
                weights[b],
                None if biases is None else biases[b],
                stride=spec.stride,
                dilation=spec.dilation,
                groups=spec.groups,
            )
        )
    return torch.cat(outputs).to(dtype)


def conv_transpose2d(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    spec: ConvTransposeSpec,
    upcast: bool = False,
) -> torch.Tensor:
    """Per-sample loop of ``F.conv_transpose2d`` with mixed weights."""
    dtype = x.dtype
    x, weights, biases = _per_sample(x, select, weight_box, bias_box, upcast)
    outputs = [
        F.conv_transpose2d(
            x[b : b + 1],
            weights[b],
            None if biases is None else biases[b],
            stride=spec.stride,
            padding=spec.padding,
            output_padding=spec.output_padding,
            groups=spec.groups,
            dilation=spec.dilation,
        )
        for b in range(x.shape[0])
    ]
    return torch.cat(outputs).to(dtype)


def linear(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    upcast: bool = False,
) -> torch.Tensor:
    """Per-sample loop of ``F.linear`` with mixed weights."""
    dtype = x.dtype
    x, weights, biases = _per_sample(x, select, weight_box, bias_box, upcast)
    outputs = [
        F.linear(x[b], weights[b], None if biases is None else biases[b]) for b in range(x.shape[0])
    ]
    return torch.stack(outputs).to(dtype)


def deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    mask: torch.Tensor | None,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    upcast: bool = True,
) -> torch.Tensor:
    """Per-sample loop of the plain deformable convolution with each sample's mixed kernel: the
    definition of :func:`~hairlayers.functional.mixed_deform_conv2d` (float64 by default).

    Example:
        >>> x, box = torch.randn(2, 3, 6, 6), torch.randn(4, 5, 3, 3, 3)
        >>> offset, select = torch.randn(2, 18, 6, 6), torch.softmax(torch.randn(2, 4), dim=1)
        >>> deform_conv2d(x, offset, select, box, None, None, padding=(1, 1)).dtype
        torch.float32
    """
    from ..ops.deform_conv import deform_conv2d as plain  # ops sits above this module

    dtype = x.dtype
    if upcast:
        x, offset = x.double(), offset.double()
        mask = None if mask is None else mask.double()
    x, weights, biases = _per_sample(x, select, weight_box, bias_box, upcast)
    outputs = [
        plain(
            x[b : b + 1], offset[b : b + 1], weights[b], None if biases is None else biases[b],
            stride, padding, dilation, None if mask is None else mask[b : b + 1], backend="torch",
        )
        for b in range(x.shape[0])
    ]
    return torch.cat(outputs).to(dtype)
