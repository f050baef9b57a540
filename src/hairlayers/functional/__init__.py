"""Mixed ops: every sample of a batch is processed with its own convex mix of N expert kernels.

``mixed_conv2d(x, select, weight_box)`` convolves sample ``b`` with ``Σ_i select[b, i] ·
weight_box[i]`` (the paper's eq. 4), exactly as a per-sample loop of ``F.conv2d`` would. The
``backend`` argument picks the implementation (see :mod:`hairlayers.functional.backends`).

Where each part lives: the geometry (:class:`~.geometry.ConvSpec`) in :mod:`.geometry`, the
backends and the rule that picks one in :mod:`.backends`, the per-sample float64 definitions in
:mod:`.reference`. The ``*_prechecked`` entry points are what the hyper layers call: a layer
resolves its geometry once, in ``__init__``, and checks its input itself, so a forward validates
each tensor once.
"""

from __future__ import annotations

import torch

from .._amp import autocast_inputs
from .._checks import check_input, describe
from ..errors import HairError
from . import autotune, geometry, reference
from .mixing import mix
from .geometry import (
    ConvSpec,
    ConvTransposeSpec,
    IntOr2,
    Padding,
    check_mixed_call,
    conv_spec,
    conv_transpose_spec,
)
from .backends import Backend, Call, choose, list_backends, register_backend, unregister_backend
from .torch_backend import keep_format
from .deform import mixed_deform_conv2d  # noqa: E402  (after the backends: it imports hairlayers.ops)

__all__ = [
    "mixed_conv2d",
    "mixed_conv_transpose2d",
    "mixed_linear",
    "mixed_deform_conv2d",
    "mixed_conv2d_prechecked",
    "mixed_conv_transpose2d_prechecked",
    "mixed_linear_prechecked",
    "mix",
    "geometry",
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
    return _conv2d(x, select, weight_box, bias_box, spec, backend)


def _conv2d(x, select, weight_box, bias_box, spec: ConvSpec, backend: str) -> torch.Tensor:
    if x.shape[0] == 0:  # an empty batch is legal, as for nn.Conv2d
        return x.new_zeros(0, weight_box.shape[1], *spec.output_size(*x.shape[2:]))
    impl = choose(backend, Call("conv2d", x, spec))
    return keep_format(impl.conv2d(x, select, weight_box, bias_box, spec), x)


def mixed_conv2d_prechecked(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    spec: ConvSpec,
    backend: str = "auto",
) -> torch.Tensor:
    """:func:`mixed_conv2d` on a resolved geometry, for a caller that has checked its input.

    The caller guarantees that ``x`` is ``(B, C_in, H, W)`` with the channels ``weight_box``
    ``(N, C_out, C_in // spec.groups, *spec.kernel)`` expects: :class:`~hairlayers.HyperConv2d`
    resolves ``spec`` in ``__init__`` and checks ``x`` in ``forward``. This checks the rest once:
    ``select``, ``bias_box``, dtypes, devices, and that the input is large enough.

    Example:
        >>> import torch
        >>> from hairlayers.functional import mixed_conv2d, mixed_conv2d_prechecked
        >>> from hairlayers.functional.geometry import ConvSpec
        >>> x, box = torch.randn(2, 4, 8, 8), torch.randn(3, 6, 4, 3, 3)
        >>> select = torch.softmax(torch.randn(2, 3), dim=1)
        >>> spec = ConvSpec.resolve(3, padding=1)
        >>> torch.equal(mixed_conv2d_prechecked(x, select, box, None, spec), mixed_conv2d(x, select, box, padding=1))
        True
    """
    x, select, weight_box, bias_box = autocast_inputs(x, select, weight_box, bias_box)
    check_mixed_call(x, select, weight_box, bias_box, weight_box.shape[1])
    spec.checked_output_size(x.shape[2], x.shape[3])
    return _conv2d(x, select, weight_box, bias_box, spec, backend)


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
    return _conv_transpose2d(x, select, weight_box, bias_box, spec, backend)


def mixed_conv_transpose2d_prechecked(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    spec: ConvTransposeSpec,
    backend: str = "auto",
) -> torch.Tensor:
    """:func:`mixed_conv_transpose2d` on a resolved geometry, for a caller that has checked ``x``
    against ``weight_box`` (see :func:`mixed_conv2d_prechecked`).

    Example:
        >>> import torch
        >>> from hairlayers.functional.geometry import ConvTransposeSpec
        >>> x, box = torch.randn(2, 4, 8, 8), torch.randn(3, 4, 2, 2, 2)
        >>> spec = ConvTransposeSpec.resolve(2, stride=2)
        >>> mixed_conv_transpose2d_prechecked(x, torch.full((2, 3), 1 / 3), box, None, spec).shape
        torch.Size([2, 2, 16, 16])
    """
    x, select, weight_box, bias_box = autocast_inputs(x, select, weight_box, bias_box)
    check_mixed_call(x, select, weight_box, bias_box, weight_box.shape[2] * spec.groups)
    spec.checked_output_size(x.shape[2], x.shape[3])
    return _conv_transpose2d(x, select, weight_box, bias_box, spec, backend)


def _conv_transpose2d(x, select, weight_box, bias_box, spec: ConvTransposeSpec, backend: str) -> torch.Tensor:
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
    check_input(x, "mixed_linear", "an input of shape (B, *, in_features)", min_dim=2)
    if not isinstance(weight_box, torch.Tensor) or weight_box.dim() != 3:
        raise HairError(f"weight_box must be 3-D (N, out_features, in_features), got {describe(weight_box)}")
    if weight_box.shape[0] == 0:
        raise HairError("weight_box has N = 0 experts; a hyper layer needs at least one")
    if x.shape[-1] == 0:
        raise HairError("the input has 0 channels; nothing to convolve")
    if x.shape[-1] != weight_box.shape[2]:
        raise HairError(f"input has {x.shape[-1]} features but weight_box expects {weight_box.shape[2]}")
    check_mixed_call(x, select, weight_box, bias_box, weight_box.shape[1])
    return _linear(x, select, weight_box, bias_box, backend)


def mixed_linear_prechecked(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """:func:`mixed_linear` for a caller that has checked that ``x`` is ``(B, *, in_features)``
    and ``weight_box`` ``(N, out_features, in_features)`` (as :class:`~hairlayers.HyperLinear`
    does); checks ``select``, ``bias_box``, dtypes and devices.

    Example:
        >>> import torch
        >>> x, box = torch.randn(2, 10, 8), torch.randn(4, 16, 8)
        >>> mixed_linear_prechecked(x, torch.full((2, 4), 0.25), box).shape
        torch.Size([2, 10, 16])
    """
    x, select, weight_box, bias_box = autocast_inputs(x, select, weight_box, bias_box)
    check_mixed_call(x, select, weight_box, bias_box, weight_box.shape[1])
    return _linear(x, select, weight_box, bias_box, backend)


def _linear(x, select, weight_box, bias_box, backend: str) -> torch.Tensor:
    if x.shape[0] == 0:
        return x.new_zeros(*x.shape[:-1], weight_box.shape[1])
    impl = choose(backend, Call("linear", x))
    return impl.linear(x, select, weight_box, bias_box)
