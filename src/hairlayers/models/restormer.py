"""Restormer (Zamir et al., CVPR 2022), reimplemented from the paper's description.

A four-level U-shaped transformer: an overlapping 3×3 patch embedding, levels of identical
:class:`TransformerBlock` s (channel-attention :class:`MDTA` + gated depthwise feed-forward
:class:`GDFN`), pixel-unshuffle :class:`Downsample` / pixel-shuffle :class:`Upsample`, skip
concatenations, refinement blocks at full resolution and a global input residual.

Parameter names follow the authors' release (``patch_embed.proj``, ``encoder_level1.0.norm1.body``,
``attn.qkv_dwconv``, ``ffn.project_in``, ``down1_2.body``, ``reduce_chan_level3`` …), so their
checkpoints load with an identity key mapping (see :func:`hairlayers.models.pretrained.load_pretrained`).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import HairError
from ..functional import batch_inner
from ..functional.batch_inner import is_batch_inner
from ..functional.torch_backend import keep_format
from ._builder import check_image, preset_config
from ._registry import register_model
from .padding import pad_to_multiple

__all__ = [
    "LayerNorm2d",
    "MDTA",
    "GDFN",
    "TransformerBlock",
    "OverlapPatchEmbed",
    "Downsample",
    "Upsample",
    "Restormer",
    "RestormerEncoder",
    "restormer",
    "RESTORMER_PRESETS",
]

_LAYER_NORMS = ("withbias", "biasfree")


def _check_layer_norm(layer_norm: str) -> str:
    kind = str(layer_norm).lower().replace("_", "").replace("-", "")
    if kind not in _LAYER_NORMS:
        raise HairError(f"layer_norm must be one of {_LAYER_NORMS}, got {layer_norm!r}")
    return kind


class _BiasFreeLayerNorm(nn.Module):
    """Scale-only layer norm over the last dim: the mean is used for the variance but kept in x."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = 1e-5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(-1, keepdim=True, unbiased=False)
        return x * torch.rsqrt(var + self.eps) * self.weight


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of a ``(B, C, H, W)`` map, at every pixel.

    Args:
        dim: channel count ``C``.
        layer_norm: ``"withbias"`` (standard layer norm, weight and bias) or ``"biasfree"``
            (divides by the standard deviation without subtracting the mean; weight only) —
            Restormer's denoising models use the latter.

    Shape:
        - Input and output: :math:`(B, C, H, W)`

    Example:
        >>> import torch
        >>> norm = LayerNorm2d(8)
        >>> y = norm(torch.randn(2, 8, 5, 5))
        >>> y.mean(1).abs().max() < 1e-5
        tensor(True)
    """

    def __init__(self, dim: int, layer_norm: str = "withbias") -> None:
        super().__init__()
        self.layer_norm = _check_layer_norm(layer_norm)
        # The wrapped norm is called `body` so parameter names match the authors' checkpoints.
        self.body: nn.Module = (
            nn.LayerNorm(dim, eps=1e-5) if self.layer_norm == "withbias" else _BiasFreeLayerNorm(dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if is_batch_inner(x):  # the (H·W, B, C) grid: one norm over rows, no copy
            return batch_inner.from_grid(self.body(batch_inner.grid(x)), x.shape[2], x.shape[3])
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"layer_norm={self.layer_norm!r}"


def _conv(layer: nn.Module, x: torch.Tensor, select: torch.Tensor | None) -> torch.Tensor:
    """Call a block convolution; hyper convolutions (Res-HAIR) also take the block's selecting vector.

    A static ``nn.Conv2d`` given a batch-inner map runs as :func:`~hairlayers.functional.batch_inner.conv2d`
    (oneDNN has no kernel for that layout; module hooks of that conv are not called then).
    """
    if select is not None:
        return layer(x, select=select)
    if type(layer) is nn.Conv2d and is_batch_inner(x):
        return batch_inner.conv2d(x, layer)
    return layer(x)


class MDTA(nn.Module):
    """Multi-Dconv-head transposed attention: attention across channels, not pixels.

    ``q, k, v`` come from a 1×1 conv followed by a depthwise 3×3 conv; per head, the
    ``(C/h × C/h)`` attention map is computed from L2-normalised ``q`` and ``k`` scaled by a learned
    per-head temperature, so the cost is linear in the number of pixels.

    Args:
        dim: channel count ``C``.
        num_heads: number of heads; must divide ``dim``.
        bias: whether the convolutions have a bias (Restormer: ``False``).

    Shape:
        - Input and output: :math:`(B, C, H, W)`

    Example:
        >>> import torch
        >>> MDTA(16, num_heads=2)(torch.randn(2, 16, 6, 7)).shape
        torch.Size([2, 16, 6, 7])
    """

    def __init__(self, dim: int, num_heads: int, bias: bool = False) -> None:
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise HairError(f"num_heads must divide dim: got dim={dim}, num_heads={num_heads}")
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(
            dim * 3, dim * 3, kernel_size=3, padding=1, groups=dim * 3, bias=bias
        )
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor, select: torch.Tensor | None = None) -> torch.Tensor:
        qkv = _conv(self.qkv_dwconv, _conv(self.qkv, x, select), select)
        if is_batch_inner(qkv):
            return _conv(self.project_out, self._attend_batch_inner(qkv), select)
        b, c, h, w = x.shape
        q, k, v = qkv.chunk(3, dim=1)
        q = F.normalize(q.reshape(b, self.num_heads, -1, h * w), dim=-1)
        k = F.normalize(k.reshape(b, self.num_heads, -1, h * w), dim=-1)
        v = v.reshape(b, self.num_heads, -1, h * w)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return _conv(self.project_out, (attn @ v).reshape(b, c, h, w), select)

    def _attend_batch_inner(self, qkv: torch.Tensor) -> torch.Tensor:
        """The attention of a batch-inner ``(B, 3C, H, W)`` map, batch-inner; per head, ``bmm``
        reads the strided ``(H·W, B, C/h)`` columns in place and writes into the output's."""
        b, c3, h, w = qkv.shape
        c = c3 // 3
        width = c // self.num_heads
        cells = batch_inner.grid(qkv)
        # Without autograd each head's product is written into its columns of the output; bmm's
        # out= has no backward, so with it the heads are concatenated and transposed (one copy).
        out = None if torch.is_grad_enabled() else torch.empty(h * w, b, c, dtype=qkv.dtype, device=qkv.device)
        heads = []
        for head in range(self.num_heads):
            cols = slice(head * width, (head + 1) * width)
            q, k, v = (cells[:, :, part * c:(part + 1) * c][:, :, cols] for part in range(3))
            # F.normalize over dim 0 of these strided views is 7x slower than a sum of squares.
            q = q / (q * q).sum(0).sqrt().clamp_min(1e-12)
            k = k / (k * k).sum(0).sqrt().clamp_min(1e-12)
            scores = torch.bmm(q.permute(1, 2, 0), k.permute(1, 0, 2)) * self.temperature[head]
            mixer = scores.softmax(dim=-1).transpose(1, 2)
            if out is None:
                heads.append(torch.bmm(v.transpose(0, 1), mixer))
            else:
                torch.bmm(v.transpose(0, 1), mixer, out=out[:, :, cols].transpose(0, 1))
        if out is None:
            out = torch.cat(heads, dim=2).transpose(0, 1)
        return batch_inner.from_grid(out, h, w)

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}"


class GDFN(nn.Module):
    """Gated-Dconv feed-forward network: ``project_out(gelu(a) * b)``, ``a, b`` from a dwconv.

    Args:
        dim: channel count ``C``.
        ffn_expansion_factor: hidden width is ``int(dim * ffn_expansion_factor)``.
        bias: whether the convolutions have a bias.

    Shape:
        - Input and output: :math:`(B, C, H, W)`

    Example:
        >>> import torch
        >>> GDFN(16)(torch.randn(2, 16, 5, 5)).shape
        torch.Size([2, 16, 5, 5])
    """

    def __init__(self, dim: int, ffn_expansion_factor: float = 2.66, bias: bool = False) -> None:
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        if hidden < 1:
            raise HairError(
                f"ffn_expansion_factor={ffn_expansion_factor} gives no hidden channels for dim={dim}"
            )
        self.hidden_features = hidden
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(
            hidden * 2, hidden * 2, kernel_size=3, padding=1, groups=hidden * 2, bias=bias
        )
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor, select: torch.Tensor | None = None) -> torch.Tensor:
        gate, value = _conv(self.dwconv, _conv(self.project_in, x, select), select).chunk(2, dim=1)
        return _conv(self.project_out, F.gelu(gate) * value, select)


class TransformerBlock(nn.Module):
    """Restormer's block: ``x + attn(norm1(x))`` then ``x + ffn(norm2(x))``.

    This is the unit that HAIR turns into a hyper block (its six convolutions are generated):
    with hyper convolutions inside, ``forward(x, select)`` passes the block's ``(B, N)``
    selecting vector to all six.

    Args:
        dim: channel count ``C``.
        num_heads: attention heads; must divide ``dim``.
        ffn_expansion_factor: GDFN hidden-width factor.
        bias: convolution bias.
        layer_norm: ``"withbias"`` or ``"biasfree"``.

    Shape:
        - Input and output: :math:`(B, C, H, W)`

    Example:
        >>> import torch
        >>> block = TransformerBlock(16, num_heads=2)
        >>> block(torch.randn(3, 16, 8, 8)).shape
        torch.Size([3, 16, 8, 8])
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 1,
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layer_norm: str = "withbias",
    ) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(dim, layer_norm)
        self.attn = MDTA(dim, num_heads, bias)
        self.norm2 = LayerNorm2d(dim, layer_norm)
        self.ffn = GDFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor, select: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), select)
        return x + self.ffn(self.norm2(x), select)


class OverlapPatchEmbed(nn.Module):
    """A 3×3 convolution from image channels to the base width (``proj``).

    Example:
        >>> import torch
        >>> OverlapPatchEmbed(3, 16)(torch.randn(1, 3, 8, 8)).shape
        torch.Size([1, 16, 8, 8])
    """

    def __init__(self, in_channels: int = 3, embed_dim: int = 48, bias: bool = False) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Halve the resolution, double the channels: 3×3 conv to ``C/2`` then pixel-unshuffle ×2.

    Example:
        >>> import torch
        >>> Downsample(16)(torch.randn(1, 16, 8, 8)).shape
        torch.Size([1, 32, 4, 4])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels % 2:
            raise HairError(f"Downsample needs an even channel count, got {channels}")
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels // 2, kernel_size=3, padding=1, bias=False),
            nn.PixelUnshuffle(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Double the resolution, halve the channels: 3×3 conv to ``2C`` then pixel-shuffle ×2.

    Example:
        >>> import torch
        >>> Upsample(32)(torch.randn(1, 32, 4, 4)).shape
        torch.Size([1, 16, 8, 8])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels * 2, kernel_size=3, padding=1, bias=False),
            nn.PixelShuffle(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if is_batch_inner(x):
            return batch_inner.pixel_shuffle(batch_inner.conv2d(x, self.body[0]), 2)
        return self.body(x)


def decoder_join(inner: bool):
    """How a decoder concatenates its upsampled map and the skip: into a batch-inner map, or ``torch.cat``."""
    return batch_inner.cat if inner else (lambda tensors: torch.cat(tensors, 1))


def _level(
    dim: int, depth: int, heads: int, ffn_expansion_factor: float, bias: bool, layer_norm: str
) -> nn.Sequential:
    return nn.Sequential(
        *[TransformerBlock(dim, heads, ffn_expansion_factor, bias, layer_norm) for _ in range(depth)]
    )


def _check_sizes(num_blocks: Sequence[int], heads: Sequence[int], refinement: int) -> None:
    if len(num_blocks) != 4 or any(int(n) < 1 for n in num_blocks):
        raise HairError(f"num_blocks must be 4 positive ints (levels 1-4), got {tuple(num_blocks)}")
    if len(heads) != 4 or any(int(h) < 1 for h in heads):
        raise HairError(f"heads must be 4 positive ints (levels 1-4), got {tuple(heads)}")
    if refinement < 0:
        raise HairError(f"num_refinement_blocks must be >= 0, got {refinement}")


class RestormerEncoder(nn.Module):
    """The encoder half that Restormer, PromptIR and Res-HAIR share (the authors' names).

    Subclasses call :meth:`_build_encoder` in ``__init__`` and :meth:`_encode` in ``forward``.
    """

    def _build_encoder(
        self, in_channels: int, dim: int, num_blocks: Sequence[int], heads: Sequence[int],
        ffn_expansion_factor: float, bias: bool, layer_norm: str,
    ) -> None:
        args = (ffn_expansion_factor, bias, layer_norm)
        self.patch_embed = OverlapPatchEmbed(in_channels, dim)
        self.encoder_level1 = _level(dim, num_blocks[0], heads[0], *args)
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = _level(2 * dim, num_blocks[1], heads[1], *args)
        self.down2_3 = Downsample(2 * dim)
        self.encoder_level3 = _level(4 * dim, num_blocks[2], heads[2], *args)
        self.down3_4 = Downsample(4 * dim)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(embedding, enc1, enc2, enc3, level-4 input)`` of a padded image batch."""
        embedded = self.patch_embed(x)
        enc1 = self.encoder_level1(embedded)
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        return embedded, enc1, enc2, enc3, self.down3_4(enc3)


class Restormer(RestormerEncoder):
    """The Restormer network; prefer the :func:`restormer` builder, which knows the presets.

    Args:
        in_channels: image channels in (6 for the dual-pixel defocus model).
        out_channels: image channels out.
        dim: base width ``C``; levels 1–4 have ``C, 2C, 4C, 8C`` channels (decoder level 1 and
            refinement: ``2C``).
        num_blocks: transformer blocks per level (level 4 is the latent).
        num_refinement_blocks: full-resolution blocks after decoder level 1.
        heads: attention heads per level.
        ffn_expansion_factor: GDFN hidden-width factor.
        bias: convolution bias inside blocks.
        layer_norm: ``"withbias"`` or ``"biasfree"``.
        dual_pixel: the authors' dual-pixel defocus variant: a 1×1 ``skip_conv`` from the
            embedding replaces the global input residual.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, any ``H, W`` (reflect-padded to a multiple of 8
          internally and cropped back).
        - Output: :math:`(B, C_{out}, H, W)`
    """

    #: Registry name used by :func:`~hairlayers.models.pretrained.load_pretrained` to find
    #: the key remapping when none is given.
    registry_name = "restormer"
    #: Three ×2 downsamples.
    size_multiple = 8
    #: Layout of the decoder (:func:`~hairlayers.functional.batch_inner.use_batch_inner`):
    #: ``"input"`` keeps the input's; ``"batch_inner"`` (or ``"auto"``: for CPU inference on
    #: batches) runs it batch-inner (the whole network 4-7 % faster at B = 4, 128² on CPU). Not the default here,
    #: because in that layout the decoder's static convs run without their module hooks, which
    #: :func:`~hairlayers.hairify` relies on when it traces a Restormer.
    decoder_layout = "input"

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layer_norm: str = "withbias",
        dual_pixel: bool = False,
    ) -> None:
        super().__init__()
        _check_sizes(num_blocks, heads, num_refinement_blocks)
        layer_norm = _check_layer_norm(layer_norm)
        if not dual_pixel and in_channels != out_channels:
            raise HairError(
                "the global input residual needs in_channels == out_channels, got "
                f"{in_channels} and {out_channels} (dual_pixel=True drops the residual)"
            )
        self.in_channels = in_channels
        self.dual_pixel = dual_pixel
        c1, c2, c3, c4 = dim, dim * 2, dim * 4, dim * 8
        args = (ffn_expansion_factor, bias, layer_norm)

        self._build_encoder(in_channels, dim, num_blocks, heads, *args)
        self.latent = _level(c4, num_blocks[3], heads[3], *args)

        self.up4_3 = Upsample(c4)
        self.reduce_chan_level3 = nn.Conv2d(c4, c3, kernel_size=1, bias=bias)
        self.decoder_level3 = _level(c3, num_blocks[2], heads[2], *args)
        self.up3_2 = Upsample(c3)
        self.reduce_chan_level2 = nn.Conv2d(c3, c2, kernel_size=1, bias=bias)
        self.decoder_level2 = _level(c2, num_blocks[1], heads[1], *args)
        self.up2_1 = Upsample(c2)
        # Level 1 keeps the concatenated 2C channels: no reduction conv here.
        self.decoder_level1 = _level(c2, num_blocks[0], heads[0], *args)
        self.refinement = _level(c2, num_refinement_blocks, heads[0], *args)
        if dual_pixel:
            self.skip_conv = nn.Conv2d(c1, c2, kernel_size=1, bias=bias)
        self.output = nn.Conv2d(c2, out_channels, kernel_size=3, padding=1, bias=bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        check_image(image, self.in_channels)
        x, crop = pad_to_multiple(image, self.size_multiple)
        embedded, enc1, enc2, enc3, split = self._encode(x)
        inner = batch_inner.use_batch_inner(split, self.decoder_layout)
        join = decoder_join(inner)
        latent = self.latent(batch_inner.to_batch_inner(split) if inner else split)

        dec3 = _conv(self.reduce_chan_level3, join([self.up4_3(latent), enc3]), None)
        dec3 = self.decoder_level3(dec3)
        dec2 = _conv(self.reduce_chan_level2, join([self.up3_2(dec3), enc2]), None)
        dec2 = self.decoder_level2(dec2)
        dec1 = self.decoder_level1(join([self.up2_1(dec2), enc1]))
        dec1 = self.refinement(dec1)
        if self.dual_pixel:
            skip = self.skip_conv(embedded)
            out = keep_format(_conv(self.output, dec1 + (batch_inner.to_batch_inner(skip) if inner else skip), None), x)
        else:
            out = keep_format(_conv(self.output, dec1, None), x) + x
        return crop(out)


#: Width/depth presets: ``tiny`` for tests and docs (fast on CPU), ``mini`` for the CPU
#: reproduction of Table 6 (the paper's Restormer at one third of the width, half the depth).
RESTORMER_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(dim=48, num_blocks=(4, 6, 6, 8), num_refinement_blocks=4, heads=(1, 2, 4, 8)),
    "mini": dict(dim=16, num_blocks=(2, 3, 3, 4), num_refinement_blocks=2, heads=(1, 2, 4, 8)),
    "tiny": dict(dim=16, num_blocks=(1, 1, 1, 2), num_refinement_blocks=1, heads=(1, 2, 4, 8)),
}


def layer_norm_hint(missing: list[str], unexpected: list[str]) -> str:
    """Explain a checkpoint that differs from the model only in its LayerNorm biases.

    The authors' denoising releases use BiasFree LayerNorm, their other releases WithBias; the
    Restormer family (Restormer, PromptIR, Res-HAIR) registers this as its ``mismatch_hint``.

    Example:
        >>> layer_norm_hint(["encoder_level1.0.norm1.body.bias"], [])
        "the file has no LayerNorm biases: build the model with layer_norm='biasfree'"
    """

    def only_norm_bias(keys: list[str]) -> bool:
        return bool(keys) and all(k.endswith((".norm1.body.bias", ".norm2.body.bias")) for k in keys)

    if only_norm_bias(missing) and not unexpected:
        return "the file has no LayerNorm biases: build the model with layer_norm='biasfree'"
    if only_norm_bias(unexpected) and not missing:
        return "the file has LayerNorm biases: build the model with layer_norm='withbias'"
    return ""


RESTORMER_TABLE6 = {
    "SOTS": (24.09, 0.927),
    "Rain100L": (34.81, 0.962),
    "BSD68 σ25": (31.49, 0.884),
    "GoPro": (27.22, 0.829),
    "LOLv1": (20.41, 0.806),
    "avg": (27.60, 0.881),
}


@register_model(
    paper_params="26.13M (26,126,644; 26,111,668 with BiasFree LayerNorm)",
    table6=RESTORMER_TABLE6,
    table6_params="26M",
    presets=RESTORMER_PRESETS,
    mismatch_hint=layer_norm_hint,
    checkpoint_format=(
        "BasicSR `.pth` holding `{'params': state_dict}`; key names identical to ours. "
        "The denoising releases need `layer_norm='biasfree'`; the dual-pixel defocus release "
        "needs `in_channels=6, dual_pixel=True`."
    ),
    license_note=(
        "architecture: Zamir et al., CVPR 2022; the authors' code and weights are under an "
        "academic non-commercial licence (this implementation is independent)"
    ),
    remap_checkpoint=None,
)
def restormer(
    dim: int | None = None,
    num_blocks: Sequence[int] | None = None,
    num_refinement_blocks: int | None = None,
    heads: Sequence[int] | None = None,
    ffn_expansion_factor: float = 2.66,
    layer_norm: str = "withbias",
    preset: str | None = None,
    **kwargs: Any,
) -> Restormer:
    """Build a Restormer: the paper's settings by default, or a small preset.

    Args:
        dim: base width (paper 48).
        num_blocks: blocks per level, 4 ints (paper ``(4, 6, 6, 8)``).
        num_refinement_blocks: refinement blocks (paper 4).
        heads: attention heads per level (paper ``(1, 2, 4, 8)``).
        ffn_expansion_factor: GDFN width factor (2.66).
        layer_norm: ``"withbias"`` (default) or ``"biasfree"``.
        preset: ``None``/``"paper"`` (26.1M parameters), ``"mini"`` (dim 16, blocks
            ``(2, 3, 3, 4)``, refinement 2; 1.7M — the CPU Table-6 reproduction trains this) or
            ``"tiny"`` (dim 16, blocks ``(1, 1, 1, 2)``, refinement 1; for tests). Explicit
            width/depth arguments override the preset.
        **kwargs: passed to :class:`Restormer` (``in_channels``, ``out_channels``, ``bias``,
            ``dual_pixel``).

    Returns:
        The model, in training mode.

    Example:
        >>> import torch
        >>> net = restormer(preset="tiny")
        >>> net(torch.rand(2, 3, 37, 45)).shape
        torch.Size([2, 3, 37, 45])
    """
    config = preset_config(
        "restormer",
        preset,
        dim=dim,
        num_blocks=num_blocks,
        num_refinement_blocks=num_refinement_blocks,
        heads=heads,
    )
    return Restormer(
        ffn_expansion_factor=ffn_expansion_factor, layer_norm=layer_norm, **config, **kwargs
    )
