"""HyperDeformConv2d: a modulated deformable convolution (DCNv2) whose kernel is a per-sample mix
of N expert kernels (AirNet + HAIR's generated DCNs)."""

from __future__ import annotations

from typing import Sequence

import torch

from .._checks import IntOr2, check_conv_channels, check_input, pair_at_least, settings_repr
from ..functional import mixed_deform_conv2d
from ..functional.geometry import ConvSpec
from ..ops.deform_conv import ModulatedDeformConv2d, check_deform_backend
from .base import HyperLayer


class HyperDeformConv2d(HyperLayer):
    """A modulated deformable convolution (DCNv2) whose kernel is a per-sample mix of N experts.

    Sample ``b`` is convolved with ``Σ_i select[b, i] · weight_box[i]``: the layer is
    :func:`~hairlayers.functional.mixed_deform_conv2d` with a weight box, as
    :class:`~hairlayers.HyperConv2d` is :func:`~hairlayers.functional.mixed_conv2d` with one (the
    per-sample kernels run on the pure-PyTorch backend; torchvision's op takes one weight per
    batch). :func:`~hairlayers.hairify` converts a
    :class:`~hairlayers.ops.ModulatedDeformConv2d` into this layer. The selecting
    vector comes as for every :class:`~hairlayers.HyperLayer`: ``select=``, ``giv`` (with
    ``giv_dim`` set) or a ``select_provider``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as in
            :class:`~hairlayers.ops.ModulatedDeformConv2d`.
        num_kernels: N, the experts in the weight box.
        giv_dim: if given, the layer owns a :class:`~hairlayers.HyperSelectingNet`.
        hsn_hidden: hidden widths of that selecting net.
        max_elements, backend: passed to :func:`~hairlayers.ops.deform_conv2d`.
        device, dtype: factory arguments of the parameters.

    Shape:
        - input ``(B, C_in, H, W)``; offset ``(B, 2·G·kH·kW, H', W')``; mask ``(B, G·kH·kW, H', W')``
          or ``None``; ``giv`` ``(B, giv_dim)`` or ``select`` ``(B, N)``.
        - output ``(B, C_out, H', W')``.

    Example:
        >>> import torch
        >>> layer = HyperDeformConv2d(4, 8, 3, padding=1, num_kernels=3)
        >>> x, offset, mask = torch.randn(2, 4, 9, 10), torch.randn(2, 18, 9, 10), torch.rand(2, 9, 9, 10)
        >>> select = torch.softmax(torch.randn(2, 3), dim=1)
        >>> y = layer(x, offset, mask, select=select)
        >>> y.shape
        torch.Size([2, 8, 9, 10])
        >>> static = layer.to_static(select=select[1])    # a plain DCN for the second image
        >>> torch.allclose(static(x[1:], offset[1:], mask[1:]), y[1:], atol=1e-5)
        True
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
        num_kernels: int,
        giv_dim: int | None = None,
        hsn_hidden: Sequence[int] = (48, 24, 12),
        max_elements: int | None = None,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        check_conv_channels(in_channels, out_channels, groups)
        check_deform_backend(backend)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        spec = ConvSpec.resolve(kernel_size, stride, pair_at_least(padding, "padding", 0), dilation, groups)
        self.kernel_size, self.stride, self.dilation = spec.kernel, spec.stride, spec.dilation
        self.padding = (spec.pad[0], spec.pad[2])
        self.max_elements, self.backend = max_elements, backend
        # The boxes' Kaiming-uniform init (a = sqrt(5)) is uniform in ±1/sqrt(fan_in): AirNet's DCN init too.
        expert_shape = (out_channels, in_channels // groups, *self.kernel_size)
        self._init_hyper(num_kernels, giv_dim, hsn_hidden, expert_shape, out_channels if bias else None, factory)

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        offset: torch.Tensor,
        mask: torch.Tensor | None = None,
        giv: torch.Tensor | None = None,
        *,
        select: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_input(x, "HyperDeformConv2d", f"(B, {self.in_channels}, H, W)", dim=4, channels=self.in_channels)
        select = self._resolve_select(giv, select, x.shape[0])
        return mixed_deform_conv2d(
            x, offset, select, self.weight_box, self.bias_box, self.stride, self.padding, self.dilation, mask,
            max_elements=self.max_elements, backend=self.backend,
        )

    def to_static(
        self, giv: torch.Tensor | None = None, *, select: torch.Tensor | None = None
    ) -> ModulatedDeformConv2d:
        """A plain :class:`~hairlayers.ops.ModulatedDeformConv2d` equal to this layer for one image."""
        layer = ModulatedDeformConv2d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
            self.dilation, self.groups, self.bias_box is not None, max_elements=self.max_elements,
            backend=self.backend, device=self.weight_box.device, dtype=self.weight_box.dtype,
        )
        return self._load_mixed(layer, giv, select)

    def extra_repr(self) -> str:
        return settings_repr(f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}", [
            ("stride", self.stride, (1, 1)),
            ("padding", self.padding, (0, 0)),
            ("dilation", self.dilation, (1, 1)),
            ("groups", self.groups, 1),
            ("bias", self.bias_box is not None, True),
            *self._selecting_settings(),
        ])
