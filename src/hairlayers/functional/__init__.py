"""Mixed ops: every sample of a batch is processed with its own convex mix of N expert kernels.

``mixed_conv2d(x, select, weight_box)`` convolves sample ``b`` with ``Σ_i select[b, i] ·
weight_box[i]`` (the paper's eq. 4), exactly as a per-sample loop of ``F.conv2d`` would. The
``backend`` argument picks the implementation (see :mod:`hairlayers.functional.backends`).
"""

from __future__ import annotations

import torch

from .._amp import autocast_inputs
from . import autotune, reference
from ._spec import IntOr2, Padding, conv_spec, conv_transpose_spec, check_linear, mix
from .backends import Backend, Call, choose, list_backends, register_backend, unregister_backend
from .torch_backend import keep_format

__all__ = [
    "mixed_conv2d",
    "mixed_conv_transpose2d",
    "mixed_linear",
    "mix",
    "list_backends",
    "register_backend",
    "unregister_backend",
    "Backend",
    "reference",
    "autotune",
]


def mixed_conv2d(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None = None,
    stride: IntOr2 = 1,
    padding: Padding = 0,
    dilation: IntOr2 = 1,
    groups: int = 1,
    backend: str = "auto",
) -> torch.Tensor:
    """2-D convolution where each sample uses its own mix of the kernels in ``weight_box``.

    Args:
        x: input ``(B, C_in, H, W)``, NCHW or channels_last.
        select: mixing weights ``(B, N)``; a softmax output in HAIR, but any values work.
        weight_box: expert kernels ``(N, C_out, C_in // groups, kH, kW)``.
        bias_box: expert biases ``(N, C_out)`` or ``None``.
        stride, padding, dilation, groups: as in :func:`torch.nn.functional.conv2d`;
            ``padding`` also takes ``"same"`` and ``"valid"``.
        backend: ``"auto"`` or a name from :func:`list_backends`.

    Returns:
        ``(B, C_out, H', W')`` in the memory format of ``x``.

    Example:
        >>> import torch
        >>> from hairlayers.functional import mixed_conv2d
        >>> x, box = torch.randn(2, 4, 8, 8), torch.randn(3, 6, 4, 3, 3)
        >>> select = torch.softmax(torch.randn(2, 3), dim=1)
        >>> mixed_conv2d(x, select, box, padding="same").shape
        torch.Size([2, 6, 8, 8])
    """
    x, select, weight_box, bias_box = autocast_inputs(x, select, weight_box, bias_box)
    spec = conv_spec(x, select, weight_box, bias_box, stride, padding, dilation, groups)
    if x.shape[0] == 0:  # an empty batch is legal, as for nn.Conv2d
        return x.new_zeros(0, weight_box.shape[1], *spec.output_size(*x.shape[2:]))
    impl = choose(backend, Call("conv2d", x, spec))
    return keep_format(impl.conv2d(x, select, weight_box, bias_box, spec), x)


def mixed_conv_transpose2d(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None = None,
    stride: IntOr2 = 1,
    padding: IntOr2 = 0,
    output_padding: IntOr2 = 0,
    groups: int = 1,
    dilation: IntOr2 = 1,
    backend: str = "auto",
) -> torch.Tensor:
    """Transposed convolution with per-sample mixed kernels.

    ``weight_box`` is ``(N, C_in, C_out // groups, kH, kW)`` (the layout of
    ``nn.ConvTranspose2d.weight`` with a leading expert axis); other arguments as in
    :func:`torch.nn.functional.conv_transpose2d`.

    Example:
        >>> import torch
        >>> from hairlayers.functional import mixed_conv_transpose2d
        >>> x, box = torch.randn(2, 4, 8, 8), torch.randn(3, 4, 2, 2, 2)
        >>> mixed_conv_transpose2d(x, torch.full((2, 3), 1 / 3), box, stride=2).shape
        torch.Size([2, 2, 16, 16])
    """
    x, select, weight_box, bias_box = autocast_inputs(x, select, weight_box, bias_box)
    spec = conv_transpose_spec(
        x, select, weight_box, bias_box, stride, padding, output_padding, dilation, groups
    )
    if x.shape[0] == 0:
        c_out = weight_box.shape[2] * spec.groups
        return x.new_zeros(0, c_out, *spec.output_size(*x.shape[2:]))
    impl = choose(backend, Call("conv_transpose2d", x, spec))
    return keep_format(impl.conv_transpose2d(x, select, weight_box, bias_box, spec), x)


def mixed_linear(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Linear layer where sample ``b`` uses ``Σ_i select[b, i] · weight_box[i]``.

    Args:
        x: ``(B, *, in_features)``; every token of sample ``b`` uses sample ``b``'s weights.
        select: ``(B, N)``.
        weight_box: ``(N, out_features, in_features)``.
        bias_box: ``(N, out_features)`` or ``None``.

    Example:
        >>> import torch
        >>> from hairlayers.functional import mixed_linear
        >>> x, box = torch.randn(2, 10, 8), torch.randn(4, 16, 8)
        >>> mixed_linear(x, torch.full((2, 4), 0.25), box).shape
        torch.Size([2, 10, 16])
    """
    x, select, weight_box, bias_box = autocast_inputs(x, select, weight_box, bias_box)
    check_linear(x, select, weight_box, bias_box)
    if x.shape[0] == 0:
        return x.new_zeros(*x.shape[:-1], weight_box.shape[1])
    impl = choose(backend, Call("linear", x))
    return impl.linear(x, select, weight_box, bias_box)
