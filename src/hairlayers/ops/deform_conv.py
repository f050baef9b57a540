"""Modulated deformable convolution (DCNv2) in pure PyTorch, with an optional torchvision path.

Every kernel tap of every output pixel reads the input at a learned, fractional position, and the
value read is scaled by a learned modulation scalar::

    out[b, o, i, j] = bias[o] + sum_{c, k} weight[o, c, k] * mask[b, g(c), k, i, j]
                      * bilinear(input[b, c], y_k(i, j), x_k(i, j))
    y_k(i, j) = i * stride_h - pad_h + ky(k) * dilation_h + offset[b, g(c), k, 0, i, j]
    x_k(i, j) = j * stride_w - pad_w + kx(k) * dilation_w + offset[b, g(c), k, 1, i, j]

``bilinear`` treats everything outside the image as zero (a corner that falls outside contributes
nothing), which is exactly what ``torchvision.ops.deform_conv2d`` and mmcv's
``modulated_deform_conv2d`` compute. The argument layout is torchvision's: ``offset`` holds
``(dy, dx)`` pairs per kernel tap, tap ``k = ky * kW + kx``, offset groups outermost.

The pure-PyTorch path samples the ``(B, C_in·kH·kW, H'·W')`` column matrix with one
:func:`torch.nn.functional.grid_sample` call and multiplies it with the weight in one matmul. The
columns are ``kH·kW`` times larger than the input, so the work is split into chunks of at most
``max_elements`` column entries (whole samples first, then blocks of output rows); under autograd
each chunk is recomputed in backward instead of being kept, so the bound holds for training too.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .._amp import autocast_inputs
from .._checks import IntOr2, check_conv_channels, describe, pair_at_least, positive_int, settings_repr
from ..errors import HairError
from ..functional.backends import Backend, Call, choose, get_backend
from ..functional.geometry import ConvSpec

__all__ = ["deform_conv2d", "ModulatedDeformConv2d", "torchvision_unavailable", "DEFAULT_MAX_ELEMENTS"]

#: Default bound on the column entries materialised at once (2**25 floats = 128 MiB in float32).
DEFAULT_MAX_ELEMENTS = 1 << 25


def check_deform_channels(in_channels: object, out_channels: object, groups: object) -> None:
    """Validate the channel counts and groups of a deformable convolution layer (as for any
    convolution: :func:`~hairlayers._checks.check_conv_channels`)."""
    check_conv_channels(in_channels, out_channels, groups)


def deform_spec(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: IntOr2,
    padding: IntOr2,
    dilation: IntOr2,
    mask: torch.Tensor | None,
) -> ConvSpec:
    """Check every shape of one :func:`deform_conv2d` call against every other one and resolve
    the geometry (``groups = C_in / weight.shape[-3]``; the offset groups follow from
    ``offset.shape[1]``)."""
    for name, t in (("input", input), ("offset", offset), ("weight", weight), ("bias", bias), ("mask", mask)):
        if t is not None and not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if input.dim() != 4:
        raise HairError(f"input must be (B, C_in, H, W), got shape {describe(input)}")
    if weight.dim() not in (4, 5):
        raise HairError(
            "weight must be (C_out, C_in/groups, kH, kW) or per-sample (B, C_out, C_in/groups, kH, kW),"
            f" got shape {describe(weight)}"
        )
    batch, c_in, height, width = input.shape
    per_sample = weight.dim() == 5
    if per_sample and weight.shape[0] != batch:
        raise HairError(f"per-sample weight has {weight.shape[0]} samples, input has {batch}")
    c_out, c_per_group, kh, kw = weight.shape[-4:]
    if c_per_group == 0 or c_in % c_per_group != 0:
        raise HairError(f"weight expects {c_per_group} input channels per group, input has {c_in} channels")
    groups = c_in // c_per_group
    if c_out % groups != 0:
        raise HairError(f"C_out={c_out} is not divisible by groups={groups} (= C_in / weight.shape[-3])")
    # Integer padding only (torchvision's op takes no 'same'/'valid').
    spec = ConvSpec.resolve((kh, kw), stride, pair_at_least(padding, "padding", 0), dilation, groups)
    out_h, out_w = spec.checked_output_size(height, width)
    taps = spec.taps
    if offset.dim() != 4 or offset.shape[0] != batch or offset.shape[1] % (2 * taps) != 0:
        raise HairError(
            f"offset must be (B={batch}, 2*offset_groups*{taps}, {out_h}, {out_w}), got shape {tuple(offset.shape)}"
        )
    offset_groups = offset.shape[1] // (2 * taps)
    if offset_groups == 0 or c_in % offset_groups != 0:
        raise HairError(f"offset_groups={offset_groups} (from offset.shape[1]) must divide C_in={c_in}")
    if tuple(offset.shape[2:]) != (out_h, out_w):
        raise HairError(f"offset must be {out_h}x{out_w} (the output size), got {tuple(offset.shape[2:])}")
    if mask is not None:
        expected = (batch, offset_groups * taps, out_h, out_w)
        if tuple(mask.shape) != expected:
            raise HairError(f"mask must have shape {expected}, got {tuple(mask.shape)}")
    if bias is not None:
        expected_bias = (batch, c_out) if per_sample else (c_out,)
        if tuple(bias.shape) != expected_bias:
            raise HairError(f"bias must have shape {expected_bias}, got {tuple(bias.shape)}")
    for name, t in (("offset", offset), ("weight", weight), ("bias", bias), ("mask", mask)):
        if t is not None and (t.dtype != input.dtype or t.device != input.device):
            raise HairError(
                f"{name} is {t.dtype} on {t.device}, input is {input.dtype} on {input.device}; they must match"
            )
    if not input.is_floating_point():
        raise TypeError(f"deform_conv2d needs floating-point tensors, got {input.dtype}")
    return spec


def _offset_groups(offset: torch.Tensor, spec: ConvSpec) -> int:
    return offset.shape[1] // (2 * spec.taps)


# --------------------------------------------------------------------------- pure PyTorch path


def _sampling_grid(
    offset: torch.Tensor, spec: ConvSpec, row0: int, height: int, width: int
) -> torch.Tensor:
    """Normalised ``grid_sample`` coordinates ``(B·G, K·rows, W', 2)`` for output rows ``row0...``."""
    batch, _, rows, out_w = offset.shape
    (kh, kw), (sh, sw), (dh, dw) = spec.kernel, spec.stride, spec.dilation
    ph, pw = spec.pad[0], spec.pad[2]
    groups, taps = _offset_groups(offset, spec), spec.taps
    kwargs = dict(device=offset.device, dtype=offset.dtype)
    tap_y = (torch.arange(kh, **kwargs) * dh).repeat_interleave(kw)  # tap k = ky * kW + kx
    tap_x = (torch.arange(kw, **kwargs) * dw).repeat(kh)
    rows_y = torch.arange(row0, row0 + rows, **kwargs) * sh - ph
    cols_x = torch.arange(out_w, **kwargs) * sw - pw
    base_y = tap_y.view(taps, 1, 1) + rows_y.view(1, rows, 1)
    base_x = tap_x.view(taps, 1, 1) + cols_x.view(1, 1, out_w)
    off = offset.view(batch, groups, taps, 2, rows, out_w)
    y = off[:, :, :, 0] + base_y
    x = off[:, :, :, 1] + base_x
    # align_corners=False maps pixel index p to (2p + 1) / size - 1; it also works for size 1.
    grid_y = (2.0 * y + 1.0) / height - 1.0
    grid_x = (2.0 * x + 1.0) / width - 1.0
    return torch.stack((grid_x, grid_y), dim=-1).view(batch * groups, taps * rows, out_w, 2)


def _chunk_forward(
    input: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    spec: ConvSpec,
    row0: int,
) -> torch.Tensor:
    """Output rows ``row0 .. row0 + offset.shape[2]`` of samples ``input`` (one chunk)."""
    batch, c_in, height, width = input.shape
    rows, out_w = offset.shape[2:]
    groups, taps = _offset_groups(offset, spec), spec.taps
    grid = _sampling_grid(offset, spec, row0, height, width)
    sampled = F.grid_sample(
        input.reshape(batch * groups, c_in // groups, height, width),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )  # (B·G, C/G, K·rows, W')
    columns = sampled.view(batch, groups, c_in // groups, taps, rows * out_w)
    if mask is not None:
        modulation = mask.reshape(batch, groups, 1, taps, rows * out_w)
        if torch.is_grad_enabled() and mask.requires_grad:
            columns = columns * modulation  # the mask's gradient needs the unmodulated columns
        else:
            columns = columns.mul_(modulation)  # saves a columns-sized allocation
    # Row index of the column matrix is c·K + k, the flattening order of weight[o, c, ky, kx].
    w_groups = spec.groups
    columns = columns.reshape(batch, w_groups, (c_in // w_groups) * taps, rows * out_w)
    c_out = weight.shape[-4]
    per_sample_weight = weight.dim() == 5
    if per_sample_weight:
        w = weight.reshape(batch, w_groups, c_out // w_groups, -1)
    else:
        w = weight.reshape(1, w_groups, c_out // w_groups, -1)
    out = torch.matmul(w, columns).reshape(batch, c_out, rows, out_w)
    if bias is not None:
        out = out + (bias.view(batch, c_out, 1, 1) if per_sample_weight else bias.view(1, c_out, 1, 1))
    return out


def _chunks(batch: int, rows: int, per_row: int, max_elements: int) -> list[tuple[int, int, int, int]]:
    """``(b0, b1, r0, r1)`` blocks whose column matrices hold at most ``max_elements`` entries.

    A single output row is the smallest unit, so one row may exceed a bound below ``per_row``.
    """
    per_sample = per_row * rows
    if batch * per_sample <= max_elements:
        return [(0, batch, 0, rows)]
    if per_sample <= max_elements:
        step = max_elements // per_sample
        return [(b, min(b + step, batch), 0, rows) for b in range(0, batch, step)]
    step = max(1, max_elements // per_row)
    return [(b, b + 1, r, min(r + step, rows)) for b in range(batch) for r in range(0, rows, step)]


def _deform_conv2d_torch(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    mask: torch.Tensor | None,
    spec: ConvSpec,
    max_elements: int,
) -> torch.Tensor:
    batch, c_in = input.shape[:2]
    out_h, out_w = offset.shape[2:]
    per_sample_weight = weight.dim() == 5
    blocks = _chunks(batch, out_h, c_in * spec.taps * out_w, max_elements)
    if len(blocks) == 1:
        return _chunk_forward(input, offset, mask, weight, bias, spec, 0)
    tensors = (input, offset, mask, weight, bias)
    recompute = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    outputs: list[torch.Tensor] = []
    for b0, b1, r0, r1 in blocks:
        args = (
            input[b0:b1],
            offset[b0:b1, :, r0:r1],
            None if mask is None else mask[b0:b1, :, r0:r1],
            weight[b0:b1] if per_sample_weight else weight,
            None if bias is None else (bias[b0:b1] if per_sample_weight else bias),
        )
        if recompute:
            # Keep only the chunk's inputs for backward, not its kH·kW-times larger columns.
            out = checkpoint(_chunk_forward, *args, spec, r0, use_reentrant=False)
        else:
            out = _chunk_forward(*args, spec, r0)
        outputs.append(out)
    if blocks[0][3] - blocks[0][2] == out_h:  # whole samples per chunk
        return torch.cat(outputs, dim=0)
    per_sample = len(blocks) // batch
    return torch.cat(
        [torch.cat(outputs[b * per_sample : (b + 1) * per_sample], dim=2) for b in range(batch)], dim=0
    )


# --------------------------------------------------------------------------- torchvision path


def _torchvision_op() -> Callable[..., torch.Tensor]:
    from torchvision.ops import deform_conv2d as op  # imported lazily: an optional package

    return op


@functools.cache
def torchvision_unavailable(device_type: str = "cpu") -> str | None:
    """Why ``torchvision.ops.deform_conv2d`` cannot be used on ``device_type``, or ``None`` if it can.

    torchvision is optional. It counts as usable only if it imports *and* computes a small
    offset-and-mask case on that device in agreement with the pure-PyTorch path (a torchvision
    built for another torch version typically imports but fails when called). The answer is
    computed once per device type and cached.

    Args:
        device_type: ``"cpu"``, ``"cuda"``, ...

    Returns:
        A human-readable reason, or ``None`` when torchvision works.

    Example:
        >>> from hairlayers.ops import torchvision_unavailable
        >>> reason = torchvision_unavailable("cpu")
        >>> reason is None or isinstance(reason, str)
        True
    """
    if importlib.util.find_spec("torchvision") is None:
        return "torchvision is not installed (optional; the pure-PyTorch path is used instead)"
    try:
        op = _torchvision_op()
    except Exception as exc:  # a broken install fails in many ways; report, never hide
        return f"importing torchvision.ops failed: {type(exc).__name__}: {exc}"
    try:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(2, 4, 5, 6, generator=gen, dtype=torch.float64)
        w = torch.randn(4, 2, 3, 3, generator=gen, dtype=torch.float64)  # 2 weight groups
        off = 2.0 * torch.randn(2, 2 * 2 * 9, 5, 6, generator=gen, dtype=torch.float64)
        m = torch.rand(2, 2 * 9, 5, 6, generator=gen, dtype=torch.float64)
        b = torch.randn(4, generator=gen, dtype=torch.float64)
        spec = deform_spec(x, off, w, b, 1, 1, 1, m)
        expected = _deform_conv2d_torch(x, off, w, b, m, spec, DEFAULT_MAX_ELEMENTS)
        device = torch.device(device_type)
        args = [t.to(device=device, dtype=torch.float32) for t in (x, off, w, b, m)]
        got = op(args[0], args[1], args[2], args[3], (1, 1), (1, 1), (1, 1), args[4])
        error = float((got.cpu().double() - expected).abs().max())
    except Exception as exc:
        return f"torchvision.ops.deform_conv2d failed on {device_type}: {type(exc).__name__}: {exc}"
    if not error < 1e-3:
        return f"torchvision.ops.deform_conv2d disagrees with the pure-PyTorch path on {device_type} (max error {error:.3g})"
    return None


# --------------------------------------------------------------------------- backends


class TorchvisionDeformBackend(Backend):
    """``torchvision.ops.deform_conv2d``, where :func:`torchvision_unavailable` finds it working."""

    name = "torchvision"
    description = "torchvision.ops.deform_conv2d (one weight for the whole batch)"

    def unsupported(self, call: Call) -> str | None:
        if call.op == "mixed_deform_conv2d":
            return "torchvision.ops.deform_conv2d takes one weight for the whole batch, got a per-sample weight"
        if call.op != "deform_conv2d":
            return f"torchvision runs deform_conv2d only, not {call.op}"
        return torchvision_unavailable(call.x.device.type)

    def deform_conv2d(self, input, offset, weight, bias, mask, spec: ConvSpec, max_elements: int) -> torch.Tensor:
        pad = spec.symmetric_padding
        return _torchvision_op()(input, offset, weight, bias, spec.stride, pad, spec.dilation, mask)


class TorchDeformBackend(Backend):
    """The pure-PyTorch path of this module: one ``grid_sample`` and one matmul per chunk."""

    name = "torch"
    description = "grid_sample columns and a matmul, in chunks of at most max_elements"

    def unsupported(self, call: Call) -> str | None:
        if call.op not in ("deform_conv2d", "mixed_deform_conv2d"):
            return f"this backend runs the deformable ops only, not {call.op}"
        return None

    def deform_conv2d(self, input, offset, weight, bias, mask, spec: ConvSpec, max_elements: int) -> torch.Tensor:
        return _deform_conv2d_torch(input, offset, weight, bias, mask, spec, max_elements)


#: The backends of the deformable ops, in the order ``backend="auto"`` tries them
#: (:func:`~hairlayers.functional.backends.choose` picks among them by the mixed ops' rule).
DEFORM_BACKENDS: dict[str, Backend] = {b.name: b for b in (TorchvisionDeformBackend(), TorchDeformBackend())}


def check_deform_backend(backend: object) -> str:
    """``backend`` when it names a deformable backend (or is ``"auto"``), else a :class:`HairError`."""
    if backend != "auto":
        get_backend(backend, DEFORM_BACKENDS)
    return backend  # type: ignore[return-value]


# --------------------------------------------------------------------------- public op


def deform_conv2d(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOr2 = 1,
    padding: IntOr2 = 0,
    dilation: IntOr2 = 1,
    mask: torch.Tensor | None = None,
    *,
    max_elements: int | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Modulated deformable 2-D convolution (DCNv2); without ``mask``, DCNv1.

    Same arguments and semantics as ``torchvision.ops.deform_conv2d``; torchvision is not needed.
    Bilinear sampling treats the outside of the image as zero.

    Args:
        input: ``(B, C_in, H, W)``.
        offset: ``(B, 2·offset_groups·kH·kW, H', W')``: for offset group ``g`` and kernel tap
            ``k = ky·kW + kx``, channel ``2·(g·kH·kW + k)`` is the vertical (dy) and the next one
            the horizontal (dx) displacement, in pixels.
        weight: ``(C_out, C_in/groups, kH, kW)``; or ``(B, C_out, C_in/groups, kH, kW)`` for a
            different kernel per sample (a hairlayers extension; pure-PyTorch path only).
            ``groups = C_in / weight.shape[-3]``.
        bias: ``(C_out,)`` (``(B, C_out)`` with a per-sample weight) or ``None``.
        stride, padding, dilation: ints or pairs, as in :func:`torch.nn.functional.conv2d`.
        mask: modulation ``(B, offset_groups·kH·kW, H', W')`` (same tap order as ``offset``;
            typically a sigmoid output) or ``None`` for all ones.
        max_elements: bound on the column entries the pure-PyTorch path materialises at once
            (default :data:`DEFAULT_MAX_ELEMENTS`); the torchvision path ignores it.
        backend: ``"auto"`` (torchvision when :func:`torchvision_unavailable` says it works on this
            device and the weight is shared, else pure PyTorch), ``"torch"`` or ``"torchvision"``
            (raises :class:`~hairlayers.errors.BackendUnavailableError` with the reason if it
            cannot run).

    Returns:
        ``(B, C_out, H', W')`` with ``H' = (H + 2·pad_h - dil_h·(kH - 1) - 1) // stride_h + 1``.

    Example:
        >>> import torch
        >>> from hairlayers.ops import deform_conv2d
        >>> x, w = torch.randn(2, 4, 8, 8), torch.randn(6, 4, 3, 3)
        >>> offset, mask = torch.randn(2, 18, 8, 8), torch.rand(2, 9, 8, 8)
        >>> deform_conv2d(x, offset, w, padding=1, mask=mask).shape
        torch.Size([2, 6, 8, 8])
        >>> zero = torch.zeros(2, 18, 8, 8)  # no displacement, no modulation: a plain convolution
        >>> torch.allclose(deform_conv2d(x, zero, w, padding=1),
        ...                torch.nn.functional.conv2d(x, w, padding=1), atol=1e-5)
        True
    """
    input, offset, weight, bias, mask = autocast_inputs(input, offset, weight, bias, mask)
    spec = deform_spec(input, offset, weight, bias, stride, padding, dilation, mask)
    max_elements = DEFAULT_MAX_ELEMENTS if max_elements is None else positive_int("max_elements", max_elements)
    op = "mixed_deform_conv2d" if weight.dim() == 5 else "deform_conv2d"
    impl = choose(backend, Call(op, input, spec), DEFORM_BACKENDS)
    return impl.deform_conv2d(input, offset, weight, bias, mask, spec, max_elements)


class ModulatedDeformConv2d(nn.Module):
    """A convolution layer whose taps are displaced and modulated per pixel (DCNv2).

    Holds ``weight`` and ``bias`` like :class:`torch.nn.Conv2d`; the offsets and the mask come in
    with the input (predict them with any layer you like). The layer adds no logic to
    :func:`deform_conv2d`.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as in
            :class:`torch.nn.Conv2d` (integer padding only).
        max_elements, backend: passed to :func:`deform_conv2d`.
        device, dtype: factory arguments of the parameters.

    Shape:
        - input: ``(B, C_in, H, W)``; offset: ``(B, 2·G·kH·kW, H', W')``; mask:
          ``(B, G·kH·kW, H', W')`` or ``None``, any ``G`` dividing ``C_in``.
        - output: ``(B, C_out, H', W')``.

    Example:
        >>> import torch
        >>> from hairlayers.ops import ModulatedDeformConv2d
        >>> layer = ModulatedDeformConv2d(4, 8, 3, padding=1)
        >>> x = torch.randn(2, 4, 10, 12)
        >>> offset, mask = torch.randn(2, 18, 10, 12), torch.rand(2, 9, 10, 12)
        >>> layer(x, offset, mask).shape
        torch.Size([2, 8, 10, 12])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOr2,
        stride: IntOr2 = 1,
        padding: IntOr2 = 0,
        dilation: IntOr2 = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        max_elements: int | None = None,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_deform_channels(in_channels, out_channels, groups)
        check_deform_backend(backend)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair_at_least(kernel_size, "kernel_size", 1)
        self.stride = pair_at_least(stride, "stride", 1)
        self.padding = pair_at_least(padding, "padding", 0)
        self.dilation = pair_at_least(dilation, "dilation", 1)
        self.groups = groups
        self.max_elements = max_elements
        self.backend = backend
        factory = dict(device=device, dtype=dtype)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, *self.kernel_size, **factory)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The default initialisation of :class:`torch.nn.Conv2d`."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(
        self, input: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return deform_conv2d(
            input,
            offset,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            mask,
            max_elements=self.max_elements,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return settings_repr(f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}", [
            ("stride", self.stride, (1, 1)),
            ("padding", self.padding, (0, 0)),
            ("dilation", self.dilation, (1, 1)),
            ("groups", self.groups, 1),
            ("bias", self.bias is not None, True),
            ("max_elements", self.max_elements, None),
            ("backend", self.backend, "auto"),
        ])
