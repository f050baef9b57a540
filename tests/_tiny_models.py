"""Tiny encoder-decoder networks for tests (built in milliseconds, run on 32×32 inputs).

* :class:`TinyUNet` — convolutions, max pooling, ConvTranspose2d upsampling, skip concatenations,
  BatchNorm, two identical residual blocks in a decoder stage, and a skip projection that the
  decoder applies to an encoder feature late in the forward pass (it must stay static).
* :class:`TinyRestormer` — channel attention written with einops, pixel (un)shuffle resampling,
  levels of identical transformer blocks, a global residual.
* :class:`TokenDecoderNet` — a convolutional encoder whose decoder works on ``(B, L, C)`` tokens
  with ``nn.Linear`` (a transformer MLP), then transposed convolutions back to full resolution.
* :class:`SideBranchNet` — side branches that go below the main resolution (a map-to-vector
  context net, SegFormer-style reduced attention keys) and must not move the split.
* :class:`FlatNet` — no spatial downsampling at all.

Each class has ``EXPECTED_SPLIT`` (the name a person would choose, as ``hairify`` reports it),
``UPSTREAM`` (the modules before it) and ``EXPECTED_STATIC`` (convertible layers after the split
that must stay static).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange


class ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: bool = False) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1)]
        if norm:
            layers.append(nn.BatchNorm2d(cout))
        layers += [nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU()]
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.gelu(self.conv1(x)))


class TinyUNet(nn.Module):
    EXPECTED_SPLIT = "pool2"  # the pooled map entering the bottleneck
    EXPECTED_LOWEST = "8×8"
    UPSTREAM = ("enc1", "pool1", "enc2", "pool2")
    EXPECTED_STATIC = ("skip_proj",)  # runs late, but on an encoder feature

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.enc1 = ConvBlock(3, c, norm=True)
        self.pool1 = nn.MaxPool2d(2)
        self.enc2 = ConvBlock(c, 2 * c)
        self.pool2 = nn.MaxPool2d(2)
        self.bottleneck = ConvBlock(2 * c, 4 * c)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = nn.Sequential(nn.Conv2d(4 * c, 2 * c, 1), ResBlock(2 * c), ResBlock(2 * c))
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.skip_proj = nn.Conv2d(c, c, 1)  # runs on an encoder feature, inside the decoder
        self.dec1 = ConvBlock(2 * c, c)
        self.head = nn.Conv2d(c, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool1(e1))
        b = self.bottleneck(self.pool2(e2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        up = self.up1(d2)
        d1 = self.dec1(torch.cat([up, self.skip_proj(e1)], dim=1))
        return x + self.head(d1)


class MDTA(nn.Module):
    """Channel attention in einops (what makes torch.fx give up on Restormer)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.qkv_dwconv = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        q, k, v = (rearrange(t, "b (head c) h w -> b head c (h w)", head=self.heads) for t in (q, k, v))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        out = rearrange(attn @ v, "b head c (h w) -> b (head c) h w", head=self.heads, h=h, w=w)
        return self.project_out(out)


class ChannelNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(self.body(rearrange(x, "b c h w -> b h w c")), "b h w c -> b c h w")


class GDFN(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        hidden = 2 * dim
        self.project_in = nn.Conv2d(dim, 2 * hidden, 1, bias=False)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=False)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(a) * b)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.attn = ChannelNorm(dim), MDTA(dim, heads)
        self.norm2, self.ffn = ChannelNorm(dim), GDFN(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def _level(dim: int, heads: int, depth: int) -> nn.Sequential:
    return nn.Sequential(*[TransformerBlock(dim, heads) for _ in range(depth)])


class TinyRestormer(nn.Module):
    """Three levels: encoder 1-2, latent at H/4, decoder 2-1, refinement."""

    EXPECTED_SPLIT = "down2"  # its output is the input of the latent level
    EXPECTED_LOWEST = "8×8"
    UPSTREAM = ("patch_embed", "encoder1", "down1", "encoder2", "down2")
    EXPECTED_STATIC = ()

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, 3, padding=1, bias=False)
        self.encoder1 = _level(dim, 1, 2)
        self.down1 = nn.Sequential(nn.Conv2d(dim, dim // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))
        self.encoder2 = _level(2 * dim, 2, 2)
        self.down2 = nn.Sequential(nn.Conv2d(2 * dim, dim, 3, padding=1, bias=False), nn.PixelUnshuffle(2))
        self.latent = _level(4 * dim, 2, 2)
        self.up2 = nn.Sequential(nn.Conv2d(4 * dim, 8 * dim, 3, padding=1, bias=False), nn.PixelShuffle(2))
        self.reduce2 = nn.Conv2d(4 * dim, 2 * dim, 1, bias=False)
        self.decoder2 = _level(2 * dim, 2, 2)
        self.up1 = nn.Sequential(nn.Conv2d(2 * dim, 4 * dim, 3, padding=1, bias=False), nn.PixelShuffle(2))
        self.decoder1 = _level(2 * dim, 1, 2)
        self.refinement = _level(2 * dim, 1, 1)
        self.output = nn.Conv2d(2 * dim, 3, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.encoder1(self.patch_embed(x))
        e2 = self.encoder2(self.down1(e1))
        latent = self.latent(self.down2(e2))
        d2 = self.decoder2(self.reduce2(torch.cat([self.up2(latent), e2], 1)))
        d1 = self.decoder1(torch.cat([self.up1(d2), e1], 1))
        return self.output(self.refinement(d1)) + x


class TokenMLP(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens + self.fc2(F.gelu(self.fc1(self.norm(tokens))))


class TokenDecoderNet(nn.Module):
    """Conv encoder to H/4, a token decoder (nn.Linear on (B, L, C)), transposed convs back up."""

    EXPECTED_SPLIT = "down2"
    EXPECTED_LOWEST = "8×8"
    UPSTREAM = ("stem", "down1", "down2")
    EXPECTED_STATIC = ()

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.down1 = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.down2 = nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1)
        self.tokens = nn.Sequential(TokenMLP(4 * c), TokenMLP(4 * c))
        self.up1 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.up2 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.head = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.down2(F.relu(self.down1(F.relu(self.stem(x)))))
        h, w = f.shape[-2:]
        t = self.tokens(rearrange(f, "b c h w -> b (h w) c"))
        f = rearrange(t, "b (h w) c -> b c h w", h=h, w=w)
        return self.head(F.relu(self.up2(F.relu(self.up1(f)))))


class FlatNet(nn.Module):
    """Same resolution everywhere: no junction of two halves."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ContextVector(nn.Module):
    """Map -> one vector per image through stride-2 convs (like a GIV classifier or a prompt net)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, stride=2, padding=1), nn.GELU(),
                                  nn.Conv2d(c, c, 3, stride=2, padding=1), nn.GELU(),
                                  nn.Conv2d(c, c, 3, stride=2, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


class ReducedAttention(nn.Module):
    """SegFormer-style attention: keys/values from a stride-4 'spatial reduction' conv."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.sr = nn.Conv2d(c, c, 4, stride=4)
        self.q, self.kv = nn.Linear(c, c), nn.Linear(c, 2 * c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        q = self.q(rearrange(x, "b c h w -> b (h w) c"))
        k, v = self.kv(rearrange(self.sr(x), "b c h w -> b (h w) c")).chunk(2, dim=-1)
        out = (q @ k.transpose(1, 2) / q.shape[-1] ** 0.5).softmax(-1) @ v
        return x + rearrange(out, "b (h w) c -> b c h w", h=h, w=w)


class SideBranchNet(nn.Module):
    """Main path 32 → 16 → 32; side branches go lower (a context vector, reduced attention keys)
    but are not stages: the split is still the pooled 16×16 map."""

    EXPECTED_SPLIT = "pool"
    EXPECTED_LOWEST = "16×16"
    UPSTREAM = ("stem", "pool")
    EXPECTED_STATIC = ()

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.context = ContextVector(c)
        self.attn = ReducedAttention(c)
        self.up = nn.ConvTranspose2d(c, c, 2, stride=2)
        self.head = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.pool(F.gelu(self.stem(x)))
        f = self.attn(f * torch.sigmoid(self.context(f))[:, :, None, None])
        return x + self.head(F.gelu(self.up(f)))


MODELS = {"unet": TinyUNet, "restormer": TinyRestormer, "tokens": TokenDecoderNet, "side": SideBranchNet}
