"""Argument checks shared by the whole package: the ground floor, importing nothing of hairlayers
but its error types.

Every check either returns the normalised value or raises a :class:`~hairlayers.errors.HairError`
(a bad value) or a :class:`TypeError` (a value of the wrong type) that names the argument, says
what was expected and shows what came, never the whole object (:func:`describe`).

Geometry (what a stride, a padding and a kernel size resolve to) lives in
:mod:`hairlayers.functional.geometry`; this module only checks single arguments and tensors.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch

from .errors import HairError

IntOr2 = Union[int, Sequence[int]]

__all__ = [
    "IntOr2",
    "check_bias_box",
    "check_conv_channels",
    "check_groups",
    "check_input",
    "check_same_dtype_device",
    "check_select",
    "describe",
    "pair",
    "pair_at_least",
    "positive_int",
    "settings_repr",
]


def positive_int(name: str, value: object) -> int:
    """``value`` when it is an int >= 1 (a bool is not), else a :class:`HairError` naming ``name``.

    Example:
        >>> positive_int("num_kernels", 5)
        5
        >>> positive_int("num_kernels", 0)
        Traceback (most recent call last):
        ...
        hairlayers.errors.HairError: num_kernels must be a positive int, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HairError(f"{name} must be a positive int, got {value!r}")
    return value


def describe(value: object) -> object:
    """A tensor's shape, or the type name of anything else (never the whole object).

    Example:
        >>> describe(torch.zeros(2, 3)), describe([1.0, 2.0])
        ((2, 3), 'list')
    """
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def pair(value: IntOr2, name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(1, 2) -> (1, 2)``; anything else raises a :class:`TypeError` naming ``name``.

    Example:
        >>> pair(3, "stride"), pair([1, 2], "stride")
        ((3, 3), (1, 2))
    """
    # Fast exits for the common exact types: the ``Sequence`` check below is an ABC lookup (~1 µs).
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


def pair_at_least(value: IntOr2, name: str, minimum: int) -> tuple[int, int]:
    """:func:`pair`, and both entries at least ``minimum`` (1 for a stride, 0 for a padding).

    Example:
        >>> pair_at_least(2, "stride", 1)
        (2, 2)
        >>> pair_at_least((1, 0), "dilation", 1)
        Traceback (most recent call last):
        ...
        hairlayers.errors.HairError: dilation must be >= 1, got (1, 0)
    """
    result = pair(value, name)
    if result[0] < minimum or result[1] < minimum:
        raise HairError(f"{name} must be >= {minimum}, got {result}")
    return result


def check_groups(groups: object) -> int:
    """``groups`` when it is a positive int: a :class:`TypeError` for another type (a bool too),
    a :class:`HairError` for zero or less."""
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise TypeError(f"groups must be an int, got {type(groups).__name__} {groups!r}")
    if groups < 1:
        raise HairError(f"groups must be a positive int, got {groups}")
    return groups


def check_conv_channels(in_channels: object, out_channels: object, groups: object) -> int:
    """Validate a convolution layer's channel counts and groups; returns ``groups``.

    Example:
        >>> check_conv_channels(6, 8, 4)
        Traceback (most recent call last):
        ...
        hairlayers.errors.HairError: in_channels (6) and out_channels (8) must be divisible by groups (4); got in_channels=6, out_channels=8, groups=4
    """
    groups = check_groups(groups)
    positive_int("in_channels", in_channels)
    positive_int("out_channels", out_channels)
    if in_channels % groups or out_channels % groups:
        raise HairError(
            f"in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups "
            f"({groups}); got in_channels={in_channels}, out_channels={out_channels}, groups={groups}"
        )
    return groups


def check_input(
    x: object, who: str, layout: str, *, dim: int | None = None, min_dim: int = 1,
    channels: int | None = None, channel_axis: int = 1, unit: str = "channels",
) -> torch.Tensor:
    """``x`` when it is a tensor of ``dim`` dimensions (at least ``min_dim`` without ``dim``) and,
    with ``channels``, that many entries along ``channel_axis`` (1, or -1 for features).

    Raises:
        HairError: ``"<who> expects <layout>, got <shape or type>"``, or for a wrong channel count
            ``"<who> expects <channels> input <unit>, got <n>: ..."`` with both shapes.

    Example:
        >>> check_input(torch.zeros(2, 3, 5), "HyperConv2d", "a 4-D input (B, C, H, W)", dim=4)
        Traceback (most recent call last):
        ...
        hairlayers.errors.HairError: HyperConv2d expects a 4-D input (B, C, H, W), got (2, 3, 5)
        >>> check_input(torch.zeros(2, 3, 5, 5), "HyperConv2d", "a 4-D input", dim=4, channels=4)
        Traceback (most recent call last):
        ...
        hairlayers.errors.HairError: HyperConv2d expects 4 input channels, got 3: an input (2, 3, 5, 5), not (B, 4, H, W)
    """
    if not isinstance(x, torch.Tensor) or (x.dim() != dim if dim is not None else x.dim() < min_dim):
        raise HairError(f"{who} expects {layout}, got {describe(x)}")
    if channels is not None and x.shape[channel_axis] != channels:
        wanted = f"(B, *, {channels})" if channel_axis == -1 else f"(B, {channels}, H, W)"
        raise HairError(
            f"{who} expects {channels} input {unit}, got {x.shape[channel_axis]}: "
            f"an input {tuple(x.shape)}, not {wanted}"
        )
    return x


def check_select(select: object, batch: int, num_kernels: int) -> None:
    """A ``(B, N)`` tensor: a :class:`TypeError` for a non-tensor, a :class:`HairError` for a wrong shape."""
    if not isinstance(select, torch.Tensor):
        raise TypeError(f"select must be a Tensor of shape (B, N), got {type(select).__name__}")
    if select.dim() != 2 or select.shape != (batch, num_kernels):
        raise HairError(
            f"select must have shape (B, N) = ({batch}, {num_kernels}) to match the input batch "
            f"and the weight box, got {tuple(select.shape)}"
        )


def check_bias_box(bias_box: object, num_kernels: int, channels: int) -> None:
    """``None`` or an ``(N, C_out)`` tensor."""
    if bias_box is not None and not isinstance(bias_box, torch.Tensor):
        raise TypeError(f"bias_box must be a Tensor of shape (N, C_out) or None, got {type(bias_box).__name__}")
    if bias_box is not None and bias_box.shape != (num_kernels, channels):
        raise HairError(
            f"bias_box must have shape (N, C_out) = ({num_kernels}, {channels}), "
            f"got {tuple(bias_box.shape)}"
        )


def check_same_dtype_device(*tensors: torch.Tensor | None) -> None:
    """The tensors given (``None`` skipped) share one floating-point dtype and one device."""
    first = tensors[0]
    dtype, device = first.dtype, first.device
    # Every mixed-op call passes here: compare against the first tensor, build sets only to explain.
    for t in tensors:
        if t is not None and (t.dtype is not dtype or t.device != device):
            break
    else:
        if not first.is_floating_point():
            raise TypeError(f"mixed ops need floating-point tensors, got {dtype}")
        return
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


def host_sync_allowed(t: torch.Tensor) -> bool:
    """Whether a check may read a value of ``t`` back to the host (``bool(...)``, ``.item()``) now.

    Not while ``torch.compile`` traces (a graph break), not on ``meta`` tensors (they have no
    values), and not while a CUDA graph is captured (a sync there aborts the capture). Eager calls
    keep their data-dependent checks.
    """
    if torch.compiler.is_compiling() or t.device.type == "meta":
        return False
    return not (t.device.type == "cuda" and torch.cuda.is_current_stream_capturing())


def settings_repr(head: str, settings: Sequence[tuple[str, object, object]]) -> str:
    """``head`` and ``, name=value`` for every ``(name, value, default)`` whose value is not the
    default: the ``extra_repr`` of a layer, listing only what was changed, as torch's layers do.

    Example:
        >>> settings_repr("4, 8", [("stride", (2, 2), (1, 1)), ("groups", 1, 1)])
        '4, 8, stride=(2, 2)'
    """
    return head + "".join(f", {name}={value!r}" for name, value, default in settings if value != default)
