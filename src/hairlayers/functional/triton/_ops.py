"""The Triton kernels as differentiable PyTorch ops.

``hairlayers::triton_mixed_conv2d`` and its backward ``hairlayers::triton_mixed_conv2d_backward``
are registered with :func:`torch.library.custom_op`, so ``torch.compile`` treats both as opaque
calls with known output shapes (no graph break, no tracing into Triton launch code). Eager calls
go through an equivalent ``autograd.Function`` instead, which has far less Python overhead. A linear layer is the same op on a token-major 4-D view:
``(B, T, in)`` seen as ``(B, in, T, 1)`` with strides ``(T·in, 1, in, 1)``, a 1x1 convolution.

This module imports Triton; :mod:`hairlayers.functional.triton` loads it on first use only.
"""

from __future__ import annotations

from typing import List, Optional

import torch

from ..geometry import ConvSpec
from ._launch import alloc_like_layout, conv_backward, conv_forward


def _geometry(
    weight_box: torch.Tensor, stride: List[int], pad: List[int], dilation: List[int], groups: int
) -> ConvSpec:
    """The :class:`~hairlayers.functional.geometry.ConvSpec` of the op's (list-typed) arguments."""
    kernel = (weight_box.shape[3], weight_box.shape[4])
    return ConvSpec(kernel, (stride[0], stride[1]), (pad[0], pad[1], pad[2], pad[3]), (dilation[0], dilation[1]), groups)


@torch.library.custom_op("hairlayers::triton_mixed_conv2d", mutates_args=())
def mixed_conv2d_op(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: Optional[torch.Tensor],
    stride: List[int],
    pad: List[int],
    dilation: List[int],
    groups: int,
    allow_tf32: bool,
) -> torch.Tensor:
    """Fused mixed convolution; ``pad`` is ``[top, bottom, left, right]``."""
    return conv_forward(x, select, weight_box, bias_box, _geometry(weight_box, stride, pad, dilation, groups), allow_tf32)


@mixed_conv2d_op.register_fake
def _(x, select, weight_box, bias_box, stride, pad, dilation, groups, allow_tf32):
    out_h, out_w = _geometry(weight_box, stride, pad, dilation, groups).output_size(x.shape[2], x.shape[3])
    return alloc_like_layout(x, (x.shape[0], weight_box.shape[1], out_h, out_w))


@torch.library.custom_op("hairlayers::triton_mixed_conv2d_backward", mutates_args=())
def mixed_conv2d_backward_op(
    grad_out: torch.Tensor,
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: Optional[torch.Tensor],
    stride: List[int],
    pad: List[int],
    dilation: List[int],
    groups: int,
    allow_tf32: bool,
    need_x: bool,
    need_params: bool,
) -> List[torch.Tensor]:
    """``[grad_x, grad_select, grad_box, grad_bias]``; gradients not asked for are empty tensors."""
    grads = conv_backward(
        grad_out, x, select, weight_box, bias_box,
        _geometry(weight_box, stride, pad, dilation, groups), allow_tf32, need_x, need_params,
    )
    return [g if g is not None else x.new_empty(0) for g in grads]


@mixed_conv2d_backward_op.register_fake
def _(grad_out, x, select, weight_box, bias_box, stride, pad, dilation, groups, allow_tf32, need_x, need_params):
    empty = x.new_empty(0)
    grad_x = alloc_like_layout(x, tuple(x.shape)) if need_x else empty
    if not need_params:
        return [grad_x, empty, empty, empty]
    grad_bias = bias_box.new_empty(bias_box.shape) if bias_box is not None else empty
    return [grad_x, select.new_empty(select.shape), weight_box.new_empty(weight_box.shape), grad_bias]


def _setup_context(ctx, inputs, output) -> None:
    x, select, weight_box, bias_box, stride, pad, dilation, groups, allow_tf32 = inputs
    ctx.save_for_backward(x, select, weight_box, bias_box)
    ctx.geometry = (stride, pad, dilation, groups, allow_tf32)


def _backward(ctx, grad_out):
    x, select, weight_box, bias_box = ctx.saved_tensors
    need_x = ctx.needs_input_grad[0]
    need_params = any(ctx.needs_input_grad[1:4])
    grad_x, grad_select, grad_box, grad_bias = mixed_conv2d_backward_op(
        grad_out, x, select, weight_box, bias_box, *ctx.geometry, need_x, need_params
    )
    return (
        grad_x if need_x else None,
        grad_select if ctx.needs_input_grad[1] else None,
        grad_box if ctx.needs_input_grad[2] else None,
        grad_bias if ctx.needs_input_grad[3] else None,
        None, None, None, None, None,
    )


mixed_conv2d_op.register_autograd(_backward, setup_context=_setup_context)


class _MixedConv2dFunction(torch.autograd.Function):
    """The eager path: the same kernels without the custom-op dispatch.

    A ``torch.library.custom_op`` call costs about 8x the Python time of an
    ``autograd.Function`` call (measured on CPU: ~130 µs against ~16 µs), which a GPU layer of
    a few microseconds cannot hide. Eager calls take this Function; ``torch.compile`` takes the
    custom op, which it can trace.
    """

    @staticmethod
    def forward(ctx, x, select, weight_box, bias_box, stride, pad, dilation, groups, allow_tf32):
        geometry = _geometry(weight_box, stride, pad, dilation, groups)
        ctx.save_for_backward(x, select, weight_box, bias_box)
        ctx.geometry, ctx.allow_tf32 = geometry, allow_tf32
        return conv_forward(x, select, weight_box, bias_box, geometry, allow_tf32)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, select, weight_box, bias_box = ctx.saved_tensors
        need = ctx.needs_input_grad
        grad_x, grad_select, grad_box, grad_bias = conv_backward(
            grad_out, x, select, weight_box, bias_box, ctx.geometry, ctx.allow_tf32, need[0], any(need[1:4])
        )
        return (
            grad_x if need[0] else None,
            grad_select if need[1] else None,
            grad_box if need[2] else None,
            grad_bias if need[3] else None,
            None, None, None, None, None,
        )


def mixed_conv2d(x, select, weight_box, bias_box, stride, pad, dilation, groups, allow_tf32) -> torch.Tensor:
    """The fused mixed convolution: the custom op under ``torch.compile``, else the Function."""
    if torch.compiler.is_compiling():
        return mixed_conv2d_op(
            x, select, weight_box, bias_box, list(stride), list(pad), list(dilation), groups, allow_tf32
        )
    return _MixedConv2dFunction.apply(
        x, select, weight_box, bias_box, tuple(stride), tuple(pad), tuple(dilation), groups, allow_tf32
    )


def mixed_linear(x, select, weight_box, bias_box, allow_tf32: bool) -> torch.Tensor:
    """``x (B, *, in)`` through the conv op as a 1x1 convolution over a token-major view."""
    batch, in_features, out_features = x.shape[0], x.shape[-1], weight_box.shape[1]
    tokens = x.reshape(batch, -1, in_features)
    view = tokens.transpose(1, 2).unsqueeze(-1)  # (B, in, T, 1), channels_last-like strides
    out = mixed_conv2d(
        view, select, weight_box[:, :, :, None, None], bias_box, (1, 1), (0, 0, 0, 0), (1, 1), 1, allow_tf32
    )
    return out.squeeze(-1).transpose(1, 2).reshape(*x.shape[:-1], out_features)
