"""PromptIR (Potlapalli et al., NeurIPS 2023): Restormer with prompt blocks in the decoder.

The encoder is Restormer's. Three :class:`~hairlayers.models.prompt.PromptBlock` s sit in the
decoder: after the latent level (prompt dim 320, size 16; its 1×1 reduce also halves the latent
width, 8C → 4C, so the first upsample starts from 4C), after decoder level 3 (128, 32) and after
decoder level 2 (64, 64); five prompts each, fused by a transformer block with level-3 heads.

The authors' code also defines six 1×1 convolutions that its forward pass never uses
(``chnl_reduce1-3``, ``reduce_noise_channel_1-3``, 215,296 parameters); their count is in the
paper's 35.59M. This model leaves them out (35,376,967 parameters at paper settings) and the
checkpoint remapping :func:`remap_promptir_checkpoint` drops exactly those keys by name.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ..errors import HairError
from ._builder import check_image, preset_config
from ._registry import register_model
from .padding import pad_to_multiple
from .prompt import PromptBlock
from .restormer import (
    RESTORMER_PRESETS,
    RestormerEncoder,
    Upsample,
    _check_layer_norm,
    _check_sizes,
    _level,
    layer_norm_hint,
)

__all__ = [
    "PromptIR",
    "promptir",
    "PROMPTIR_PRESETS",
    "PROMPTIR_UNUSED_KEYS",
    "remap_promptir_checkpoint",
]


class PromptIR(RestormerEncoder):
    """The PromptIR network; prefer the :func:`promptir` builder, which knows the presets.

    Args:
        in_channels: image channels (in and out; the output adds the input).
        dim: base width ``C`` (levels: ``C, 2C, 4C, 8C``).
        num_blocks: transformer blocks per level.
        num_refinement_blocks: full-resolution blocks after decoder level 1.
        heads: attention heads per level.
        ffn_expansion_factor: GDFN hidden-width factor.
        bias: convolution bias inside blocks.
        layer_norm: ``"withbias"`` or ``"biasfree"``.
        prompt_dims: prompt channels of the blocks after latent, decoder 3, decoder 2.
        prompt_sizes: prompt spatial sizes, same order.
        prompt_len: prompts per block.
        prompt_heads: heads of the prompt-fusing transformer blocks (default ``heads[2]``).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`, any ``H, W`` (padded to a multiple of 8 internally).
        - Output: :math:`(B, C_{in}, H, W)`
    """

    registry_name = "promptir"
    size_multiple = 8

    def __init__(
        self,
        in_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layer_norm: str = "withbias",
        prompt_dims: Sequence[int] = (320, 128, 64),
        prompt_sizes: Sequence[int] = (16, 32, 64),
        prompt_len: int = 5,
        prompt_heads: int | None = None,
    ) -> None:
        super().__init__()
        _check_sizes(num_blocks, heads, num_refinement_blocks)
        layer_norm = _check_layer_norm(layer_norm)
        if len(prompt_dims) != 3 or len(prompt_sizes) != 3:
            raise HairError(
                "prompt_dims and prompt_sizes need 3 entries (after latent, decoder 3, decoder 2), "
                f"got {tuple(prompt_dims)} and {tuple(prompt_sizes)}"
            )
        self.in_channels = in_channels
        c2, c3, c4 = dim * 2, dim * 4, dim * 8  # level widths (level 1 lives in the shared encoder)
        args = (ffn_expansion_factor, bias, layer_norm)
        prompt_args = dict(
            prompt_len=prompt_len,
            num_heads=heads[2] if prompt_heads is None else prompt_heads,
            ffn_expansion_factor=ffn_expansion_factor,
            bias=bias,
            layer_norm=layer_norm,
        )

        self._build_encoder(in_channels, dim, num_blocks, heads, *args)
        self.latent = _level(c4, num_blocks[3], heads[3], *args)
        self.prompt_latent = PromptBlock(
            c4, prompt_dims[0], prompt_size=prompt_sizes[0], out_channels=c3, **prompt_args
        )

        self.up4_3 = Upsample(c3)  # 4C -> 2C channels at level 3, then concat with enc3 (4C)
        self.reduce_chan_level3 = nn.Conv2d(c2 + c3, c3, kernel_size=1, bias=bias)
        self.decoder_level3 = _level(c3, num_blocks[2], heads[2], *args)
        self.prompt_dec3 = PromptBlock(c3, prompt_dims[1], prompt_size=prompt_sizes[1], **prompt_args)
        self.up3_2 = Upsample(c3)
        self.reduce_chan_level2 = nn.Conv2d(c3, c2, kernel_size=1, bias=bias)
        self.decoder_level2 = _level(c2, num_blocks[1], heads[1], *args)
        self.prompt_dec2 = PromptBlock(c2, prompt_dims[2], prompt_size=prompt_sizes[2], **prompt_args)
        self.up2_1 = Upsample(c2)
        self.decoder_level1 = _level(c2, num_blocks[0], heads[0], *args)
        self.refinement = _level(c2, num_refinement_blocks, heads[0], *args)
        self.output = nn.Conv2d(c2, in_channels, kernel_size=3, padding=1, bias=bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        check_image(image, self.in_channels)
        x, crop = pad_to_multiple(image, self.size_multiple)
        _, enc1, enc2, enc3, split = self._encode(x)
        latent = self.prompt_latent(self.latent(split))

        dec3 = self.reduce_chan_level3(torch.cat([self.up4_3(latent), enc3], 1))
        dec3 = self.prompt_dec3(self.decoder_level3(dec3))
        dec2 = self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], 1))
        dec2 = self.prompt_dec2(self.decoder_level2(dec2))
        dec1 = self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], 1))
        return crop(self.output(self.refinement(dec1)) + x)


# The authors' names of the three prompt blocks' parts, mapped onto ours. Their `prompt3` /
# `noise_level3` / `reduce_noise_level3` act after the latent level, `*2` after decoder level 3,
# `*1` after decoder level 2.
_PROMPT_BLOCK_NAMES = {"3": "prompt_latent", "2": "prompt_dec3", "1": "prompt_dec2"}
_PROMPT_PART_NAMES = {
    "prompt{i}.prompt_param": "{block}.gen.prompts",
    "prompt{i}.linear_layer.": "{block}.gen.linear.",
    "prompt{i}.conv3x3.": "{block}.gen.conv.",
    "noise_level{i}.": "{block}.fuse.",
    "reduce_noise_level{i}.": "{block}.reduce.",
}

#: Layers the authors' PromptIR defines but never calls (in the paper's 35,592,263 count).
PROMPTIR_UNUSED_KEYS = (
    "chnl_reduce1.weight",
    "chnl_reduce2.weight",
    "chnl_reduce3.weight",
    "reduce_noise_channel_1.weight",
    "reduce_noise_channel_2.weight",
    "reduce_noise_channel_3.weight",
)


def remap_promptir_checkpoint(state_dict: dict[str, Any], model: Any = None) -> dict[str, Any]:
    """Map the authors' PromptIR state_dict (``net.`` prefix already stripped) onto ours.

    Renames the prompt blocks' parameters, drops the unused layers listed in
    :data:`PROMPTIR_UNUSED_KEYS` (and their biases, had they any), reshapes the authors'
    ``(1, L, D, S, S)`` prompt tensors to ``(L, D, S, S)``. Every other key passes unchanged,
    so a hairlayers state_dict maps to itself.

    Example:
        >>> import torch
        >>> sd = {"prompt3.prompt_param": torch.zeros(1, 5, 8, 4, 4),
        ...       "noise_level1.attn.temperature": torch.ones(4, 1, 1),
        ...       "chnl_reduce1.weight": torch.zeros(64, 64, 1, 1)}
        >>> {k: tuple(v.shape) for k, v in remap_promptir_checkpoint(sd).items()}
        {'prompt_latent.gen.prompts': (5, 8, 4, 4), 'prompt_dec2.fuse.attn.temperature': (4, 1, 1)}
    """
    unused = set(PROMPTIR_UNUSED_KEYS) | {k[: -len("weight")] + "bias" for k in PROMPTIR_UNUSED_KEYS}
    renames = [
        (theirs.format(i=i), ours.format(block=block))
        for i, block in _PROMPT_BLOCK_NAMES.items()
        for theirs, ours in _PROMPT_PART_NAMES.items()
    ]
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        if key in unused:
            continue
        new_key = key
        for theirs, ours in renames:
            if key == theirs or (theirs.endswith(".") and key.startswith(theirs)):
                new_key = ours + key[len(theirs):]
                break
        if new_key.endswith(".gen.prompts") and value.dim() == 5:
            if value.shape[0] != 1:
                raise HairError(
                    f"{key}: expected the authors' (1, L, D, S, S) prompts, got {tuple(value.shape)}"
                )
            value = value[0]
        out[new_key] = value
    return out


#: Width/depth presets, as for Restormer, plus prompt dims/sizes (after latent, dec 3, dec 2).
#: ``mini`` uses a third of the paper's prompt dims (rounded to a multiple of 4) and sizes for
#: 64×64 training patches; ``tiny`` is for tests.
PROMPTIR_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(RESTORMER_PRESETS["paper"], prompt_dims=(320, 128, 64), prompt_sizes=(16, 32, 64)),
    "mini": dict(RESTORMER_PRESETS["mini"], prompt_dims=(108, 44, 20), prompt_sizes=(8, 16, 32)),
    "tiny": dict(RESTORMER_PRESETS["tiny"], prompt_dims=(32, 16, 8), prompt_sizes=(4, 8, 16)),
}


@register_model(
    paper_params=(
        "35.59M (35,592,263 in the authors' code, including 215,296 parameters of six unused "
        "1×1 convs; 35,376,967 here)"
    ),
    table6={
        "SOTS": (30.61, 0.974),
        "Rain100L": (36.17, 0.973),
        "BSD68 σ25": (31.25, 0.887),
        "GoPro": (27.93, 0.851),
        "LOLv1": (22.89, 0.842),
        "avg": (29.77, 0.905),
    },
    table6_params="36M",
    presets=PROMPTIR_PRESETS,
    mismatch_hint=layer_norm_hint,
    checkpoint_format=(
        "PyTorch Lightning `.ckpt`: `{'state_dict': ...}` with keys prefixed `net.`; prompt-block "
        "keys renamed and the six unused convs dropped by `remap_promptir_checkpoint`."
    ),
    license_note=(
        "architecture: Potlapalli et al., NeurIPS 2023; the authors' code and weights are under "
        "an academic non-commercial licence (this implementation is independent)"
    ),
    remap_checkpoint=remap_promptir_checkpoint,
)
def promptir(
    dim: int | None = None,
    num_blocks: Sequence[int] | None = None,
    num_refinement_blocks: int | None = None,
    heads: Sequence[int] | None = None,
    prompt_dims: Sequence[int] | None = None,
    prompt_sizes: Sequence[int] | None = None,
    prompt_len: int = 5,
    ffn_expansion_factor: float = 2.66,
    layer_norm: str = "withbias",
    preset: str | None = None,
    **kwargs: Any,
) -> PromptIR:
    """Build a PromptIR: the paper's settings by default, or a small preset.

    Args:
        dim: base width (paper 48).
        num_blocks: blocks per level (paper ``(4, 6, 6, 8)``).
        num_refinement_blocks: refinement blocks (paper 4).
        heads: heads per level (paper ``(1, 2, 4, 8)``).
        prompt_dims: prompt channels after latent / decoder 3 / decoder 2 (paper
            ``(320, 128, 64)``).
        prompt_sizes: prompt sizes, same order (paper ``(16, 32, 64)``).
        prompt_len: prompts per block (5).
        ffn_expansion_factor: GDFN width factor (2.66).
        layer_norm: ``"withbias"`` (default) or ``"biasfree"``.
        preset: ``None``/``"paper"`` (35.38M parameters), ``"mini"`` (Restormer-mini plus
            prompts, 2.7M) or ``"tiny"`` (tests). Explicit arguments override the preset.
        **kwargs: passed to :class:`PromptIR` (``in_channels``, ``bias``, ``prompt_heads``).

    Returns:
        The model, in training mode.

    Example:
        >>> import torch
        >>> net = promptir(preset="tiny")
        >>> net(torch.rand(2, 3, 37, 45)).shape
        torch.Size([2, 3, 37, 45])
    """
    config = preset_config(
        "promptir",
        preset,
        dim=dim,
        num_blocks=num_blocks,
        num_refinement_blocks=num_refinement_blocks,
        heads=heads,
        prompt_dims=prompt_dims,
        prompt_sizes=prompt_sizes,
    )
    return PromptIR(
        prompt_len=prompt_len,
        ffn_expansion_factor=ffn_expansion_factor,
        layer_norm=layer_norm,
        **config,
        **kwargs,
    )
