"""HyperLinear: a Linear layer whose weight is a per-sample convex mix of N experts."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .._checks import check_input, positive_int, settings_repr
from ..functional import mixed_linear_prechecked
from .base import HyperLayer


class HyperLinear(HyperLayer):
    """``nn.Linear`` with a weight box ``(N, out_features, in_features)`` mixed per sample.

    Every token of sample ``b`` (all leading dimensions after the batch) uses sample ``b``'s weights,
    which is what transformer decoders need.

    Shape:
        - Input: ``(B, *, in_features)`` and ``giv`` ``(B, giv_dim)`` or ``select`` ``(B, N)``
        - Output: ``(B, *, out_features)``

    Example:
        >>> import torch
        >>> proj = HyperLinear(64, 32, num_kernels=4, giv_dim=16)
        >>> proj(torch.randn(3, 49, 64), torch.randn(3, 16)).shape
        torch.Size([3, 49, 32])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
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
        positive_int("in_features", in_features)
        positive_int("out_features", out_features)
        self.in_features, self.out_features, self.backend = in_features, out_features, backend
        expert_shape = (out_features, in_features)
        self._init_hyper(num_kernels, giv_dim, hsn_hidden, expert_shape, out_features if bias else None, factory)

    def forward(
        self, x: torch.Tensor, giv: torch.Tensor | None = None, *, select: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_input(x, "HyperLinear", f"an input (B, *, {self.in_features})", min_dim=2,
                    channels=self.in_features, channel_axis=-1, unit="features")
        select = self._resolve_select(giv, select, x.shape[0])
        return mixed_linear_prechecked(x, select, self.weight_box, self.bias_box, self.backend)

    def to_static(self, giv: torch.Tensor | None = None, *, select: torch.Tensor | None = None) -> nn.Linear:
        """A plain ``nn.Linear`` equal to this layer for one image."""
        linear = nn.Linear(
            self.in_features, self.out_features, self.bias_box is not None,
            device=self.weight_box.device, dtype=self.weight_box.dtype,
        )
        return self._load_mixed(linear, giv, select)

    def extra_repr(self) -> str:
        return settings_repr(f"in_features={self.in_features}, out_features={self.out_features}", [
            ("bias", self.bias_box is not None, True),
            *self._selecting_settings(),
        ])
