"""The batch-inner layout: a ``(B, C, H, W)`` batch whose memory is ordered ``(H, W, B, C)``.

On CPU this layout makes per-sample convolutions static ones without a copy. Its memory is, at
the same time,

* one ``(1, B·C, H, W)`` channels_last map (:func:`fold`), so a mixed convolution with
  per-sample kernels is *one* static channels_last convolution with the batch folded into the
  groups (``groups = B·groups``) — oneDNN runs it at the static layer's speed (depthwise 3×3:
  0.89–0.90×, per-sample 1×1: 0.87–1.03× the static channels_last conv at B = 4, 64²);
* one ``(1, C, H, W·B)`` channels_last image, so a static 1×1 conv is one oneDNN conv;
* an ``(H·W, B, C)`` grid (:func:`grid`), so a layer norm over channels is one op over rows.

The channels_last layout cannot do the first: its per-sample kernels cost a loop and a ``cat``
(1.4–2.6× the static depthwise conv, ``docs/performance.md``). Whole decoders of Res-HAIR and
Restormer run in this layout on CPU (:func:`use_batch_inner`): the conversions happen once at the
split point, once per skip connection and once at the output.

Example:
    >>> import torch
    >>> x = torch.randn(2, 3, 4, 5)
    >>> y = to_batch_inner(x)
    >>> is_batch_inner(y), torch.equal(x, y), y.permute(2, 3, 0, 1).is_contiguous()
    (True, True, True)
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .geometry import effective_dilation

__all__ = [
    "cat",
    "conv2d",
    "empty_batch_inner",
    "fold",
    "from_grid",
    "grid",
    "is_batch_inner",
    "pixel_shuffle",
    "to_batch_inner",
    "unfold",
    "use_batch_inner",
]

#: What :func:`use_batch_inner` accepts.
DECODER_LAYOUTS = ("auto", "batch_inner", "input")


def is_batch_inner(x: torch.Tensor) -> bool:
    """Whether ``x`` is a 4-D batch of at least two maps stored ``(H, W, B, C)``.

    A batch of one in this order is plain channels_last, and is treated as such.
    """
    if x.dim() != 4 or x.shape[0] < 2:
        return False
    b, c, h, w = x.shape
    return x.stride() == (c, 1, w * b * c, b * c)


def empty_batch_inner(
    batch: int, channels: int, height: int, width: int, *, like: torch.Tensor
) -> torch.Tensor:
    """An uninitialised ``(B, C, H, W)`` tensor in the batch-inner layout (``like``'s dtype and device)."""
    return torch.empty(height, width, batch, channels, dtype=like.dtype, device=like.device).permute(2, 3, 0, 1)


def to_batch_inner(x: torch.Tensor) -> torch.Tensor:
    """``x`` in the batch-inner layout (a copy, unless it already is; from channels_last a row copy).

    A batch of one comes back as plain channels_last with the batch stride ``C·H·W`` (oneDNN's
    fast kernels check it even for one image).
    """
    if is_batch_inner(x):
        return x
    if x.shape[0] < 2:
        if x.is_contiguous(memory_format=torch.channels_last) and x.stride(0) == x[0].numel():
            return x
        return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=torch.channels_last).copy_(x)
    return empty_batch_inner(*x.shape, like=x).copy_(x)


def grid(x: torch.Tensor) -> torch.Tensor:
    """The ``(H·W, B, C)`` view of a batch-inner map."""
    b, c, h, w = x.shape
    return x.permute(2, 3, 0, 1).view(h * w, b, c)


def from_grid(g: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """An ``(H·W, B, C)`` grid (made contiguous if it is not) as a batch-inner ``(B, C, H, W)`` map."""
    _, b, c = g.shape
    return g.contiguous().view(height, width, b, c).permute(2, 3, 0, 1)


def fold(x: torch.Tensor) -> torch.Tensor:
    """The ``(1, B·C, H, W)`` channels_last view of a batch-inner map (of any other one: a copy).

    Built from a permute and a view, not ``as_strided``: autograd's backward of those is free,
    whereas ``as_strided``'s scatters into a zeroed buffer (measured: a depthwise layer's forward
    + backward 0.73× the static channels_last layer this way, 1.17× through ``as_strided``). The
    view's batch stride is ``H·W·B·C``, which oneDNN's channels_last kernels check even for one
    image (with another value they are 10–16× slower).
    """
    b, c, h, w = x.shape
    return x.permute(2, 3, 0, 1).contiguous().view(1, h, w, b * c).permute(0, 3, 1, 2)


def unfold(y: torch.Tensor, batch: int) -> torch.Tensor:
    """A ``(1, B·C, H, W)`` map as a batch-inner ``(B, C, H, W)`` one (a view of a channels_last map,
    a copy of any other)."""
    _, bc, h, w = y.shape
    return y.permute(0, 2, 3, 1).contiguous().view(h, w, batch, bc // batch).permute(2, 3, 0, 1)


def _wide(x: torch.Tensor) -> torch.Tensor:
    """The ``(1, C, H, W·B)`` channels_last view of a batch-inner map: a static 1×1 conv runs on it."""
    b, c, h, w = x.shape
    return x.permute(2, 3, 0, 1).contiguous().view(1, h, w * b, c).permute(0, 3, 1, 2)


def _unwide(y: torch.Tensor, batch: int) -> torch.Tensor:
    _, c, h, wb = y.shape
    return y.permute(0, 2, 3, 1).contiguous().view(h, wb // batch, batch, c).permute(2, 3, 0, 1)


def conv2d(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """A static ``nn.Conv2d`` on a batch-inner map; the output is batch-inner.

    A 1×1 conv without stride runs on the ``(1, C, H, W·B)`` image; any other one on the folded
    map with its weights repeated per sample (``groups = B·groups``). A conv with another padding
    mode or string padding runs on a channels_last copy (the module's own forward).

    Example:
        >>> conv = nn.Conv2d(4, 6, 3, padding=1)
        >>> x = torch.randn(2, 4, 5, 5)
        >>> torch.allclose(conv2d(to_batch_inner(x), conv), conv(x), atol=1e-6)
        True
    """
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return to_batch_inner(conv(x.contiguous(memory_format=torch.channels_last)))
    b = x.shape[0]
    if conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding == (0, 0) and conv.groups == 1:
        return _unwide(F.conv2d(_wide(x), conv.weight, conv.bias), b)
    weight = conv.weight.repeat(b, 1, 1, 1)
    bias = None if conv.bias is None else conv.bias.repeat(b)
    dilation = effective_dilation(conv.kernel_size, conv.dilation)  # see there: a torch crash
    out = F.conv2d(fold(x), weight, bias, conv.stride, conv.padding, dilation, conv.groups * b)
    return unfold(out, b)


def pixel_shuffle(x: torch.Tensor, factor: int) -> torch.Tensor:
    """``F.pixel_shuffle`` of a batch-inner map, batch-inner again (one copy, as the op itself)."""
    b, c, h, w = x.shape
    c_out = c // (factor * factor)
    # Channel c' * f² + i * f + j of pixel (y, x) goes to pixel (y·f + i, x·f + j) of channel c'.
    cells = grid(x).view(h, w, b, c_out, factor, factor).permute(0, 4, 1, 5, 2, 3)
    return from_grid(cells.reshape(h * factor * w * factor, b, c_out), h * factor, w * factor)


def cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat(tensors, dim=1)`` into one batch-inner map; the inputs may have any layout."""
    first = tensors[0]
    out = empty_batch_inner(first.shape[0], sum(t.shape[1] for t in tensors), *first.shape[2:], like=first)
    start = 0
    for t in tensors:
        out[:, start:start + t.shape[1]].copy_(t)
        start += t.shape[1]
    return out


def use_batch_inner(x: torch.Tensor, layout: str = "auto") -> bool:
    """Whether a decoder given ``x`` runs in the batch-inner layout.

    Args:
        x: the decoder's input ``(B, C, H, W)``.
        layout: ``"batch_inner"`` (whenever the batch has two or more images), ``"input"`` (never:
            the input's own layout), or ``"auto"``: batch-inner for CPU inference (no autograd
            graph) on batches of two or more, where it was measured faster; the input's layout
            on GPUs and for training.

    Example:
        >>> import torch
        >>> use_batch_inner(torch.randn(2, 8, 4, 4)), use_batch_inner(torch.randn(1, 8, 4, 4))
        (False, False)
        >>> with torch.no_grad():
        ...     use_batch_inner(torch.randn(2, 8, 4, 4))
        True
    """
    if layout not in DECODER_LAYOUTS:
        raise ValueError(f"decoder layout must be one of {DECODER_LAYOUTS}, got {layout!r}")
    if layout == "input" or x.shape[0] < 2:
        return False
    if layout == "batch_inner":
        return True
    return x.device.type == "cpu" and not torch.is_grad_enabled()
