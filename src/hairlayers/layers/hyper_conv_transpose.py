"""HyperConvTranspose2d: the transposed convolution of U-Net decoders, with a weight box."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .._checks import check_conv_channels, check_input, settings_repr
from ..errors import HairError
from ..functional import mixed_conv_transpose2d_prechecked
from ..functional.geometry import ConvTransposeSpec, IntOr2
from .base import HyperLayer


class HyperConvTranspose2d(HyperLayer):
    """``nn.ConvTranspose2d`` with a weight box of ``num_kernels`` experts mixed per sample.

    ``weight_box`` is ``(N, C_in, C_out // groups, kH, kW)``: torch's transposed-conv weight with a
    leading expert axis. Other arguments as in :class:`HyperConv2d`.

    Example:
        >>> import torch
        >>> up = HyperConvTranspose2d(16, 8, 2, stride=2, num_kernels=3, giv_dim=12)
        >>> up(torch.randn(2, 16, 5, 5), torch.randn(2, 12)).shape
        torch.Size([2, 8, 10, 10])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOr2,
        stride: IntOr2 = 1,
        padding: IntOr2 = 0,
        output_padding: IntOr2 = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOr2 = 1,
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
        if padding_mode != "zeros":
            raise HairError(f"HyperConvTranspose2d supports padding_mode='zeros' only (as torch), got {padding_mode!r}")
        check_conv_channels(in_channels, out_channels, groups)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.spec = ConvTransposeSpec.resolve(kernel_size, stride, padding, output_padding, dilation, groups)
        self.kernel_size, self.stride, self.padding = self.spec.kernel, self.spec.stride, self.spec.padding
        self.output_padding, self.dilation = self.spec.output_padding, self.spec.dilation
        self.groups, self.padding_mode, self.backend = groups, padding_mode, backend
        expert_shape = (in_channels, out_channels // groups, *self.kernel_size)
        self._init_hyper(num_kernels, giv_dim, hsn_hidden, expert_shape, out_channels if bias else None, factory)

    def forward(
        self, x: torch.Tensor, giv: torch.Tensor | None = None, *, select: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_input(x, "HyperConvTranspose2d", f"a 4-D input (B, {self.in_channels}, H, W)", dim=4,
                    channels=self.in_channels)
        select = self._resolve_select(giv, select, x.shape[0])
        return mixed_conv_transpose2d_prechecked(x, select, self.weight_box, self.bias_box, self.spec, self.backend)

    def to_static(
        self, giv: torch.Tensor | None = None, *, select: torch.Tensor | None = None
    ) -> nn.ConvTranspose2d:
        """A plain ``nn.ConvTranspose2d`` equal to this layer for one image."""
        conv = nn.ConvTranspose2d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
            self.output_padding, self.groups, self.bias_box is not None, self.dilation,
            device=self.weight_box.device, dtype=self.weight_box.dtype,
        )
        return self._load_mixed(conv, giv, select)

    def extra_repr(self) -> str:
        head = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        return settings_repr(head, [
            ("padding", self.padding, (0, 0)),
            ("output_padding", self.output_padding, (0, 0)),
            ("dilation", self.dilation, (1, 1)),
            ("groups", self.groups, 1),
            ("bias", self.bias_box is not None, True),
            *self._selecting_settings(),
        ])
