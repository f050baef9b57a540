"""Argument normalisation and validation shared by every backend of the mixed ops (and by the
convolution layers built on them).

Backends receive already-checked, already-normalised arguments (tuples, numeric padding), so
each backend only has to compute, never to validate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import torch

from ..errors import HairError, positive_int

IntOr2 = Union[int, Sequence[int]]
Padding = Union[str, int, Sequence[int]]


def pair(value: IntOr2, name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(1, 2) -> (1, 2)``; anything else raises naming ``name``."""
    # Fast exits for the common exact types: this runs several times per mixed-op call, and the
    # ``Sequence`` check below is an ABC lookup (~1 µs).
    if type(value) is int:
        return (value, value)
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        return value
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a pair of ints, got bool {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, Sequence) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


@dataclass(frozen=True)
class ConvSpec:
    """A fully resolved 2-D convolution geometry.

    ``pad`` is ``(top, bottom, left, right)``: ``"same"`` with an even effective kernel pads one
    more row/column at the bottom/right, exactly as ``torch.nn.functional.conv2d`` does.
    """

    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int, int, int]
    dilation: tuple[int, int]
    groups: int

    @property
    def symmetric_padding(self) -> tuple[int, int] | None:
        """``(pad_h, pad_w)`` when the padding is symmetric, else ``None``."""
        top, bottom, left, right = self.pad
        return (top, left) if top == bottom and left == right else None

    @property
    def is_pointwise(self) -> bool:
        """A 1x1, stride-1, unpadded convolution: a per-pixel matrix product."""
        return self.kernel == (1, 1) and self.stride == (1, 1) and self.pad == (0, 0, 0, 0)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return conv_output_size(height, width, self.kernel, self.stride, self.pad, self.dilation)


def conv_output_size(
    height: int,
    width: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int, int, int],
    dilation: tuple[int, int],
) -> tuple[int, int]:
    """Output ``(H', W')`` of a convolution; ``pad`` is ``(top, bottom, left, right)``."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, bottom, left, right = pad
    out_h = (height + top + bottom - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + left + right - dw * (kw - 1) - 1) // sw + 1
    return out_h, out_w


def resolve_padding(
    padding: Padding, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Turn ``padding`` (int, pair, ``"same"`` or ``"valid"``) into ``(top, bottom, left, right)``."""
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


def describe(value: object) -> object:
    """A tensor's shape, or the type name of anything else (never the whole object)."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def check_groups(groups: object) -> int:
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise TypeError(f"groups must be an int, got {type(groups).__name__} {groups!r}")
    if groups < 1:
        raise HairError(f"groups must be a positive int, got {groups}")
    return groups


def check_conv_channels(in_channels: object, out_channels: object, groups: object) -> int:
    """Validate a convolution layer's channel counts and groups; returns ``groups``."""
    groups = check_groups(groups)
    positive_int("in_channels", in_channels)
    positive_int("out_channels", out_channels)
    if in_channels % groups or out_channels % groups:
        raise HairError(
            f"in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups ({groups})"
        )
    return groups


def pair_at_least(value: IntOr2, name: str, minimum: int) -> tuple[int, int]:
    """:func:`pair`, and both entries at least ``minimum`` (1 for a stride, 0 for a padding)."""
    result = pair(value, name)
    if min(result) < minimum:
        raise HairError(f"{name} must be >= {minimum}, got {value!r}")
    return result


def settings_repr(head: str, settings: Sequence[tuple[str, object, object]]) -> str:
    """``head`` and ``, name=value`` for every ``(name, value, default)`` whose value is not the
    default: the ``extra_repr`` of a layer, listing only what was changed, as torch's layers do."""
    return head + "".join(f", {name}={value!r}" for name, value, default in settings if value != default)


def check_sizes(box: torch.Tensor, channels: int) -> None:
    """Refuse zero experts and zero input channels (an empty batch is legal and computed)."""
    if box.shape[0] == 0:
        raise HairError("weight_box has N = 0 experts; a hyper layer needs at least one")
    if channels == 0:
        raise HairError("the input has 0 channels; nothing to convolve")


def check_select(select: torch.Tensor, batch: int, num_kernels: int) -> None:
    if not isinstance(select, torch.Tensor):
        raise TypeError(f"select must be a Tensor of shape (B, N), got {type(select).__name__}")
    if select.dim() != 2 or select.shape != (batch, num_kernels):
        raise HairError(
            f"select must have shape (B, N) = ({batch}, {num_kernels}) to match the input batch "
            f"and the weight box, got {tuple(select.shape)}"
        )


def check_bias_box(bias_box: torch.Tensor | None, num_kernels: int, channels: int) -> None:
    if bias_box is not None and not isinstance(bias_box, torch.Tensor):
        raise TypeError(f"bias_box must be a Tensor of shape (N, C_out) or None, got {type(bias_box).__name__}")
    if bias_box is not None and bias_box.shape != (num_kernels, channels):
        raise HairError(
            f"bias_box must have shape (N, C_out) = ({num_kernels}, {channels}), "
            f"got {tuple(bias_box.shape)}"
        )


def check_dtypes(*tensors: torch.Tensor | None) -> None:
    present = [t for t in tensors if t is not None]
    dtypes = {t.dtype for t in present}
    if len(dtypes) > 1:
        raise HairError(
            f"x, select, weight_box and bias_box must share one dtype, got {sorted(map(str, dtypes))}"
        )
    devices = {t.device for t in present}
    if len(devices) > 1:
        raise HairError(f"all tensors must be on one device, got {sorted(map(str, devices))}")
    if not present[0].is_floating_point():
        raise TypeError(f"mixed ops need floating-point tensors, got {present[0].dtype}")


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
    """Validate the arguments of :func:`mixed_conv2d` and resolve its geometry."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise HairError(f"mixed_conv2d expects a 4-D input (B, C_in, H, W), got {describe(x)}")
    if not isinstance(weight_box, torch.Tensor) or weight_box.dim() != 5:
        raise HairError(f"weight_box must be 5-D (N, C_out, C_in // groups, kH, kW), got {describe(weight_box)}")
    groups = check_groups(groups)
    check_sizes(weight_box, x.shape[1])
    n, c_out, c_in_per_group, kh, kw = weight_box.shape
    c_in = x.shape[1]
    if c_in % groups or c_out % groups:
        raise HairError(
            f"in_channels ({c_in}) and out_channels ({c_out}) must be divisible by groups ({groups})"
        )
    if c_in_per_group * groups != c_in:
        raise HairError(
            f"input has {c_in} channels but weight_box expects {c_in_per_group * groups} "
            f"(C_in // groups = {c_in_per_group}, groups = {groups})"
        )
    check_select(select, x.shape[0], n)
    check_bias_box(bias_box, n, c_out)
    check_dtypes(x, select, weight_box, bias_box)
    stride_, dilation_ = pair(stride, "stride"), pair(dilation, "dilation")
    if min(stride_) < 1 or min(dilation_) < 1:
        raise HairError(f"stride and dilation must be >= 1, got {stride_} and {dilation_}")
    spec = ConvSpec((kh, kw), stride_, resolve_padding(padding, (kh, kw), stride_, dilation_), dilation_, groups)
    out_h, out_w = spec.output_size(x.shape[2], x.shape[3])
    if out_h < 1 or out_w < 1:
        raise HairError(
            f"input of size {tuple(x.shape[2:])} is too small for kernel {spec.kernel} with "
            f"dilation {spec.dilation} and padding {spec.pad}"
        )
    return spec


def check_linear(
    x: torch.Tensor, select: torch.Tensor, weight_box: torch.Tensor, bias_box: torch.Tensor | None
) -> None:
    """Validate the arguments of :func:`mixed_linear`."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise HairError(f"mixed_linear expects an input of shape (B, *, in_features), got {describe(x)}")
    if not isinstance(weight_box, torch.Tensor) or weight_box.dim() != 3:
        raise HairError(f"weight_box must be 3-D (N, out_features, in_features), got {describe(weight_box)}")
    check_sizes(weight_box, x.shape[-1])
    n, out_features, in_features = weight_box.shape
    if x.shape[-1] != in_features:
        raise HairError(f"input has {x.shape[-1]} features but weight_box expects {in_features}")
    check_select(select, x.shape[0], n)
    check_bias_box(bias_box, n, out_features)
    check_dtypes(x, select, weight_box, bias_box)


@dataclass(frozen=True)
class ConvTransposeSpec:
    """A fully resolved 2-D transposed-convolution geometry (symmetric padding only, as in torch)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        sizes = []
        for size, k, s, p, o, d in zip((height, width), self.kernel, self.stride, self.padding,
                                       self.output_padding, self.dilation):
            sizes.append((size - 1) * s - 2 * p + d * (k - 1) + o + 1)
        return sizes[0], sizes[1]


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
    """Validate the arguments of :func:`mixed_conv_transpose2d` and resolve its geometry."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise HairError(f"mixed_conv_transpose2d expects a 4-D input (B, C_in, H, W), got {describe(x)}")
    if not isinstance(weight_box, torch.Tensor) or weight_box.dim() != 5:
        raise HairError(f"weight_box must be 5-D (N, C_in, C_out // groups, kH, kW), got {describe(weight_box)}")
    groups = check_groups(groups)
    check_sizes(weight_box, x.shape[1])
    n, c_in, c_out_per_group, kh, kw = weight_box.shape
    if x.shape[1] != c_in:
        raise HairError(f"input has {x.shape[1]} channels but weight_box expects {c_in}")
    if c_in % groups:
        raise HairError(f"in_channels ({c_in}) must be divisible by groups ({groups})")
    check_select(select, x.shape[0], n)
    check_bias_box(bias_box, n, c_out_per_group * groups)
    check_dtypes(x, select, weight_box, bias_box)
    spec = ConvTransposeSpec(
        (kh, kw),
        pair(stride, "stride"),
        pair(padding, "padding"),
        pair(output_padding, "output_padding"),
        pair(dilation, "dilation"),
        groups,
    )
    if min(spec.stride) < 1 or min(spec.dilation) < 1:
        raise HairError(f"stride and dilation must be >= 1, got {spec.stride} and {spec.dilation}")
    if min(spec.padding) < 0 or min(spec.output_padding) < 0:
        raise HairError(f"padding and output_padding must be >= 0, got {spec.padding} and {spec.output_padding}")
    for (o, s, d) in zip(spec.output_padding, spec.stride, spec.dilation):
        if o >= max(s, d):
            raise HairError(
                f"output_padding must be smaller than stride or dilation, got "
                f"output_padding={spec.output_padding}, stride={spec.stride}, dilation={spec.dilation}"
            )
    out_h, out_w = spec.output_size(x.shape[2], x.shape[3])
    if out_h < 1 or out_w < 1:
        raise HairError(
            f"input of size {tuple(x.shape[2:])} gives an empty output ({out_h}, {out_w}) for kernel "
            f"{spec.kernel}, stride {spec.stride}, padding {spec.padding}: the output is too small"
        )
    return spec


def mix_flat(select: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """``Σ_i select[b, i] · box[i]`` with each sample's parameters flattened: ``(B, |box[0]|)``."""
    flat = box.view(box.shape[0], -1) if box.is_contiguous() else box.reshape(box.shape[0], -1)
    return torch.mm(select, flat)


def mix(select: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Per-sample parameters ``Σ_i select[b, i] · box[i]`` (eq. 4), shape ``(B, *box.shape[1:])``."""
    return mix_flat(select, box).view(select.shape[0], *box.shape[1:])
