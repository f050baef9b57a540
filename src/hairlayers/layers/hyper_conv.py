"""HyperConv2d: a Conv2d whose kernel is a per-sample convex mix of N expert kernels."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import check_conv_channels, check_input, pair, settings_repr
from ..errors import HairError
from ..functional import mixed_conv2d_prechecked
from ..functional.geometry import ConvSpec, IntOr2, Padding
from .base import HyperLayer

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class HyperConv2d(HyperLayer):
    """``nn.Conv2d`` with a weight box of ``num_kernels`` experts mixed per sample (eq. 4).

    Arguments mirror :class:`torch.nn.Conv2d`; the keyword-only ones add the hyper part.

    Args:
        num_kernels: N, the number of expert kernels in the weight box.
        giv_dim: if given, the layer owns a :class:`HyperSelectingNet` and ``forward(x, giv)`` works.
        hsn_hidden: hidden widths of that selecting net.
        backend: compute backend of :func:`~hairlayers.functional.mixed_conv2d` (``"auto"``).

    Shape:
        - Input: ``(B, C_in, H, W)`` and ``giv`` ``(B, giv_dim)`` or ``select`` ``(B, N)``
        - Output: ``(B, C_out, H', W')``, in the input's memory format.

    The geometry is resolved once, in ``__init__`` (``spec``, a
    :class:`~hairlayers.functional.geometry.ConvSpec`): build a new layer to change the kernel
    size, stride, padding, dilation or groups.

    Example:
        >>> import torch
        >>> conv = HyperConv2d(8, 16, 3, padding=1, num_kernels=5, giv_dim=32)
        >>> x, giv = torch.randn(2, 8, 20, 20), torch.randn(2, 32)
        >>> conv(x, giv).shape
        torch.Size([2, 16, 20, 20])
        >>> static = conv.to_static(giv[0])          # a plain nn.Conv2d for the first image
        >>> torch.allclose(static(x[:1]), conv(x[:1], giv[:1]), atol=1e-5)
        True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOr2,
        stride: IntOr2 = 1,
        padding: Padding = 0,
        dilation: IntOr2 = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        num_kernels: int,
        giv_dim: int | None = None,
        hsn_hidden: Sequence[int] = (48, 24, 12),
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        check_conv_channels(in_channels, out_channels, groups)
        if padding_mode not in _PADDING_MODES:
            raise HairError(f"padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        geometry = ConvSpec.resolve(kernel_size, stride, padding, dilation, groups)
        self.kernel_size, self.stride, self.dilation = geometry.kernel, geometry.stride, geometry.dilation
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding")
        self._pad = geometry.pad
        # With another padding mode the layer pads the input itself and the op pads nothing.
        self.spec = geometry if padding_mode == "zeros" else ConvSpec.resolve(kernel_size, stride, 0, dilation, groups)
        self.groups, self.padding_mode, self.backend = groups, padding_mode, backend
        expert_shape = (out_channels, in_channels // groups, *self.kernel_size)
        self._init_hyper(num_kernels, giv_dim, hsn_hidden, expert_shape, out_channels if bias else None, factory)

    def forward(
        self, x: torch.Tensor, giv: torch.Tensor | None = None, *, select: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_input(x, "HyperConv2d", "a 4-D input (B, C, H, W)", dim=4, channels=self.in_channels)
        select = self._resolve_select(giv, select, x.shape[0])
        if self.padding_mode != "zeros":
            top, bottom, left, right = self._pad
            x = F.pad(x, (left, right, top, bottom), mode=self.padding_mode)
        return mixed_conv2d_prechecked(x, select, self.weight_box, self.bias_box, self.spec, self.backend)

    def to_static(self, giv: torch.Tensor | None = None, *, select: torch.Tensor | None = None) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` equal to this layer for one image's GIV (or selecting vector)."""
        conv = nn.Conv2d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
            self.dilation, self.groups, self.bias_box is not None, self.padding_mode,
            device=self.weight_box.device, dtype=self.weight_box.dtype,
        )
        return self._load_mixed(conv, giv, select)

    def extra_repr(self) -> str:
        padding = (0, 0) if self.padding == "valid" else self.padding  # "valid" is the default, unpadded
        return settings_repr(f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}", [
            ("stride", self.stride, (1, 1)),
            ("padding", padding, (0, 0)),
            ("dilation", self.dilation, (1, 1)),
            ("groups", self.groups, 1),
            ("bias", self.bias_box is not None, True),
            ("padding_mode", self.padding_mode, "zeros"),
            *self._selecting_settings(),
        ])

