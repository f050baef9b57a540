"""TransWeather + HAIR and TransWeather + PromptIR: the TransWeather rows of the paper's Table 6.

**TransWeather + HAIR** (``transweather_hair``) is built with :func:`hairlayers.hairify`:

* *Split*: the output of ``Tdec.patch_embed1.proj``, the 3×3 stride-2 convolution that takes the
  encoder's H/32 map to H/64. It is where the network first reaches its lowest resolution (what
  ``split="mid"`` means in hairify's rules) and the junction of the authors' two halves, the
  encoder ``Tenc`` and the decoder ``Tdec``. The split is named rather than discovered so that it
  cannot move if the discovery rules change.
* *Classifier*: a :class:`~hairlayers.GIVClassifier` on that 512-channel H/64 map, width 96, GIV
  of 128 = 2C (C = 64, the first stage's width, as ``giv_dim = 2C`` in the paper).
* *Hyper*: the weather-query transformer blocks of ``Tdec`` (``kv``, ``proj``, ``fc1``, the
  depthwise ``dwconv`` and ``fc2`` of each block). Their three blocks form one level and share one
  weight box per layer role with N = decoder depth + 1 = 4 experts (Res-HAIR's rule: its levels of
  4, 6, 6, 8 blocks have N = 5, 7, 7, 9), each block with its own selecting net.
* *Static*, and why: ``attn.q`` projects the learned weather queries, which do not depend on the
  image (hairify leaves it static by its dependence rule); the LayerNorms; and the convolutional
  tail ``convtail`` + ``clean`` (9.6M parameters). Converting the tail with even N = 2 experts per
  layer would add at least 9.6M and give ≥ 47M, far from the paper's 42M; the paper's count is
  reached only with the tail static.

At paper settings: 41,890,315 parameters (paper: 42M; −0.26 %) = 37,755,411 (TransWeather)
+ 2,908,160 (the fourth expert of the shared box) + 1,203,584 (classifier) + 23,160 (three
selecting nets).

**TransWeather + PromptIR** (``transweather_promptir``) adds three
:class:`~hairlayers.models.prompt.PromptBlock` s in the decoder half, at the places of PromptIR's
three (after its latent level and decoder levels 3 and 2): after ``Tdec`` (512 channels, H/64),
after ``convtail.dense_4`` (320, H/16) and after ``convtail.dense_3`` (128, H/8), with
PromptIR's prompt widths 320, 128, 64, five prompts each, four heads, and prompt sizes 2, 8, 16
— each feature's size on the paper's 128×128 training patches (PromptIR's rule). At paper settings:
50,842,722 parameters (paper: 51M; −0.31 %).

Both take [0, 1] images of any size and batch, like :class:`~hairlayers.models.transweather.TransWeather`
(which pads to a multiple of 16, at least 64, and crops back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._checks import positive_int
from ..errors import HairError
from ..layers import GIVClassifier
from ..transform import HairModel, hairify
from ._builder import preset_config
from ._registry import register_model
from .prompt import PromptBlock, PromptedModule
from .transweather import TRANSWEATHER_PRESETS, Block, TransWeather

__all__ = [
    "TRANSWEATHER_HAIR_PRESETS",
    "TRANSWEATHER_HAIR_SPLIT",
    "TRANSWEATHER_HAIR_TABLE6",
    "TRANSWEATHER_PROMPTIR_PRESETS",
    "TRANSWEATHER_PROMPTIR_TABLE6",
    "TransWeatherPromptIR",
    "transweather_hair",
    "transweather_promptir",
]

#: Where the classifier reads: the first map at the lowest resolution (H/64), start of ``Tdec``.
TRANSWEATHER_HAIR_SPLIT = "Tdec.patch_embed1.proj"

#: TransWeather's presets plus the classifier width (giv_dim = 2 · embed_dims[0], N = depth + 1).
TRANSWEATHER_HAIR_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(TRANSWEATHER_PRESETS["paper"], classifier_width=96),
    "mini": dict(TRANSWEATHER_PRESETS["mini"], classifier_width=48),
    "tiny": dict(TRANSWEATHER_PRESETS["tiny"], classifier_width=24),
}

#: TransWeather's presets plus the prompts (after ``Tdec``, ``convtail.dense_4``, ``convtail.dense_3``).
#: The small presets scale PromptIR's widths with ``embed_dims[3] / 512`` and size the prompts for
#: 64×64 inputs (the smallest TransWeather runs at; the CPU Table-6 runs pad to it).
TRANSWEATHER_PROMPTIR_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(TRANSWEATHER_PRESETS["paper"], prompt_dims=(320, 128, 64), prompt_sizes=(2, 8, 16)),
    "mini": dict(TRANSWEATHER_PRESETS["mini"], prompt_dims=(120, 48, 24), prompt_sizes=(1, 4, 8)),
    "tiny": dict(TRANSWEATHER_PRESETS["tiny"], prompt_dims=(40, 16, 8), prompt_sizes=(1, 4, 8)),
}

TRANSWEATHER_PROMPTIR_TABLE6 = {
    "SOTS": (22.89, 0.920),
    "Rain100L": (29.79, 0.913),
    "BSD68 σ25": (29.95, 0.877),
    "GoPro": (25.74, 0.781),
    "LOLv1": (23.02, 0.849),
    "avg": (26.28, 0.868),
}

TRANSWEATHER_HAIR_TABLE6 = {
    "SOTS": (23.66, 0.935),
    "Rain100L": (32.34, 0.947),
    "BSD68 σ25": (29.96, 0.875),
    "GoPro": (26.33, 0.802),
    "LOLv1": (23.16, 0.858),
    "avg": (27.09, 0.884),
}

_LICENSE = (
    "architecture: Valanarasu et al., CVPR 2022 (MIT-licensed code) with {what}; "
    "this implementation is independent"
)


# ----------------------------------------------------------------------------- + PromptIR


class TransWeatherPromptIR(TransWeather):
    """TransWeather with three prompt blocks in its decoder half; prefer :func:`transweather_promptir`.

    The blocks wrap ``Tdec``, ``convtail.dense_4`` and ``convtail.dense_3`` as
    :class:`~hairlayers.models.prompt.PromptedModule` s (the original module is ``.base``, the
    prompt block ``.prompt``); everything else is :class:`~hairlayers.models.transweather.TransWeather`.

    Args:
        prompt_dims: prompt channels after ``Tdec``, ``dense_4``, ``dense_3`` (paper ``(320, 128, 64)``).
        prompt_sizes: their spatial sizes (paper ``(2, 8, 16)``).
        prompt_len: learned prompts per block (5).
        prompt_heads: heads of the fusing transformer blocks (4, as PromptIR's).
        **kwargs: :class:`~hairlayers.models.transweather.TransWeather`'s arguments.

    Shape:
        - input: ``(B, C, H, W)``, any ``H, W``, values in [0, 1]; output the same shape.
    """

    registry_name = "transweather_promptir"

    def __init__(
        self,
        prompt_dims: Sequence[int] = (320, 128, 64),
        prompt_sizes: Sequence[int] = (2, 8, 16),
        prompt_len: int = 5,
        prompt_heads: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        prompt_dims, prompt_sizes = tuple(prompt_dims), tuple(prompt_sizes)
        for name, seq in (("prompt_dims", prompt_dims), ("prompt_sizes", prompt_sizes)):
            if len(seq) != 3:
                raise HairError(f"{name} needs 3 entries (after Tdec, dense_4, dense_3), got {seq!r}")
            for value in seq:
                positive_int(name, value)
        positive_int("prompt_len", prompt_len)
        positive_int("prompt_heads", prompt_heads)
        channels = (
            self.Tdec.patch_embed1.proj.out_channels,
            self.convtail.dense_4[0].conv1.conv2d.in_channels,
            self.convtail.dense_3[0].conv1.conv2d.in_channels,
        )

        def block(i: int) -> PromptBlock:
            return PromptBlock(
                channels[i], prompt_dims[i], prompt_len, prompt_sizes[i], num_heads=prompt_heads
            )

        self.Tdec = PromptedModule(self.Tdec, block(0))  # type: ignore[assignment]
        self.convtail.dense_4 = PromptedModule(self.convtail.dense_4, block(1))  # type: ignore[assignment]
        self.convtail.dense_3 = PromptedModule(self.convtail.dense_3, block(2))  # type: ignore[assignment]


@register_model(
    paper_params="51M (paper); 50,842,722 here (prompt widths 320/128/64, sizes 2/8/16)",
    table6=TRANSWEATHER_PROMPTIR_TABLE6,
    table6_params="51M",
    presets=TRANSWEATHER_PROMPTIR_PRESETS,
    checkpoint_format="none released (the paper retrains TransWeather+PromptIR for Table 6)",
    license_note=_LICENSE.format(what="PromptIR's prompt blocks (Potlapalli et al., NeurIPS 2023)"),
    remap_checkpoint=None,
)
def transweather_promptir(
    embed_dims: Sequence[int] | None = None,
    depths: Sequence[int] | None = None,
    num_heads: Sequence[int] | None = None,
    decoder_depth: int | None = None,
    decoder_heads: int | None = None,
    num_queries: int | None = None,
    prompt_dims: Sequence[int] | None = None,
    prompt_sizes: Sequence[int] | None = None,
    preset: str | None = None,
    **kwargs: Any,
) -> TransWeatherPromptIR:
    """Build TransWeather + PromptIR: paper settings by default, or a small preset.

    Args:
        embed_dims, depths, num_heads, decoder_depth, decoder_heads, num_queries: as for
            :func:`~hairlayers.models.transweather.transweather`.
        prompt_dims: prompt channels after ``Tdec``, ``dense_4``, ``dense_3``.
        prompt_sizes: prompt sizes there.
        preset: ``None``/``"paper"`` (50,842,722 parameters), ``"mini"`` or ``"tiny"``
            (TransWeather's presets; prompt widths ``(120, 48, 24)`` / ``(40, 16, 8)``, sizes
            ``(1, 4, 8)``). Explicit arguments override the preset.
        **kwargs: passed to :class:`TransWeatherPromptIR` (``prompt_len``, ``prompt_heads``) and
            :class:`~hairlayers.models.transweather.TransWeather`.

    Returns:
        The model, in training mode.

    Example:
        >>> import torch
        >>> net = transweather_promptir(preset="tiny").eval()
        >>> net(torch.rand(2, 3, 37, 45)).shape
        torch.Size([2, 3, 37, 45])
    """
    config = preset_config(
        "transweather_promptir",
        preset,
        embed_dims=embed_dims,
        depths=depths,
        num_heads=num_heads,
        decoder_depth=decoder_depth,
        decoder_heads=decoder_heads,
        num_queries=num_queries,
        prompt_dims=prompt_dims,
        prompt_sizes=prompt_sizes,
    )
    return TransWeatherPromptIR(**config, **kwargs)


# ----------------------------------------------------------------------------- + HAIR


@register_model(
    paper_params="42M (paper); 41,890,315 here (N = 4 shared by the 3 decoder blocks, classifier width 96)",
    table6=TRANSWEATHER_HAIR_TABLE6,
    table6_params="42M",
    presets=TRANSWEATHER_HAIR_PRESETS,
    checkpoint_format="none released (the paper trains TransWeather+HAIR for Table 6)",
    license_note=_LICENSE.format(what="HAIR (Cao et al.)"),
    remap_checkpoint=None,
)
def transweather_hair(
    embed_dims: Sequence[int] | None = None,
    depths: Sequence[int] | None = None,
    num_heads: Sequence[int] | None = None,
    decoder_depth: int | None = None,
    decoder_heads: int | None = None,
    num_queries: int | None = None,
    num_kernels: int | None = None,
    giv_dim: int | None = None,
    classifier_width: int | None = None,
    preset: str | None = None,
    hsn_hidden: Sequence[int] = (48, 24, 12),
    **kwargs: Any,
) -> HairModel:
    """Build TransWeather + HAIR with :func:`hairlayers.hairify` (see the module docs for the plan).

    Building runs the network twice on a 64×64 random image (hairify's discovery), so it takes
    seconds at paper size; the meta device cannot run it (counting on the meta device raises
    ``NotImplementedError``, and the zoo's counter then builds on the CPU).

    Args:
        embed_dims, depths, num_heads, decoder_depth, decoder_heads, num_queries: as for
            :func:`~hairlayers.models.transweather.transweather`.
        num_kernels: N of the decoder blocks' shared weight box (default ``decoder_depth + 1``).
        giv_dim: GIV width (default ``2 · embed_dims[0]``: 128).
        classifier_width: channels inside the :class:`~hairlayers.GIVClassifier` (paper 96).
        preset: ``None``/``"paper"`` (41,890,315 parameters), ``"mini"`` or ``"tiny"``
            (TransWeather's presets, classifier width 48 / 24). Explicit arguments override it.
        hsn_hidden: hidden widths of each block's selecting net.
        **kwargs: passed to :class:`~hairlayers.models.transweather.TransWeather`
            (``sr_ratios``, ``mlp_ratio``, ``decoder_mlp_ratio``, ``tail_dims``,
            ``drop_path_rate``, ``in_channels``).

    Returns:
        A :class:`~hairlayers.HairModel` wrapping the TransWeather (``.model``), in training
        mode: ``hair(x)`` restores, ``hair.giv(x)`` gives the ``(B, giv_dim)`` GIV,
        ``hair.using_giv(v)`` runs with a given GIV, ``hair.summary()`` shows the plan.

    Example:
        >>> import torch
        >>> net = transweather_hair(preset="tiny").eval()
        >>> x = torch.rand(2, 3, 37, 45)
        >>> net(x).shape, net.giv(x).shape
        (torch.Size([2, 3, 37, 45]), torch.Size([2, 32]))
    """
    if torch.get_default_device().type == "meta":
        raise NotImplementedError(
            "transweather_hair cannot be built on the meta device: hairify runs the network to "
            "find the split and what depends on it"
        )
    config = preset_config(
        "transweather_hair",
        preset,
        embed_dims=embed_dims,
        depths=depths,
        num_heads=num_heads,
        decoder_depth=decoder_depth,
        decoder_heads=decoder_heads,
        num_queries=num_queries,
        classifier_width=classifier_width,
    )
    width = config.pop("classifier_width")
    base = TransWeather(**config, **kwargs)
    dims = tuple(config["embed_dims"])
    giv_dim = 2 * dims[0] if giv_dim is None else giv_dim
    num_kernels = config["decoder_depth"] + 1 if num_kernels is None else num_kernels
    for name, value in (("giv_dim", giv_dim), ("num_kernels", num_kernels), ("classifier_width", width)):
        positive_int(name, value)
    param = next(base.parameters())
    classifier = GIVClassifier(dims[3], giv_dim, width=width).to(param.device, param.dtype)
    example = torch.rand(1, base.in_channels, base.min_size, base.min_size, device=param.device, dtype=param.dtype)

    # The decoder blocks differ only in their stochastic-depth rate, which hairify's block
    # comparison ignores (it has no bearing on the weights): they share one box.
    hair = hairify(
        base,
        split=TRANSWEATHER_HAIR_SPLIT,
        example_input=example,
        num_kernels=num_kernels,
        giv_dim=giv_dim,
        classifier=classifier,
        include="Tdec.block1",
        block_types=(Block,),
        share_boxes=True,
        init="fresh",
        inplace=True,
        hsn_hidden=hsn_hidden,
    )
    hair.registry_name = "transweather_hair"  # lets load_pretrained find this entry
    return hair

