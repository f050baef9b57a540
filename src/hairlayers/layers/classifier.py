"""GIVClassifier: features at the split point -> the Global Information Vector (eqs. 1-2)."""

from __future__ import annotations

import torch
import torch.nn as nn

from .._checks import check_input, positive_int
from ..errors import HairError


#: channels per GroupNorm group, at least: small inputs reach 1×1 maps, where a group of two
#: channels normalises to ±1 — a sign function that passes no gradient and, once training has
#: aligned the signs, gives every image the same GIV (measured: docs/analysis.md).
MIN_GROUP_CHANNELS = 8


def _norm(channels: int) -> nn.GroupNorm:
    # GroupNorm works at batch 1 and any resolution; up to 24 groups (the official classifier's
    # count), each of at least MIN_GROUP_CHANNELS channels where the width allows it.
    groups = max(
        (g for g in range(1, 25) if channels % g == 0 and channels // g >= MIN_GROUP_CHANNELS), default=1
    )
    return nn.GroupNorm(groups, channels)


class ResNetBlock(nn.Module):
    """Pre-activation residual block: ``x + conv(act(norm(conv(act(norm(x))))))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _norm(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            _norm(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class GIVClassifier(nn.Module):
    """ResNet stages with ×2 downsampling, then global average pooling: ``V_g = GAP(F_g^3)``.

    No softmax: the GIV stays unconstrained so the selecting nets can use its full range (§3.1.1).
    Any input size works (a 1×1 map stays 1×1 through the stride-2 convolutions).

    Args:
        in_channels: channels of the split-point features ``F_g``.
        giv_dim: width of the GIV (``2C`` in the paper: 96 for Restormer).
        width: channels inside the backbone (``None``: ``giv_dim``); a positive int.
        stages: number of (ResNet blocks + ×2 downsample) stages (3 in the paper).
        blocks_per_stage: ResNet blocks per stage.
        backbone: any module mapping ``(B, in_channels, H, W)`` to a feature map; replaces the
            ResNet stages. ``backbone_channels`` gives its output channels (inferred from its last
            ``nn.Conv2d`` when omitted).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, giv_dim)``

    Example:
        >>> import torch
        >>> clf = GIVClassifier(in_channels=384, giv_dim=96)
        >>> clf(torch.randn(2, 384, 4, 4)).shape
        torch.Size([2, 96])
    """

    def __init__(
        self,
        in_channels: int,
        giv_dim: int,
        width: int | None = None,
        stages: int = 3,
        blocks_per_stage: int = 1,
        *,
        backbone: nn.Module | None = None,
        backbone_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.giv_dim = positive_int("giv_dim", giv_dim)
        if backbone is None:
            positive_int("stages", stages)
            if blocks_per_stage != 0:
                positive_int("blocks_per_stage", blocks_per_stage)
            width = giv_dim if width is None else positive_int("width", width)
            layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, padding=1)]
            for _ in range(stages):
                layers += [ResNetBlock(width) for _ in range(blocks_per_stage)]
                layers.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
            layers += [_norm(width), nn.SiLU()]
            backbone, backbone_channels = nn.Sequential(*layers), width
        elif backbone_channels is None:
            convs = [m for m in backbone.modules() if isinstance(m, nn.Conv2d)]
            if not convs:
                raise HairError("could not infer the backbone's output channels: pass backbone_channels=")
            backbone_channels = convs[-1].out_channels
        self.backbone = backbone
        self.head = nn.Conv2d(backbone_channels, giv_dim, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        check_input(features, "GIVClassifier", f"features (B, {self.in_channels}, H, W)", dim=4,
                    channels=self.in_channels)
        return self.head(self.backbone(features)).mean(dim=(2, 3))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, giv_dim={self.giv_dim}"
