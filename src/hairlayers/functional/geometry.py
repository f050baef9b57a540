"""Convolution geometry, resolved once: what a kernel size, stride, padding, dilation and groups
mean for every op of the package.

:class:`ConvSpec` is the geometry of a convolution (:func:`~hairlayers.functional.mixed_conv2d`,
every backend, the Triton kernels, :func:`~hairlayers.ops.deform_conv2d`);
:class:`ConvTransposeSpec` that of a transposed convolution. Both are built by ``resolve`` from
the user's arguments, which checks them (raising errors that name the argument) and normalises
them: pairs of ints, numeric ``(top, bottom, left, right)`` padding. A hyper layer resolves its
geometry in ``__init__``; the ops resolve theirs from their arguments on every call. Backends
receive a resolved spec and only compute.

:func:`conv_spec` and :func:`conv_transpose_spec` also check the tensors of one call against the
geometry (channels, groups, box and bias shapes, dtypes): the whole validation of
:func:`~hairlayers.functional.mixed_conv2d` and :func:`~hairlayers.functional.mixed_conv_transpose2d`.

Example:
    >>> spec = ConvSpec.resolve(3, padding="same", dilation=2)
    >>> spec.pad, spec.output_size(16, 20)
    ((2, 2, 2, 2), (16, 20))
    >>> ConvSpec.resolve(1).is_pointwise
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import torch

from .._checks import (
    IntOr2,
    check_bias_box,
    check_groups,
    check_same_dtype_device,
    check_select,
    describe,
    pair,
    pair_at_least,
)
from ..errors import HairError

Padding = Union[str, int, Sequence[int]]

__all__ = [
    "ConvSpec",
    "ConvTransposeSpec",
    "IntOr2",
    "Padding",
    "check_conv2d_input",
    "check_mixed_call",
    "conv_output_size",
    "conv_spec",
    "conv_transpose_spec",
    "resolve_padding",
]


def conv_output_size(
    height: int,
    width: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int, int, int],
    dilation: tuple[int, int],
) -> tuple[int, int]:
    """Output ``(H', W')`` of a convolution; ``pad`` is ``(top, bottom, left, right)``.

    Example:
        >>> conv_output_size(8, 8, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1))
        (4, 4)
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, bottom, left, right = pad
    out_h = (height + top + bottom - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + left + right - dw * (kw - 1) - 1) // sw + 1
    return out_h, out_w


def effective_dilation(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, int]:
    """``dilation`` with 1 along every axis whose kernel size is 1, where it changes nothing.

    torch 2.13's oneDNN channels_last depthwise kernel with a bias segfaults on such a no-op
    dilation for some small inputs (width 1, kernel width 1, width dilation 2, width stride 2,
    width padding 1, channel multiplier 2), so every ``F.conv2d`` of the torch backend gets the
    normalised value; the output is the same by definition.

    Example:
        >>> effective_dilation((3, 1), (2, 2))
        (2, 1)
    """
    return tuple(1 if k == 1 else d for k, d in zip(kernel, dilation))  # type: ignore[return-value]


def resolve_padding(
    padding: Padding, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Turn ``padding`` (int, pair, ``"same"`` or ``"valid"``) into ``(top, bottom, left, right)``.

    ``"same"`` with an even effective kernel pads one more row/column at the bottom/right, exactly
    as ``torch.nn.functional.conv2d`` does.

    Example:
        >>> resolve_padding("same", (4, 3), (1, 1), (1, 1))
        (1, 2, 1, 1)
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise HairError(f"padding='same' needs stride 1, got stride={stride}")
            total_h = dilation[0] * (kernel[0] - 1)
            total_w = dilation[1] * (kernel[1] - 1)
            return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
        raise HairError(f"padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    ph, pw = pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise HairError(f"padding must be non-negative, got {padding!r}")
    return (ph, ph, pw, pw)


@dataclass(frozen=True)
class ConvSpec:
    """A fully resolved 2-D convolution geometry.

    ``pad`` is ``(top, bottom, left, right)``. Build one with :meth:`resolve`, which checks the
    arguments; the constructor takes already-normalised values and checks nothing.
    """

    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int, int, int]
    dilation: tuple[int, int]
    groups: int

    @classmethod
    def resolve(
        cls,
        kernel_size: IntOr2,
        stride: IntOr2 = 1,
        padding: Padding = 0,
        dilation: IntOr2 = 1,
        groups: int = 1,
    ) -> "ConvSpec":
        """Check and normalise the arguments of a convolution (as :class:`torch.nn.Conv2d` takes
        them; ``padding`` also ``"same"`` and ``"valid"``).

        Example:
            >>> ConvSpec.resolve((3, 1), stride=(2, 1), padding=(1, 0))
            ConvSpec(kernel=(3, 1), stride=(2, 1), pad=(1, 1, 0, 0), dilation=(1, 1), groups=1)
            >>> ConvSpec.resolve(3, stride=0)
            Traceback (most recent call last):
            ...
            hairlayers.errors.HairError: stride must be >= 1, got (0, 0)
        """
        kernel = pair_at_least(kernel_size, "kernel_size", 1)
        stride_ = pair_at_least(stride, "stride", 1)
        dilation_ = pair_at_least(dilation, "dilation", 1)
        groups = check_groups(groups)
        return cls(kernel, stride_, resolve_padding(padding, kernel, stride_, dilation_), dilation_, groups)

    @property
    def symmetric_padding(self) -> tuple[int, int] | None:
        """``(pad_h, pad_w)`` when the padding is symmetric, else ``None``."""
        top, bottom, left, right = self.pad
        return (top, left) if top == bottom and left == right else None

    @property
    def is_pointwise(self) -> bool:
        """A 1x1 kernel without padding: every output pixel is a matrix product of one input
        pixel (a stride only picks which pixels; groups make the matrix block-diagonal)."""
        return self.kernel == (1, 1) and self.pad == (0, 0, 0, 0)

    @property
    def torch_dilation(self) -> tuple[int, int]:
        """The dilation to hand ``F.conv2d``: :func:`effective_dilation` of this geometry."""
        return effective_dilation(self.kernel, self.dilation)

    @property
    def taps(self) -> int:
        """Kernel taps, ``kH · kW``."""
        return self.kernel[0] * self.kernel[1]

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(H', W')`` for an input of ``height x width`` (may be < 1 for a too small input)."""
        return conv_output_size(height, width, self.kernel, self.stride, self.pad, self.dilation)

    def checked_output_size(self, height: int, width: int) -> tuple[int, int]:
        """:meth:`output_size`, raising a :class:`HairError` when the input is too small for it."""
        out_h, out_w = self.output_size(height, width)
        if out_h < 1 or out_w < 1:
            raise HairError(
                f"input of size {(height, width)} is too small for kernel {self.kernel} with "
                f"dilation {self.dilation} and padding {self.pad}: the output would be {out_h}x{out_w}"
            )
        return out_h, out_w


@dataclass(frozen=True)
class ConvTransposeSpec:
    """A fully resolved 2-D transposed-convolution geometry (symmetric padding only, as in torch)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    @classmethod
    def resolve(
        cls,
        kernel_size: IntOr2,
        stride: IntOr2 = 1,
        padding: IntOr2 = 0,
        output_padding: IntOr2 = 0,
        dilation: IntOr2 = 1,
        groups: int = 1,
    ) -> "ConvTransposeSpec":
        """Check and normalise the arguments of a transposed convolution.

        Example:
            >>> ConvTransposeSpec.resolve(2, stride=2).output_size(5, 5)
            (10, 10)
        """
        spec = cls(
            pair_at_least(kernel_size, "kernel_size", 1),
            pair_at_least(stride, "stride", 1),
            pair_at_least(padding, "padding", 0),
            pair_at_least(output_padding, "output_padding", 0),
            pair_at_least(dilation, "dilation", 1),
            check_groups(groups),
        )
        for o, s, d in zip(spec.output_padding, spec.stride, spec.dilation):
            if o >= max(s, d):
                raise HairError(
                    f"output_padding must be smaller than stride or dilation, got "
                    f"output_padding={spec.output_padding}, stride={spec.stride}, dilation={spec.dilation}"
                )
        return spec

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        sizes = []
        for size, k, s, p, o, d in zip((height, width), self.kernel, self.stride, self.padding,
                                       self.output_padding, self.dilation):
            sizes.append((size - 1) * s - 2 * p + d * (k - 1) + o + 1)
        return sizes[0], sizes[1]

    def checked_output_size(self, height: int, width: int) -> tuple[int, int]:
        """:meth:`output_size`, raising a :class:`HairError` when the output would be empty."""
        out_h, out_w = self.output_size(height, width)
        if out_h < 1 or out_w < 1:
            raise HairError(
                f"input of size {(height, width)} gives an empty output ({out_h}, {out_w}) for kernel "
                f"{self.kernel}, stride {self.stride}, padding {self.padding}: the output is too small"
            )
        return out_h, out_w


def _check_box(box: object, dims: int, layout: str) -> torch.Tensor:
    if not isinstance(box, torch.Tensor) or box.dim() != dims:
        raise HairError(f"weight_box must be {dims}-D {layout}, got {describe(box)}")
    if box.shape[0] == 0:
        raise HairError("weight_box has N = 0 experts; a hyper layer needs at least one")
    return box


def check_conv2d_input(x: torch.Tensor, weight_box: torch.Tensor, groups: int, who: str = "mixed_conv2d") -> None:
    """``x`` ``(B, C_in, H, W)`` fits ``weight_box`` ``(N, C_out, C_in // groups, kH, kW)`` and ``groups``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise HairError(f"{who} expects a 4-D input (B, C_in, H, W), got {describe(x)}")
    _check_box(weight_box, 5, "(N, C_out, C_in // groups, kH, kW)")
    c_in, c_out, c_in_per_group = x.shape[1], weight_box.shape[1], weight_box.shape[2]
    if c_in == 0:
        raise HairError("the input has 0 channels; nothing to convolve")
    if c_in % groups or c_out % groups:
        raise HairError(f"in_channels ({c_in}) and out_channels ({c_out}) must be divisible by groups ({groups})")
    if c_in_per_group * groups != c_in:
        raise HairError(
            f"input has {c_in} channels but weight_box expects {c_in_per_group * groups} "
            f"(C_in // groups = {c_in_per_group}, groups = {groups})"
        )


def check_mixed_call(
    x: torch.Tensor, select: object, weight_box: torch.Tensor, bias_box: object, bias_channels: int
) -> None:
    """What every mixed op checks once the input fits the box: ``select`` ``(B, N)``, ``bias_box``
    ``(N, bias_channels)`` or ``None``, one floating dtype and one device."""
    check_select(select, x.shape[0], weight_box.shape[0])
    check_bias_box(bias_box, weight_box.shape[0], bias_channels)
    check_same_dtype_device(x, select, weight_box, bias_box)


def conv_spec(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    stride: IntOr2,
    padding: Padding,
    dilation: IntOr2,
    groups: int,
) -> ConvSpec:
    """Validate the arguments of :func:`~hairlayers.functional.mixed_conv2d` and resolve its geometry.

    Example:
        >>> x, box = torch.randn(2, 4, 8, 8), torch.randn(3, 6, 4, 3, 3)
        >>> conv_spec(x, torch.full((2, 3), 1 / 3), box, None, 1, 1, 1, 1).pad
        (1, 1, 1, 1)
    """
    groups = check_groups(groups)
    check_conv2d_input(x, weight_box, groups)
    spec = ConvSpec.resolve(tuple(weight_box.shape[3:]), stride, padding, dilation, groups)
    check_mixed_call(x, select, weight_box, bias_box, weight_box.shape[1])
    spec.checked_output_size(x.shape[2], x.shape[3])
    return spec


def conv_transpose_spec(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    stride: IntOr2,
    padding: IntOr2,
    output_padding: IntOr2,
    dilation: IntOr2,
    groups: int,
) -> ConvTransposeSpec:
    """Validate the arguments of :func:`~hairlayers.functional.mixed_conv_transpose2d` and
    resolve its geometry."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise HairError(f"mixed_conv_transpose2d expects a 4-D input (B, C_in, H, W), got {describe(x)}")
    _check_box(weight_box, 5, "(N, C_in, C_out // groups, kH, kW)")
    groups = check_groups(groups)
    c_in = weight_box.shape[1]
    if x.shape[1] == 0:
        raise HairError("the input has 0 channels; nothing to convolve")
    if x.shape[1] != c_in:
        raise HairError(f"input has {x.shape[1]} channels but weight_box expects {c_in}")
    if c_in % groups:
        raise HairError(f"in_channels ({c_in}) must be divisible by groups ({groups})")
    spec = ConvTransposeSpec.resolve(
        tuple(weight_box.shape[3:]), stride, padding, output_padding, dilation, groups
    )
    check_mixed_call(x, select, weight_box, bias_box, weight_box.shape[2] * groups)
    spec.checked_output_size(x.shape[2], x.shape[3])
    return spec
