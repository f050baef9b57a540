"""The classifier of the authors' Res-HAIR release, laid out so its checkpoint loads by name.

It differs from the general :class:`~hairlayers.GIVClassifier`: three stages of three residual
blocks at one width with a stride-2 convolution after the first two stages, a middle stage of
block / single-head spatial self-attention / block, then GroupNorm, SiLU and a 3×3 convolution to
the GIV width, averaged over space. Used by ``res_hair(variant="official")`` (1.46M parameters at
``in_channels=384, width=72, giv_dim=96``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import HairError


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(groups, channels, eps=1e-6)


class ResidualUnit(nn.Module):
    """``x + conv2(silu(norm2(conv1(silu(norm1(x))))))``."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm1 = _norm(channels, groups)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = _norm(channels, groups)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))


class SpatialSelfAttention(nn.Module):
    """Single-head self-attention over pixels with 1×1 projections and a residual."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = _norm(channels, groups)
        self.q, self.k, self.v = (nn.Conv2d(channels, channels, 1) for _ in range(3))
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        q, k, v = (proj(y).reshape(b, c, h * w).transpose(1, 2) for proj in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)  # (B, HW, C), scale 1/sqrt(C)
        return x + self.proj_out(out.transpose(1, 2).reshape(b, c, h, w))


class _Stride2(nn.Module):
    """A 3×3 stride-2 convolution padded by one row/column at the bottom/right only."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The release pads (0, 1, 0, 1); maps under 2×2 get the extra zeros they need to stay
        # defined (the release crashes there), which leaves every larger input unchanged.
        h, w = x.shape[-2:]
        return self.conv(F.pad(x, (0, max(1, 3 - w), 0, max(1, 3 - h))))


class _Stage(nn.Module):
    def __init__(self, channels: int, depth: int, groups: int, downsample: bool) -> None:
        super().__init__()
        self.block = nn.ModuleList(ResidualUnit(channels, groups) for _ in range(depth))
        self.downsample = _Stride2(channels) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for unit in self.block:
            x = unit(x)
        return x if self.downsample is None else self.downsample(x)


class _Middle(nn.Module):
    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.block_1 = ResidualUnit(channels, groups)
        self.attn_1 = SpatialSelfAttention(channels, groups)
        self.block_2 = ResidualUnit(channels, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class HairResNetClassifier(nn.Module):
    """Split features ``(B, in_channels, H, W)`` → GIV ``(B, giv_dim)``, the official layout.

    Args:
        in_channels: channels of the split features (384 for Restormer's level-4 input).
        giv_dim: GIV width (96).
        width: channels inside (72).
        stages: residual stages; every stage but the last ends with a stride-2 convolution.
        blocks_per_stage: residual units per stage (3).
        groups: GroupNorm groups (24; must divide ``width``).

    Example:
        >>> import torch
        >>> clf = HairResNetClassifier(in_channels=32, giv_dim=16, width=24)
        >>> clf(torch.randn(2, 32, 5, 7)).shape
        torch.Size([2, 16])
    """

    def __init__(
        self,
        in_channels: int = 384,
        giv_dim: int = 96,
        width: int = 72,
        stages: int = 3,
        blocks_per_stage: int = 3,
        groups: int = 24,
    ) -> None:
        super().__init__()
        if width % groups:
            raise HairError(f"width ({width}) must be divisible by the GroupNorm groups ({groups})")
        self.in_channels, self.giv_dim = in_channels, giv_dim
        self.conv_in = nn.Conv2d(in_channels, width, 3, padding=1)
        self.down = nn.ModuleList(
            _Stage(width, blocks_per_stage, groups, downsample=i < stages - 1) for i in range(stages)
        )
        self.mid = _Middle(width, groups)
        self.norm_out = _norm(width, groups)
        self.conv_out = nn.Conv2d(width, giv_dim, 3, padding=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 4 or features.shape[1] != self.in_channels:
            raise HairError(
                f"the classifier expects features (B, {self.in_channels}, H, W), got {tuple(features.shape)}"
            )
        x = self.conv_in(features)
        for stage in self.down:
            x = stage(x)
        x = self.conv_out(F.silu(self.norm_out(self.mid(x))))
        return x.mean(dim=(2, 3))
