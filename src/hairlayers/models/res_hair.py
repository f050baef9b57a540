"""Res-HAIR: Restormer whose latent and decoder levels are HyperTrans levels (paper §3.2).

Built by hand rather than with :func:`hairlayers.hairify` because the model must match the
authors' release exactly: one weight box per level shared by its blocks (``hairify`` shares per
resolution, and the release keeps separate boxes for decoder level 1 and the refinement blocks at
the same resolution), only the six block convolutions generated, and a parameter layout that loads
their checkpoint. The conversion of each convolution is still hairify's (``to_hyper``).

Two variants:

* ``"paper"`` (default): the paper's description — Restormer's decoder, HyperTrans blocks in the
  latent level and decoder levels 3–1 with ``N = [5, 7, 7, 9]`` (level 1 → 4), static refinement,
  a :class:`~hairlayers.GIVClassifier` on the level-4 input. 29,438,886 parameters (paper: 29M).
* ``"official"``: the authors' released code — PromptIR's decoder (the latent output is reduced
  8C → 4C by a 3×3 convolution; level 3 reduces 2C + 4C → 4C), ``N`` = 9 (latent), 6 (decoder 3),
  7 (decoder 2), 5 (decoder 1) and hyper refinement blocks with ``N = 5``, their classifier
  (:class:`HairResNetClassifier`). Exactly 28,559,846 parameters; loads their Lightning ``.ckpt``
  through :func:`remap_res_hair_checkpoint`.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ..errors import HairError
from ..functional import batch_inner
from ..functional.torch_backend import keep_format
from ..giv import GIVInput
from ..layers import GIVClassifier, HyperSelectingNet, WeightBox
from ..transform.convert import set_module, to_hyper
from ._builder import check_image, preset_config
from ._registry import register_model
from .hair_classifier import HairResNetClassifier
from .padding import pad_to_multiple
from .restormer import (
    RestormerEncoder,
    Upsample,
    _check_layer_norm,
    _conv,
    _level,
    decoder_join,
    layer_norm_hint,
)

__all__ = ["HyperLevel", "ResHAIR", "res_hair", "remap_res_hair_checkpoint", "BLOCK_CONVS"]

#: The six generated convolutions of a Restormer block, in the order of the release's flat box.
BLOCK_CONVS = ("attn.qkv", "attn.qkv_dwconv", "attn.project_out", "ffn.project_in", "ffn.dwconv", "ffn.project_out")


class HyperLevel(nn.Module):
    """The blocks of one level as HyperTrans blocks: one shared box, one selecting net per block.

    Args:
        dim, depth, heads, ffn_expansion_factor, bias, layer_norm: as for Restormer's level.
        num_kernels: N of the level's weight box.
        giv_dim: GIV width.
        hsn_hidden: hidden widths of each block's selecting net.
        expert_init: how the box's experts start (:func:`~hairlayers.transform.convert.to_hyper`'s
            ``init``): ``"fresh"`` (N independent default inits, the release's), ``"copy"`` or
            ``"copy+noise"`` (N copies of one default init, plus ``expert_noise`` relative noise).
        expert_noise: relative noise of ``"copy+noise"``.

    Shape:
        - Input: ``x`` ``(B, dim, H, W)`` and ``giv`` ``(B, giv_dim)``; output like ``x``.

    Example:
        >>> import torch
        >>> level = HyperLevel(16, depth=2, heads=2, num_kernels=3, giv_dim=8)
        >>> level(torch.randn(2, 16, 8, 8), torch.randn(2, 8)).shape
        torch.Size([2, 16, 8, 8])
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layer_norm: str = "withbias",
        *,
        num_kernels: int,
        giv_dim: int,
        hsn_hidden: Sequence[int] = (48, 24, 12),
        expert_init: str = "fresh",
        expert_noise: float = 0.01,
    ) -> None:
        super().__init__()
        self.box = WeightBox(num_kernels)
        self.blocks = _level(dim, depth, heads, ffn_expansion_factor, bias, layer_norm)
        for block in self.blocks:
            for role in BLOCK_CONVS:
                hyper = to_hyper(block.get_submodule(role), num_kernels, init=expert_init, noise=expert_noise)
                set_module(block, role, self.box.share(role, hyper))
        self.selectors = nn.ModuleList(HyperSelectingNet(giv_dim, num_kernels, hsn_hidden) for _ in range(depth))

    def forward(self, x: torch.Tensor, giv: torch.Tensor) -> torch.Tensor:
        for block, selector in zip(self.blocks, self.selectors):
            x = block(x, select=selector(giv))
        return x


class ResHAIR(GIVInput, RestormerEncoder):
    """Res-HAIR; prefer the :func:`res_hair` builder, which knows the variants and presets.

    Args:
        in_channels: image channels (in and out; global input residual).
        dim: base width ``C`` (levels ``C, 2C, 4C, 8C``; decoder level 1 and refinement ``2C``).
        num_blocks: blocks per level 1–4.
        num_refinement_blocks: full-resolution blocks after decoder level 1.
        heads: attention heads per level.
        ffn_expansion_factor, bias, layer_norm: as in Restormer.
        num_kernels: N of the hyper levels, ordered decoder level 1, 2, 3, latent.
        refinement_kernels: N of hyper refinement blocks, or ``None`` for static ones.
        reduce_latent: PromptIR's decoder: a 3×3 conv reduces the latent output 8C → 4C.
        giv_dim: GIV width (``2C``).
        classifier: ``"giv"`` (:class:`~hairlayers.GIVClassifier`) or ``"resnet"``
            (:class:`HairResNetClassifier`, the release's), or any module mapping the level-4 input
            ``(B, 8C, H/8, W/8)`` to ``(B, giv_dim)``.
        classifier_width: channels inside the built-in classifiers.
        hsn_hidden: hidden widths of every selecting net.
        expert_init, expert_noise: how each level's experts start (see :class:`HyperLevel`).

    Shape:
        - Input: ``(B, C_in, H, W)``, any ``H, W`` (reflect-padded to a multiple of 8 inside).
        - Output: same shape. ``forward(x, giv=v)`` uses a given GIV instead of computing one.
    """

    size_multiple = 8
    registry_name = "res_hair"
    #: Layout of the decoder (:func:`~hairlayers.functional.batch_inner.use_batch_inner`). With
    #: ``"auto"``, CPU inference on a batch runs it batch-inner, where every per-sample conv is
    #: one static channels_last conv (measured 1.08× the same static decoder, 0.94× Restormer's
    #: channels_last decoder, against 1.15× in channels_last: B = 4, 128², docs/performance.md);
    #: ``"input"`` keeps the input's layout, ``"batch_inner"`` forces it for any batch of two or more.
    decoder_layout = "auto"

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
        num_kernels: Sequence[int] = (5, 7, 7, 9),
        refinement_kernels: int | None = None,
        reduce_latent: bool = False,
        giv_dim: int | None = None,
        classifier: str | nn.Module = "giv",
        classifier_width: int = 72,
        hsn_hidden: Sequence[int] = (48, 24, 12),
        expert_init: str = "fresh",
        expert_noise: float = 0.01,
    ) -> None:
        super().__init__()
        if len(num_kernels) != 4:
            raise HairError(f"num_kernels must give N for decoder levels 1-3 and the latent (4 ints), got {num_kernels!r}")
        layer_norm = _check_layer_norm(layer_norm)
        self.in_channels, self.giv_dim = in_channels, giv_dim or 2 * dim
        c2, c3, c4 = 2 * dim, 4 * dim, 8 * dim  # level widths (level 1 lives in the shared encoder)
        common = dict(ffn_expansion_factor=ffn_expansion_factor, bias=bias, layer_norm=layer_norm)
        hyper = dict(giv_dim=self.giv_dim, hsn_hidden=hsn_hidden, expert_init=expert_init,
                     expert_noise=expert_noise, **common)
        static = (ffn_expansion_factor, bias, layer_norm)

        self._build_encoder(in_channels, dim, num_blocks, heads, *static)
        if isinstance(classifier, nn.Module):
            self.classifier = classifier
        elif classifier == "giv":
            self.classifier = GIVClassifier(c4, self.giv_dim, width=classifier_width)
        elif classifier == "resnet":
            self.classifier = HairResNetClassifier(c4, self.giv_dim, width=classifier_width)
        else:
            raise HairError(f"classifier must be 'giv', 'resnet' or an nn.Module, got {classifier!r}")

        self.latent = HyperLevel(c4, num_blocks[3], heads[3], num_kernels=num_kernels[3], **hyper)
        self.reduce_latent = nn.Conv2d(c4, c3, 3, padding=1) if reduce_latent else None
        latent_out = c3 if reduce_latent else c4
        self.up4_3 = Upsample(latent_out)
        self.reduce_chan_level3 = nn.Conv2d(latent_out // 2 + c3, c3, kernel_size=1, bias=bias)
        self.decoder_level3 = HyperLevel(c3, num_blocks[2], heads[2], num_kernels=num_kernels[2], **hyper)
        self.up3_2 = Upsample(c3)
        self.reduce_chan_level2 = nn.Conv2d(c3, c2, kernel_size=1, bias=bias)
        self.decoder_level2 = HyperLevel(c2, num_blocks[1], heads[1], num_kernels=num_kernels[1], **hyper)
        self.up2_1 = Upsample(c2)
        self.decoder_level1 = HyperLevel(c2, num_blocks[0], heads[0], num_kernels=num_kernels[0], **hyper)
        if refinement_kernels is None:
            self.refinement: nn.Module = _level(c2, num_refinement_blocks, heads[0], *static)
        else:
            self.refinement = HyperLevel(c2, num_refinement_blocks, heads[0], num_kernels=refinement_kernels, **hyper)
        self.output = nn.Conv2d(c2, in_channels, kernel_size=3, padding=1, bias=bias)

    def giv(self, image: torch.Tensor) -> torch.Tensor:
        """The GIV ``(B, giv_dim)`` of a batch: runs the encoder and the classifier only."""
        check_image(image, self.in_channels)
        x, _ = pad_to_multiple(image, self.size_multiple)
        return self.classifier(self._encode(x)[4])

    def forward(self, image: torch.Tensor, giv: torch.Tensor | None = None) -> torch.Tensor:
        check_image(image, self.in_channels)
        x, crop = pad_to_multiple(image, self.size_multiple)
        _, enc1, enc2, enc3, split = self._encode(x)
        giv = self.resolve_giv(giv, x.shape[0])
        if giv is None:
            giv = self.classifier(split)
        inner = batch_inner.use_batch_inner(split, self.decoder_layout)
        join = decoder_join(inner)
        latent = self.latent(batch_inner.to_batch_inner(split) if inner else split, giv)
        if self.reduce_latent is not None:
            latent = _conv(self.reduce_latent, latent, None)
        dec3 = self.decoder_level3(_conv(self.reduce_chan_level3, join([self.up4_3(latent), enc3]), None), giv)
        dec2 = self.decoder_level2(_conv(self.reduce_chan_level2, join([self.up3_2(dec3), enc2]), None), giv)
        dec1 = self.decoder_level1(join([self.up2_1(dec2), enc1]), giv)
        dec1 = self.refinement(dec1, giv) if isinstance(self.refinement, HyperLevel) else self.refinement(dec1)
        return crop(keep_format(_conv(self.output, dec1, None), x) + x)


VARIANTS: dict[str, dict[str, Any]] = {
    "paper": dict(num_kernels=(5, 7, 7, 9), refinement_kernels=None, reduce_latent=False, classifier="giv"),
    "official": dict(num_kernels=(5, 7, 6, 9), refinement_kernels=5, reduce_latent=True, classifier="resnet"),
}
PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(dim=48, num_blocks=(4, 6, 6, 8), num_refinement_blocks=4, heads=(1, 2, 4, 8), classifier_width=72),
    "mini": dict(dim=16, num_blocks=(2, 3, 3, 4), num_refinement_blocks=2, heads=(1, 2, 4, 8), classifier_width=48),
    "tiny": dict(dim=16, num_blocks=(1, 1, 1, 2), num_refinement_blocks=1, heads=(1, 2, 4, 8), classifier_width=48),
}


def remap_res_hair_checkpoint(state_dict: dict[str, torch.Tensor], model: ResHAIR | None = None) -> dict[str, torch.Tensor]:
    """Map the release's parameter names and flat weight boxes to this model's layout.

    The one table of differences:

    * ``feature.*`` (the classifier) → ``classifier.*`` (same inner names);
    * ``<level>.extracts.<i>.net.<j>`` (selecting nets) → ``<level>.selectors.<i>.fcnn.<j>``;
    * ``<level>.kernel_box`` ``(N, P)``: the six convolutions of a block flattened in
      :data:`BLOCK_CONVS` order → the level's box (``WeightBox.weight_name(role)``) and, because every block's layer
      holds the same parameter, ``<level>.blocks.<i>.<role>.weight_box``.

    The split needs the shapes of the six convolutions, read from ``model`` (the level's box).
    """
    if model is None:
        raise HairError("remap_res_hair_checkpoint needs the target model to split the flat weight boxes")
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("feature."):
            out["classifier." + key[len("feature."):]] = value
        elif ".extracts." in key:
            out[key.replace(".extracts.", ".selectors.").replace(".net.", ".fcnn.")] = value
        elif key.endswith(".kernel_box"):
            level_name = key[: -len(".kernel_box")]
            level = model.get_submodule(level_name)
            offset = 0
            for role in BLOCK_CONVS:
                shape = level.box.weight(role).shape
                size = int(torch.Size(shape[1:]).numel())
                if value.shape[0] != shape[0] or offset + size > value.shape[1]:
                    raise HairError(
                        f"{key} has shape {tuple(value.shape)}, which does not hold role {role!r} of "
                        f"shape {tuple(shape)} at offset {offset}: wrong variant or width?"
                    )
                piece = value[:, offset : offset + size].reshape(shape)
                offset += size
                out[f"{level_name}.box.{level.box.weight_name(role)}"] = piece
                for i in range(len(level.blocks)):
                    out[f"{level_name}.blocks.{i}.{role}.weight_box"] = piece
            if offset != value.shape[1]:
                raise HairError(f"{key} has {value.shape[1]} columns but the six convolutions need {offset}")
        else:
            out[key] = value
    return out


@register_model(
    paper_params="29M (paper); variant='official': 28,559,846",
    table6={
        "SOTS": (30.62, 0.978), "Rain100L": (38.11, 0.981), "BSD68 σ25": (31.49, 0.891),
        "GoPro": (28.52, 0.874), "LOLv1": (23.12, 0.847), "avg": (30.37, 0.914),
    },
    table6_params="29M",
    presets=PRESETS,
    mismatch_hint=layer_norm_hint,
    checkpoint_format="Lightning `.ckpt` (`state_dict`, keys prefixed `net.`) of variant='official'",
    license_note="method: Cao et al. (HAIR); the authors' release has no licence (this implementation is independent)",
    remap_checkpoint=remap_res_hair_checkpoint,
)
def res_hair(
    variant: str = "paper",
    preset: str | None = None,
    dim: int | None = None,
    num_blocks: Sequence[int] | None = None,
    num_refinement_blocks: int | None = None,
    heads: Sequence[int] | None = None,
    **kwargs: Any,
) -> ResHAIR:
    """Build Res-HAIR.

    Args:
        variant: ``"paper"`` (the paper's description) or ``"official"`` (the authors' code).
        preset: ``None``/``"paper"`` (full size), ``"mini"`` (dim 16, blocks (2, 3, 3, 4); the CPU
            Table-6 run) or ``"tiny"`` (tests). Explicit arguments override it.
        **kwargs: any :class:`ResHAIR` argument (e.g. ``num_kernels``, ``classifier``).

    Example:
        >>> import torch
        >>> net = res_hair(preset="tiny")
        >>> x = torch.rand(2, 3, 36, 44)
        >>> net(x).shape, net.giv(x).shape
        (torch.Size([2, 3, 36, 44]), torch.Size([2, 32]))
    """
    if variant not in VARIANTS:
        raise HairError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    config = preset_config("res_hair", preset, dim=dim, num_blocks=num_blocks,
                           num_refinement_blocks=num_refinement_blocks, heads=heads)
    config.update(VARIANTS[variant])
    config.update(kwargs)
    return ResHAIR(**config)
