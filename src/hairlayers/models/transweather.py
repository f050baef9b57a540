"""TransWeather (Valanarasu et al., CVPR 2022): a transformer with learned weather-type queries.

Three parts, named as in the authors' code so that their checkpoints load with a small remap:

* ``Tenc`` — a SegFormer-style (MiT) encoder: overlapping patch embeddings to H/4, H/8, H/16,
  H/32 (widths 64, 128, 320, 512), two transformer blocks per stage with spatial-reduction
  attention (heads 1, 2, 4, 4; reduction 4, 2, 2, 1) and a Mix-FFN (ratio 2). An *intra-patch*
  branch (``mini_patch_embed*``, ``patch_block*``) embeds each stage's input once more at half the
  resolution, runs one transformer block on it and adds the result to the next stage's input.
* ``Tdec`` — one more patch embedding (512 → 512, H/64) and three decoder blocks whose attention
  queries are not computed from the image: each block owns a learned ``(48, 512)`` set of
  *weather queries* (``attn.task_query``), resampled to the number of tokens (nearest) and
  attending to the image tokens.
* ``convtail`` + ``clean`` — transposed convolutions (4×4, stride 2) back to full resolution,
  adding the encoder features at H/32 … H/4 with a residual block after each addition, then a 3×3
  conv to RGB and ``tanh``.

Value ranges: the authors feed ``(image − 0.5) / 0.5`` (in [−1, 1]) and train the tanh output
directly against the clean image in [0, 1]. :class:`TransWeather` takes [0, 1] images like every
zoo model, applies that normalisation itself and returns the tanh output unchanged — already on
the [0, 1] scale (tanh allows slightly negative values; clamp for saving or metrics as the
evaluation protocol does). The authors' weights therefore behave exactly as in their code.

Any input size works: the image is reflection-padded to a multiple of 16 and the output cropped
back. (The authors resize test images to multiples of 16; their tail then drops the last row and
column of an upsampled map when the encoder map it joins is odd-sized, and so does this one.)

Training (facts of the authors' script, for reference; the HAIR paper's Table 6 retrains every
baseline in its own all-in-one setup): smooth L1 + 0.04 × a VGG-16 perceptual loss, Adam at
2e-4 halved every 100 epochs, 256×256 crops, batch 18.

At paper settings the model has 37,755,411 parameters. The authors' module also builds two
layers its forward pass never uses (``Tenc.mini_patch_embed4``: 296,448 parameters;
``convtail.conv_output``: 219), which brings the reference count to 38,052,078 — the paper's
38.05M. They are left out here; :func:`remap_transweather_checkpoint` drops exactly those keys.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import positive_int
from ..errors import HairError
from ._registry import register_model
from .padding import pad_to_multiple
from ._builder import check_image, preset_config

__all__ = [
    "TransWeather",
    "transweather",
    "TRANSWEATHER_PRESETS",
    "TRANSWEATHER_TABLE6",
    "TRANSWEATHER_UNUSED_KEYS",
    "remap_transweather_checkpoint",
]

_TRANSFORMER_EPS = 1e-6  # the norm layer of blocks and stage outputs; patch/sr norms use 1e-5


def _init_transformer_weights(module: nn.Module) -> None:
    """The authors' initialisation of the encoder and decoder transformers."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _linspace(stop: float, n: int) -> list[float]:
    """``n`` evenly spaced values from 0 to ``stop`` (plain floats: works under the meta device)."""
    return [stop * i / (n - 1) if n > 1 else 0.0 for i in range(n)]


def _tokens_to_map(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], height, width)


def _map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)


class DropPath(nn.Module):
    """Stochastic depth: drop the residual branch of whole samples with probability ``p``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class OverlapPatchEmbed(nn.Module):
    """Strided conv with overlapping windows (padding ``k // 2``), then LayerNorm over channels."""

    def __init__(self, in_channels: int, dim: int, patch_size: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch_size, stride=stride, padding=patch_size // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        height, width = x.shape[-2:]
        return self.norm(_map_to_tokens(x)), height, width


class DWConv(nn.Module):
    """Depthwise 3×3 convolution on a token sequence (the "Mix" in Mix-FFN)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        return _map_to_tokens(self.dwconv(_tokens_to_map(tokens, height, width)))


class Mlp(nn.Module):
    """Mix-FFN: Linear, depthwise 3×3, GELU, Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        return self.fc2(F.gelu(self.dwconv(self.fc1(tokens), height, width)))


class _ReducedKeyValues(nn.Module):
    """Keys and values from tokens, optionally from a ``sr × sr``-strided reduction of them."""

    def __init__(self, dim: int, heads: int, sr_ratio: int) -> None:
        super().__init__()
        if dim % heads:
            raise HairError(f"dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.sr_ratio = sr_ratio
        self.kv = nn.Linear(dim, 2 * dim)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        return x.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)

    def keys_values(self, tokens: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.sr_ratio > 1:
            tokens = self.norm(_map_to_tokens(self.sr(_tokens_to_map(tokens, height, width))))
        k, v = self.kv(tokens).chunk(2, dim=-1)
        return self._split_heads(k), self._split_heads(v)

    def _merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, heads, length, d = x.shape
        return x.transpose(1, 2).reshape(batch, length, heads * d)


class Attention(_ReducedKeyValues):
    """Multi-head self-attention with spatially reduced keys/values (SegFormer's efficient attention)."""

    def __init__(self, dim: int, heads: int, sr_ratio: int = 1) -> None:
        super().__init__(dim, heads, sr_ratio)
        self.q = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        k, v = self.keys_values(tokens, height, width)
        q = self._split_heads(self.q(tokens))
        return self.proj(self._merge_heads(F.scaled_dot_product_attention(q, k, v)))


class DecoderAttention(_ReducedKeyValues):
    """Attention whose queries are learned weather queries, not image tokens.

    The ``(num_queries, dim)`` parameter ``task_query`` is projected by ``q`` and resampled by
    nearest-neighbour interpolation along the query axis to one query per image token, so the
    output has the input's token count (as in the authors' model).
    """

    def __init__(self, dim: int, heads: int, sr_ratio: int = 1, num_queries: int = 48) -> None:
        super().__init__(dim, heads, sr_ratio)
        self.q = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.task_query = nn.Parameter(torch.randn(1, num_queries, dim))

    def forward(self, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        k, v = self.keys_values(tokens, height, width)
        q = self._split_heads(self.q(self.task_query))  # (1, heads, num_queries, d)
        q = F.interpolate(q, size=(tokens.shape[1], q.shape[-1]), mode="nearest")
        q = q.expand(tokens.shape[0], -1, -1, -1)
        return self.proj(self._merge_heads(F.scaled_dot_product_attention(q, k, v)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float,
        sr_ratio: int = 1,
        drop_path: float = 0.0,
        num_queries: int | None = None,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=_TRANSFORMER_EPS)
        if num_queries is None:
            self.attn: nn.Module = Attention(dim, heads, sr_ratio)
        else:
            self.attn = DecoderAttention(dim, heads, sr_ratio, num_queries)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=_TRANSFORMER_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        tokens = tokens + self.drop_path(self.attn(self.norm1(tokens), height, width))
        return tokens + self.drop_path(self.mlp(self.norm2(tokens), height, width))


def _run(
    blocks: nn.ModuleList, norm: nn.LayerNorm, tokens: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    for block in blocks:
        tokens = block(tokens, height, width)
    return _tokens_to_map(norm(tokens), height, width)


class EncoderTransformer(nn.Module):
    """The four-stage encoder with its intra-patch branch; returns the maps at H/4 … H/32."""

    def __init__(
        self,
        in_channels: int,
        dims: Sequence[int],
        depths: Sequence[int],
        heads: Sequence[int],
        sr_ratios: Sequence[int],
        mlp_ratio: float,
        drop_path_rate: float,
    ) -> None:
        super().__init__()
        d = list(dims)
        self.patch_embed1 = OverlapPatchEmbed(in_channels, d[0], 7, 4)
        self.patch_embed2 = OverlapPatchEmbed(d[0], d[1], 3, 2)
        self.patch_embed3 = OverlapPatchEmbed(d[1], d[2], 3, 2)
        self.patch_embed4 = OverlapPatchEmbed(d[2], d[3], 3, 2)
        self.mini_patch_embed1 = OverlapPatchEmbed(d[0], d[1], 3, 2)
        self.mini_patch_embed2 = OverlapPatchEmbed(d[1], d[2], 3, 2)
        self.mini_patch_embed3 = OverlapPatchEmbed(d[2], d[3], 3, 2)
        rates = _linspace(drop_path_rate, sum(depths))
        starts = [sum(depths[:i]) for i in range(4)]
        for i in range(4):
            setattr(
                self,
                f"block{i + 1}",
                nn.ModuleList(
                    Block(d[i], heads[i], mlp_ratio, sr_ratios[i], rates[starts[i] + j])
                    for j in range(depths[i])
                ),
            )
            setattr(self, f"norm{i + 1}", nn.LayerNorm(d[i], eps=_TRANSFORMER_EPS))
        # One intra-patch block per stage 1-3, at the next stage's width; the authors pair the
        # heads of stages 1, 2, 2 with the reductions of stages 1, 2, 3.
        for i, head_index in enumerate((0, 1, 1)):
            setattr(
                self,
                f"patch_block{i + 1}",
                nn.ModuleList(
                    [Block(d[i + 1], heads[head_index], mlp_ratio, sr_ratios[i], rates[starts[i]])]
                ),
            )
            setattr(self, f"pnorm{i + 1}", nn.LayerNorm(d[i + 1], eps=_TRANSFORMER_EPS))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs: list[torch.Tensor] = []
        tokens, h, w = self.patch_embed1(x)
        for stage in (1, 2, 3):
            # The intra-patch branch re-embeds this stage's input at half resolution ...
            mini_embed = getattr(self, f"mini_patch_embed{stage}")
            patch_in, ph, pw = mini_embed(_tokens_to_map(tokens, h, w))
            outs.append(_run(getattr(self, f"block{stage}"), getattr(self, f"norm{stage}"), tokens, h, w))
            patch = _run(
                getattr(self, f"patch_block{stage}"), getattr(self, f"pnorm{stage}"), patch_in, ph, pw
            )
            # ... and joins the next stage's input.
            tokens, h, w = getattr(self, f"patch_embed{stage + 1}")(outs[-1])
            tokens = tokens + _map_to_tokens(patch)
        outs.append(_run(self.block4, self.norm4, tokens, h, w))
        return outs


class DecoderTransformer(nn.Module):
    """Patch embedding of the H/32 map to H/64, then the weather-query blocks."""

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        num_queries: int,
        drop_path_rates: Sequence[float],
    ) -> None:
        super().__init__()
        self.patch_embed1 = OverlapPatchEmbed(dim, dim, 3, 2)
        self.block1 = nn.ModuleList(
            Block(dim, heads, mlp_ratio, 1, drop_path_rates[j], num_queries=num_queries) for j in range(depth)
        )
        self.norm1 = nn.LayerNorm(dim, eps=_TRANSFORMER_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, h, w = self.patch_embed1(x)
        return _run(self.block1, self.norm1, tokens, h, w)


class ConvLayer(nn.Module):
    """A convolution wrapped under the name ``conv2d`` (the authors' state_dict layout)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(x)


class UpsampleConvLayer(nn.Module):
    """×2 transposed convolution (kernel 4, stride 2, padding 1) under the name ``conv2d``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv2d = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(x)


class ResidualBlock(nn.Module):
    """``x + 0.1 · conv2(relu(conv1(x)))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels)
        self.conv2 = ConvLayer(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * self.conv2(F.relu(self.conv1(x)))


def _fit(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Drop the extra last row/column a ×2 upsample makes when ``like`` has an odd size."""
    return x[..., : like.shape[-2], : like.shape[-1]]


class ConvProjection(nn.Module):
    """The convolutional tail: ×2 upsamples from H/64 to H/1, adding encoder maps on the way."""

    def __init__(self, dims: Sequence[int], tail_dims: Sequence[int]) -> None:
        super().__init__()
        d0, d1, d2, d3 = dims
        t1, t0 = tail_dims
        self.convd32x = UpsampleConvLayer(d3, d3)
        self.convd16x = UpsampleConvLayer(d3, d2)
        self.dense_4 = nn.Sequential(ResidualBlock(d2))
        self.convd8x = UpsampleConvLayer(d2, d1)
        self.dense_3 = nn.Sequential(ResidualBlock(d1))
        self.convd4x = UpsampleConvLayer(d1, d0)
        self.dense_2 = nn.Sequential(ResidualBlock(d0))
        self.convd2x = UpsampleConvLayer(d0, t1)
        self.dense_1 = nn.Sequential(ResidualBlock(t1))
        self.convd1x = UpsampleConvLayer(t1, t0)

    def forward(self, skips: list[torch.Tensor], latent: torch.Tensor) -> torch.Tensor:
        x4, x8, x16, x32 = skips
        x = _fit(self.convd32x(latent), x32) + x32
        x = _fit(self.convd16x(x), x16)
        x = self.convd8x(self.dense_4(x) + x16)
        x = self.convd4x(self.dense_3(x) + x8)
        x = self.convd2x(self.dense_2(x) + x4)
        return self.convd1x(self.dense_1(x))


class TransWeather(nn.Module):
    """The TransWeather network; prefer the :func:`transweather` builder, which knows the presets.

    Args:
        in_channels: image channels (in and out).
        embed_dims: encoder widths per stage (paper ``(64, 128, 320, 512)``).
        depths: encoder blocks per stage (paper ``(2, 2, 2, 2)``).
        num_heads: encoder heads per stage (paper ``(1, 2, 4, 4)``).
        sr_ratios: key/value spatial reduction per stage (paper ``(4, 2, 2, 1)``).
        mlp_ratio: encoder Mix-FFN expansion (paper 2).
        decoder_depth: weather-query blocks (paper 3).
        decoder_heads: their heads (paper 8).
        decoder_mlp_ratio: their Mix-FFN expansion (paper 4).
        num_queries: learned weather queries per decoder block (paper 48).
        tail_dims: widths of the last two upsamples (paper ``(16, 8)``).
        drop_path_rate: stochastic depth, rising linearly to this value over the encoder blocks
            and over 16 decoder slots, of which the decoder uses the first ``decoder_depth`` (the
            authors' schedule; paper 0.1).

    Shape:
        - input: ``(B, C, H, W)``, any ``H, W``, values in [0, 1].
        - output: ``(B, C, H, W)`` on the [0, 1] scale (a tanh output; see the module docs).
    """

    registry_name = "transweather"
    #: The tail aligns odd-sized maps below H/16, so multiples of 16 suffice (see module docs).
    size_multiple = 16

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: Sequence[int] = (64, 128, 320, 512),
        depths: Sequence[int] = (2, 2, 2, 2),
        num_heads: Sequence[int] = (1, 2, 4, 4),
        sr_ratios: Sequence[int] = (4, 2, 2, 1),
        mlp_ratio: float = 2.0,
        decoder_depth: int = 3,
        decoder_heads: int = 8,
        decoder_mlp_ratio: float = 4.0,
        num_queries: int = 48,
        tail_dims: Sequence[int] = (16, 8),
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        for name, seq in (
            ("embed_dims", embed_dims),
            ("depths", depths),
            ("num_heads", num_heads),
            ("sr_ratios", sr_ratios),
        ):
            if len(seq) != 4 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in seq):
                raise HairError(f"{name} must be 4 positive ints, got {tuple(seq)!r}")
        if len(tail_dims) != 2 or any(not isinstance(v, int) or v < 1 for v in tail_dims):
            raise HairError(f"tail_dims must be 2 positive ints, got {tuple(tail_dims)!r}")
        for name, value in (
            ("in_channels", in_channels),
            ("decoder_depth", decoder_depth),
            ("decoder_heads", decoder_heads),
            ("num_queries", num_queries),
        ):
            positive_int(name, value)
        if not 0.0 <= drop_path_rate < 1.0:
            raise HairError(f"drop_path_rate must be in [0, 1), got {drop_path_rate!r}")
        self.in_channels = in_channels
        # Every spatial-reduction conv needs a map at least its stride wide: stage i runs at
        # H/2^(i+1) with reduction sr[i], the intra-patch block after it at H/2^(i+2) with sr[i].
        sr = list(sr_ratios)
        need = max(4 * sr[0], 8 * max(sr[0], sr[1]), 16 * max(sr[1], sr[2]), 32 * max(sr[2], sr[3]))
        #: Smaller inputs are padded up to a multiple of this (64 at paper settings).
        self.min_size = -(-need // self.size_multiple) * self.size_multiple
        self.Tenc = EncoderTransformer(
            in_channels, embed_dims, depths, num_heads, sr_ratios, mlp_ratio, drop_path_rate
        )
        # The authors size the decoder's schedule for 16 blocks and build only the first few.
        decoder_rates = _linspace(drop_path_rate, max(16, decoder_depth))
        self.Tdec = DecoderTransformer(
            embed_dims[3], decoder_depth, decoder_heads, decoder_mlp_ratio, num_queries, decoder_rates
        )
        self.Tenc.apply(_init_transformer_weights)
        self.Tdec.apply(_init_transformer_weights)
        self.convtail = ConvProjection(embed_dims, tail_dims)
        self.clean = ConvLayer(tail_dims[1], in_channels)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Restore ``image`` in [0, 1] (any size); the result is on the same scale."""
        check_image(image, self.in_channels)
        small = min(image.shape[-2:]) < self.min_size
        x, crop = pad_to_multiple(image, self.min_size if small else self.size_multiple)
        skips = self.Tenc(2.0 * x - 1.0)  # the authors' Normalize(0.5, 0.5)
        latent = self.Tdec(skips[3])
        return crop(torch.tanh(self.clean(self.convtail(skips, latent))))


#: Layers the authors' module builds but never runs; their weights are in every released file.
TRANSWEATHER_UNUSED_KEYS = (
    "Tenc.mini_patch_embed4.proj.weight",
    "Tenc.mini_patch_embed4.proj.bias",
    "Tenc.mini_patch_embed4.norm.weight",
    "Tenc.mini_patch_embed4.norm.bias",
    "convtail.conv_output.conv2d.weight",
    "convtail.conv_output.conv2d.bias",
)


def remap_transweather_checkpoint(
    state_dict: dict[str, torch.Tensor], model: nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """Map the authors' state_dict to :class:`TransWeather`: drop the never-used layers by name.

    Every other key is identical (``module.``, from their DataParallel training, is stripped by
    :func:`~hairlayers.models.pretrained.load_pretrained` before this runs).

    Args:
        state_dict: the authors' tensors.
        model: the model being loaded (unused: the mapping does not depend on its size).

    Returns:
        The same tensors without :data:`TRANSWEATHER_UNUSED_KEYS`.

    Example:
        >>> import torch
        >>> sd = {"Tenc.norm1.weight": torch.ones(2), "convtail.conv_output.conv2d.bias": torch.zeros(3)}
        >>> list(remap_transweather_checkpoint(sd))
        ['Tenc.norm1.weight']
    """
    return {k: v for k, v in state_dict.items() if k not in TRANSWEATHER_UNUSED_KEYS}


#: Width/depth presets: ``tiny`` for tests and docs, ``mini`` for the CPU Table-6 reproduction.
TRANSWEATHER_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(
        embed_dims=(64, 128, 320, 512),
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 4),
        decoder_depth=3,
        decoder_heads=8,
        num_queries=48,
    ),
    "mini": dict(
        embed_dims=(32, 64, 128, 192),
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 4),
        decoder_depth=3,
        decoder_heads=4,
        num_queries=48,
    ),
    "tiny": dict(
        embed_dims=(16, 32, 48, 64),
        depths=(1, 1, 1, 1),
        num_heads=(1, 2, 2, 2),
        decoder_depth=1,
        decoder_heads=2,
        num_queries=16,
    ),
}

TRANSWEATHER_TABLE6 = {
    "SOTS": (21.32, 0.885),
    "Rain100L": (29.43, 0.905),
    "BSD68 σ25": (29.00, 0.841),
    "GoPro": (25.12, 0.757),
    "LOLv1": (21.21, 0.792),
    "avg": (25.22, 0.836),
}


@register_model(
    paper_params=(
        "38.05M (38,052,078 in the authors' module, which includes 296,667 parameters of two "
        "layers its forward never uses; 37,755,411 without them)"
    ),
    table6=TRANSWEATHER_TABLE6,
    table6_params="38M",
    presets=TRANSWEATHER_PRESETS,
    checkpoint_format=(
        "plain `torch.save(net.state_dict())` of an `nn.DataParallel` model (keys prefixed "
        "`module.`, file named `best`/`latest`); names identical to ours apart from the unused "
        "`Tenc.mini_patch_embed4.*` and `convtail.conv_output.*`, which the remap drops. Their "
        "model takes [-1, 1] input; ours takes [0, 1] and converts."
    ),
    license_note=(
        "architecture: Valanarasu et al., CVPR 2022; the authors' code is MIT-licensed "
        "(this implementation is independent)"
    ),
    remap_checkpoint=remap_transweather_checkpoint,
)
def transweather(
    embed_dims: Sequence[int] | None = None,
    depths: Sequence[int] | None = None,
    num_heads: Sequence[int] | None = None,
    decoder_depth: int | None = None,
    decoder_heads: int | None = None,
    num_queries: int | None = None,
    preset: str | None = None,
    **kwargs: Any,
) -> TransWeather:
    """Build TransWeather: the paper's settings by default, or a small preset.

    Args:
        embed_dims, depths, num_heads: encoder widths, blocks and heads per stage.
        decoder_depth, decoder_heads, num_queries: weather-query decoder.
        preset: ``None``/``"paper"`` (37.76M parameters; 38.05M with the authors' unused
            layers), ``"mini"`` (widths ``(32, 64, 128, 192)``, the paper's depths, 4 decoder
            heads; 5.81M, but cheap: most work runs at H/16 and below — the CPU Table-6
            reproduction trains this) or ``"tiny"``
            (widths ``(16, 32, 48, 64)``, one block everywhere; for tests). Explicit
            arguments override the preset.
        **kwargs: passed to :class:`TransWeather` (``sr_ratios``, ``mlp_ratio``,
            ``decoder_mlp_ratio``, ``tail_dims``, ``drop_path_rate``, ``in_channels``).

    Returns:
        The model, in training mode.

    Example:
        >>> import torch
        >>> net = transweather(preset="tiny").eval()
        >>> net(torch.rand(2, 3, 37, 45)).shape
        torch.Size([2, 3, 37, 45])
    """
    config = preset_config(
        "transweather",
        preset,
        embed_dims=embed_dims,
        depths=depths,
        num_heads=num_heads,
        decoder_depth=decoder_depth,
        decoder_heads=decoder_heads,
        num_queries=num_queries,
    )
    return TransWeather(**config, **kwargs)
