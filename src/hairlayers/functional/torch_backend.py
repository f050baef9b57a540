"""The fastest pure-PyTorch formulation of each mixed op (CPU and GPU).

Every path first mixes the box into per-sample parameters (one small matmul: ``N/(H'W')`` of the
convolution's work, FACTS §6) and then runs one batched kernel:

* 1x1 convolutions and linear layers: ``torch.baddbmm`` over the batch. On CPU this beats a static
  NCHW ``nn.Conv2d`` (oneDNN's 1x1 NCHW path is slow). A channels_last input is already a
  ``(B, HW, C)`` matrix, so it is multiplied in place and the result is channels_last again.
* everything else: one grouped convolution with the batch folded into the groups
  (``groups = B * groups``), the formulation of the official HAIR code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._spec import ConvSpec, ConvTransposeSpec, mix


def is_channels_last(x: torch.Tensor) -> bool:
    """True when ``x`` is laid out NHWC and not also NCHW-contiguous (ambiguous shapes count as NCHW)."""
    return (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    )


def _pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """1x1 convolution as a batched matmul; ``weight`` is ``(B, C_out, C_in)``."""
    batch, c_in, height, width = x.shape
    c_out = weight.shape[1]
    if is_channels_last(x):
        tokens = x.permute(0, 2, 3, 1).reshape(batch, height * width, c_in)  # a view
        w_t = weight.transpose(1, 2)
        out = torch.bmm(tokens, w_t) if bias is None else torch.baddbmm(bias.unsqueeze(1), tokens, w_t)
        return out.view(batch, height, width, c_out).permute(0, 3, 1, 2)
    flat = x.reshape(batch, c_in, height * width)
    out = torch.bmm(weight, flat) if bias is None else torch.baddbmm(bias.unsqueeze(2), weight, flat)
    return out.view(batch, c_out, height, width)


def _grouped(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, spec: ConvSpec) -> torch.Tensor:
    """Any convolution as one grouped conv with the batch folded into the groups."""
    batch, c_in, height, width = x.shape
    c_out = weight.shape[1]
    folded = x.reshape(1, batch * c_in, height, width)
    padding = spec.symmetric_padding
    if padding is None:
        top, bottom, left, right = spec.pad
        folded = F.pad(folded, (left, right, top, bottom))
        padding = (0, 0)
    out = F.conv2d(
        folded,
        weight.reshape(batch * c_out, *weight.shape[2:]),
        None if bias is None else bias.reshape(-1),
        stride=spec.stride,
        padding=padding,
        dilation=spec.dilation,
        groups=batch * spec.groups,
    )
    return out.view(batch, c_out, *out.shape[2:])


def conv2d(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    spec: ConvSpec,
) -> torch.Tensor:
    weight = mix(select, weight_box)
    bias = None if bias_box is None else mix(select, bias_box)
    if spec.is_pointwise and spec.groups == 1:
        return _pointwise(x, weight.flatten(2), bias)
    return _grouped(x, weight, bias, spec)


def conv_transpose2d(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    spec: ConvTransposeSpec,
) -> torch.Tensor:
    batch, c_in, height, width = x.shape
    weight = mix(select, weight_box)  # (B, C_in, C_out // g, kH, kW)
    bias = None if bias_box is None else mix(select, bias_box)
    out = F.conv_transpose2d(
        x.reshape(1, batch * c_in, height, width),
        weight.reshape(batch * c_in, *weight.shape[2:]),
        None if bias is None else bias.reshape(-1),
        stride=spec.stride,
        padding=spec.padding,
        output_padding=spec.output_padding,
        groups=batch * spec.groups,
        dilation=spec.dilation,
    )
    return out.view(batch, -1, *out.shape[2:])


def linear(
    x: torch.Tensor, select: torch.Tensor, weight_box: torch.Tensor, bias_box: torch.Tensor | None
) -> torch.Tensor:
    batch, in_features = x.shape[0], x.shape[-1]
    weight_t = mix(select, weight_box).transpose(1, 2)  # (B, in, out)
    tokens = x.reshape(batch, -1, in_features)
    if bias_box is None:
        out = torch.bmm(tokens, weight_t)
    else:
        out = torch.baddbmm(mix(select, bias_box).unsqueeze(1), tokens, weight_t)
    return out.reshape(*x.shape[:-1], weight_t.shape[-1])
