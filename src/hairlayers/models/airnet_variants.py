"""AirNet + HAIR and AirNet + PromptIR: the AirNet rows of the paper's Table 6.

**AirNet + HAIR** (``airnet_hair``) is built by hand, not with :func:`hairlayers.hairify`, because
three things in AirNet fall outside hairify's rules:

1. its restorer (DGRN) never downsamples, so there is no lowest-resolution junction for
   ``split="mid"`` to find — the midpoint has to be chosen by counting groups;
2. half of the restorer's weights sit in modulated deformable convolutions, which are not
   ``nn.Conv2d`` s and which hairify therefore cannot generate;
3. AirNet trains with its own loss (L1 + InfoNCE, :meth:`AirNet.training_loss`), which a wrapping
   :class:`~hairlayers.HairModel` would hide from the trainer.

The plan, at paper settings:

* *Split*: after the second of the five groups (DGGs) of the restorer, ``R.body.1``. The paper
  puts the classifier "at the network's midpoint"; with five equal groups the midpoint falls in
  the third, and like Res-HAIR's "3+4" the hyper half gets the larger share (three groups).
  Default ``split = n_groups // 2`` static groups.
* *Classifier*: a :class:`~hairlayers.GIVClassifier` on the 64-channel full-resolution features
  after ``R.body.1``; width 64 (= the restorer width), GIV of 128 = 2C.
* *Hyper*: everything after the split that reads those features. In each of the three hyper groups
  the five blocks (DGBs) share one :class:`~hairlayers.WeightBox` with N = 5 experts per layer role
  — both deformable convolutions (:class:`~hairlayers.layers.HyperDeformConv2d`, the kernel mixed
  per sample by :func:`~hairlayers.functional.mixed_deform_conv2d`), both offset/mask
  convolutions and both plain convolutions of a block — and each block has its own selecting
  net. N = 5 = the blocks per group, so a hyper group holds exactly as many block kernels as the
  static group it replaces. The group's closing convolution, the restorer's closing convolution and
  the tail are hyper layers of their own (N = 5, own selecting net).
* *Static*, and why: the SFT modulations (``x · γ(inter) + β(inter)``) read only the encoder's
  degradation map ``inter``, not the split features (the same rule as hairify's for skip
  projections); the encoder (CBDE) and the first two groups.

At paper settings: 10,061,241 parameters (paper: 10M; +0.61 %) = 8,930,313 (AirNet) + 597,772
(four more experts for each of the three group-closing convolutions, the body-closing
convolution and the tail, which are not in a shared box) + 154,660 (20 selecting nets: 15
blocks, 5 single layers) + 378,496 (classifier). The shared boxes add nothing: 5 experts replace
5 blocks.

**AirNet + PromptIR** (``airnet_promptir``) puts a :class:`~hairlayers.models.prompt.PromptBlock`
after each of the three groups of the same second half (``R.body.2``, ``.3``, ``.4``): prompts as
wide as the features (64, promptify's default), five prompts (PromptIR's), four heads (PromptIR's),
and a prompt size of 67, the one free choice, fitted so that the total lands on the paper's 14M:
13,994,460 parameters (−0.04 %). (Prompt size 64 would give 13,617,180, −2.7 %.)

Both train with AirNet's loss (inherited :meth:`AirNet.training_loss`) and take [0, 1] images of
any size and batch; AirNet has no downsampling, so no padding is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import positive_int
from ..errors import HairError
from ..giv import GIVInput, check_giv
from ..layers import (
    GIVClassifier,
    HyperConv2d,
    HyperDeformConv2d,
    HyperLayer,
    HyperSelectingNet,
    WeightBox,
)
from ._builder import preset_config
from ._registry import register_model
from .airnet import _SLOPE, AIRNET_PRESETS, DGG, AirNet, SFTLayer
from .prompt import PromptBlock, PromptedModule

__all__ = [
    "AIRNET_HAIR_PRESETS",
    "AIRNET_HAIR_TABLE6",
    "AIRNET_PROMPTIR_PRESETS",
    "AIRNET_PROMPTIR_TABLE6",
    "AirNetHAIR",
    "AirNetPromptIR",
    "HyperDCNLayer",
    "HyperDGB",
    "HyperDGG",
    "HyperDGM",
    "HyperDGRN",
    "HyperDeformConv2d",
    "airnet_hair",
    "airnet_promptir",
]


# --------------------------------------------------------------------------- hyper DGRN parts


class HyperDCNLayer(HyperDeformConv2d):
    """AirNet's DCN layer with generated kernels: offsets/mask from ``cat(x, inter)`` by a hyper conv.

    Mirrors :class:`~hairlayers.models.airnet.DCNLayer`: the ``3·k²`` outputs of
    ``conv_offset_mask`` (every expert zero at the start, so training starts from a plain
    convolution with mask 0.5) split into ``(o1, o2, m)``; offsets ``cat(o1, o2)``, mask
    ``sigmoid(m)``. One selecting vector drives both the offset conv and the deformable kernel.
    """

    def __init__(self, channels: int, inter_channels: int, kernel_size: int = 3, *, num_kernels: int,
                 **dcn_kwargs: Any) -> None:
        pad = (kernel_size - 1) // 2
        super().__init__(channels, channels, kernel_size, padding=pad, bias=False, num_kernels=num_kernels,
                         **dcn_kwargs)
        self.conv_offset_mask = HyperConv2d(
            channels + inter_channels, 3 * kernel_size * kernel_size, kernel_size, padding=pad,
            num_kernels=num_kernels,
        )
        nn.init.zeros_(self.conv_offset_mask.weight_box)
        nn.init.zeros_(self.conv_offset_mask.bias_box)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, inter: torch.Tensor, *, select: torch.Tensor
    ) -> torch.Tensor:
        o1, o2, m = self.conv_offset_mask(torch.cat([x, inter], dim=1), select=select).chunk(3, dim=1)
        return super().forward(x, torch.cat([o1, o2], dim=1), torch.sigmoid(m), select=select)


class HyperDGM(nn.Module):
    """Degradation-guided module with a hyper DCN: ``x + DCN(x, inter) + SFT(x, inter)``.

    The SFT part stays static: it reads only ``inter``, which does not depend on the split.
    """

    def __init__(self, channels: int, inter_channels: int, kernel_size: int, *, num_kernels: int,
                 **dcn_kwargs: Any) -> None:
        super().__init__()
        self.dcn = HyperDCNLayer(channels, inter_channels, kernel_size, num_kernels=num_kernels, **dcn_kwargs)
        self.sft = SFTLayer(channels, inter_channels)

    def forward(self, x: torch.Tensor, inter: torch.Tensor, *, select: torch.Tensor) -> torch.Tensor:
        return x + self.dcn(x, inter, select=select) + self.sft(x, inter)


class HyperDGB(nn.Module):
    """Degradation-guided block with generated kernels: DGM, conv, DGM, conv, plus the input."""

    def __init__(self, channels: int, inter_channels: int, kernel_size: int, *, num_kernels: int,
                 **dcn_kwargs: Any) -> None:
        super().__init__()
        self.dgm1 = HyperDGM(channels, inter_channels, kernel_size, num_kernels=num_kernels, **dcn_kwargs)
        self.dgm2 = HyperDGM(channels, inter_channels, kernel_size, num_kernels=num_kernels, **dcn_kwargs)
        pad = kernel_size // 2
        self.conv1 = HyperConv2d(channels, channels, kernel_size, padding=pad, num_kernels=num_kernels)
        self.conv2 = HyperConv2d(channels, channels, kernel_size, padding=pad, num_kernels=num_kernels)

    def forward(self, x: torch.Tensor, inter: torch.Tensor, *, select: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.dgm1(x, inter, select=select), _SLOPE)
        out = F.leaky_relu(self.conv1(out, select=select), _SLOPE)
        out = F.leaky_relu(self.dgm2(out, inter, select=select), _SLOPE)
        return self.conv2(out, select=select) + x


class HyperDGG(nn.Module):
    """A HAIR level: ``n_blocks`` hyper DGBs sharing one weight box, and a hyper closing conv.

    Every block has its own :class:`~hairlayers.HyperSelectingNet` (``selectors``); the closing
    convolution (``body[-1]``) has its own box and selecting net.

    Args:
        channels, inter_channels, kernel_size, n_blocks: as for AirNet's DGG.
        num_kernels: N of the shared box (and of the closing conv).
        giv_dim: GIV width.
        hsn_hidden: hidden widths of the selecting nets.
        **dcn_kwargs: ``max_elements``, ``backend`` of the deformable convolutions.

    Shape:
        - ``x`` ``(B, channels, H, W)``, ``inter`` ``(B, inter_channels, H, W)``, ``giv``
          ``(B, giv_dim)``; output like ``x``.

    Example:
        >>> import torch
        >>> group = HyperDGG(8, 8, 3, n_blocks=2, num_kernels=3, giv_dim=16)
        >>> x, inter, giv = torch.randn(2, 8, 10, 12), torch.randn(2, 8, 10, 12), torch.randn(2, 16)
        >>> group(x, inter, giv).shape
        torch.Size([2, 8, 10, 12])
        >>> group.body[0].conv1.weight_box is group.body[1].conv1.weight_box  # one box per role
        True
    """

    def __init__(
        self,
        channels: int,
        inter_channels: int,
        kernel_size: int,
        n_blocks: int,
        *,
        num_kernels: int,
        giv_dim: int,
        hsn_hidden: Sequence[int] = (48, 24, 12),
        **dcn_kwargs: Any,
    ) -> None:
        super().__init__()
        self.box = WeightBox(num_kernels)
        blocks = [
            HyperDGB(channels, inter_channels, kernel_size, num_kernels=num_kernels, **dcn_kwargs)
            for _ in range(n_blocks)
        ]
        for block in blocks:
            for role, layer in block.named_modules():
                if isinstance(layer, HyperLayer):
                    self.box.share(role, layer)
        closing = HyperConv2d(
            channels, channels, kernel_size, padding=kernel_size // 2, num_kernels=num_kernels,
            giv_dim=giv_dim, hsn_hidden=hsn_hidden,
        )
        self.body = nn.ModuleList(blocks + [closing])
        self.selectors = nn.ModuleList(HyperSelectingNet(giv_dim, num_kernels, hsn_hidden) for _ in blocks)

    def forward(self, x: torch.Tensor, inter: torch.Tensor, giv: torch.Tensor) -> torch.Tensor:
        res = x
        for block, selector in zip(self.body[:-1], self.selectors):
            res = block(res, inter, select=selector(giv))
        return self.body[-1](res, giv) + x


class HyperDGRN(nn.Module):
    """The DGRN restorer with a classifier after ``split`` static groups and a hyper second half.

    Args:
        in_channels, n_feats, inter_channels, n_groups, n_blocks, kernel_size: as for AirNet's DGRN.
        split: number of static groups before the classifier (``0 <= split <= n_groups``).
        num_kernels: N of every hyper layer.
        giv_dim: GIV width.
        classifier_width: channels inside the :class:`~hairlayers.GIVClassifier`.
        hsn_hidden: hidden widths of the selecting nets.
        **dcn_kwargs: ``max_elements``, ``backend`` of the deformable convolutions.

    Shape:
        - ``x`` ``(B, in_channels, H, W)``, ``inter`` ``(B, inter_channels, H, W)``; optional
          ``giv`` ``(B, giv_dim)`` or ``(1, giv_dim)``; output like ``x``.
    """

    def __init__(
        self,
        in_channels: int,
        n_feats: int,
        inter_channels: int,
        n_groups: int,
        n_blocks: int,
        kernel_size: int,
        *,
        split: int,
        num_kernels: int,
        giv_dim: int,
        classifier_width: int,
        hsn_hidden: Sequence[int] = (48, 24, 12),
        **dcn_kwargs: Any,
    ) -> None:
        super().__init__()
        if isinstance(split, bool) or not isinstance(split, int) or not 0 <= split <= n_groups:
            raise HairError(f"split must be an int in [0, n_groups={n_groups}] (static groups), got {split!r}")
        pad = kernel_size // 2
        self.split, self.giv_dim = split, giv_dim
        self.head = nn.Sequential(nn.Conv2d(in_channels, n_feats, kernel_size, padding=pad))
        static: list[nn.Module] = [
            DGG(n_feats, inter_channels, kernel_size, n_blocks, **dcn_kwargs) for _ in range(split)
        ]
        hyper: list[nn.Module] = [
            HyperDGG(n_feats, inter_channels, kernel_size, n_blocks, num_kernels=num_kernels,
                     giv_dim=giv_dim, hsn_hidden=hsn_hidden, **dcn_kwargs)
            for _ in range(n_groups - split)
        ]
        closing = HyperConv2d(n_feats, n_feats, kernel_size, padding=pad, num_kernels=num_kernels,
                              giv_dim=giv_dim, hsn_hidden=hsn_hidden)
        self.body = nn.ModuleList(static + hyper + [closing])
        self.tail = HyperConv2d(n_feats, in_channels, kernel_size, padding=pad, num_kernels=num_kernels,
                                giv_dim=giv_dim, hsn_hidden=hsn_hidden)
        self.classifier = GIVClassifier(n_feats, giv_dim, width=classifier_width)

    def first_half(self, x: torch.Tensor, inter: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(head output, features at the split)``."""
        x = self.head(x)
        res = x
        for group in self.body[: self.split]:
            res = group(res, inter)
        return x, res

    def giv(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        """The GIV ``(B, giv_dim)``: the first half and the classifier only."""
        return self.classifier(self.first_half(x, inter)[1])

    def forward(self, x: torch.Tensor, inter: torch.Tensor, giv: torch.Tensor | None = None) -> torch.Tensor:
        x, res = self.first_half(x, inter)
        giv = self.classifier(res) if giv is None else check_giv(giv, self.giv_dim, x.shape[0]).expand(x.shape[0], -1)
        for group in self.body[self.split : -1]:
            res = group(res, inter, giv)
        res = self.body[-1](res, giv) + x
        return self.tail(res, giv)


# --------------------------------------------------------------------------- the networks


class AirNetHAIR(GIVInput, AirNet):
    """AirNet whose restorer's second half is generated from a GIV; prefer :func:`airnet_hair`.

    The encoder (``E``) is AirNet's; the restorer ``R`` is a :class:`HyperDGRN` holding the
    classifier. :meth:`~hairlayers.models.airnet.AirNet.training_loss` (L1 + 0.1 · InfoNCE) is
    inherited unchanged.

    Args:
        in_channels, n_feats, n_groups, n_blocks, kernel_size, encoder_dims, queue_size,
            momentum, temperature, dcn_max_elements, dcn_backend: as for
            :class:`~hairlayers.models.airnet.AirNet`.
        split: static groups before the classifier (default ``n_groups // 2``: 2 of 5).
        num_kernels: N of every hyper layer (paper setting 5).
        giv_dim: GIV width (default ``2 · n_feats``: 128).
        classifier_width: channels inside the classifier (paper setting 64).
        hsn_hidden: hidden widths of the selecting nets.

    Shape:
        - input ``(B, C, H, W)``, any ``H, W``, values in [0, 1]; output the same shape.
          ``forward(x, giv=v)`` uses a given GIV (``(B, giv_dim)`` or ``(1, giv_dim)``).
    """

    registry_name = "airnet_hair"

    def __init__(
        self,
        in_channels: int = 3,
        n_feats: int = 64,
        n_groups: int = 5,
        n_blocks: int = 5,
        kernel_size: int = 3,
        encoder_dims: Sequence[int] = (64, 128, 256),
        queue_size: int = 1280,
        momentum: float = 0.999,
        temperature: float = 0.07,
        dcn_max_elements: int | None = None,
        dcn_backend: str = "auto",
        *,
        split: int | None = None,
        num_kernels: int = 5,
        giv_dim: int | None = None,
        classifier_width: int = 64,
        hsn_hidden: Sequence[int] = (48, 24, 12),
    ) -> None:
        super().__init__(in_channels, n_feats, n_groups, n_blocks, kernel_size, encoder_dims, queue_size,
                         momentum, temperature, dcn_max_elements, dcn_backend)
        split = n_groups // 2 if split is None else split
        giv_dim = 2 * n_feats if giv_dim is None else giv_dim
        for name, value in (("num_kernels", num_kernels), ("giv_dim", giv_dim), ("classifier_width", classifier_width)):
            positive_int(name, value)
        # Replaces AirNet's static restorer (same place in the module tree, so E keeps its names).
        self.R = HyperDGRN(  # type: ignore[assignment]
            in_channels, n_feats, next(iter(encoder_dims)), n_groups, n_blocks, kernel_size,
            split=split, num_kernels=num_kernels, giv_dim=giv_dim, classifier_width=classifier_width,
            hsn_hidden=hsn_hidden, max_elements=dcn_max_elements, backend=dcn_backend,
        )

    @property
    def classifier(self) -> GIVClassifier:
        """The GIV classifier (``self.R.classifier``)."""
        return self.R.classifier  # type: ignore[return-value]

    def giv(self, image: torch.Tensor) -> torch.Tensor:
        """The GIV ``(B, giv_dim)`` of a batch: encoder map, first half, classifier."""
        return self.R.giv(image, self.degradation_map(image))  # type: ignore[operator]

    @property
    def giv_dim(self) -> int:
        """The GIV's width (``self.R.giv_dim``)."""
        return self.R.giv_dim  # type: ignore[return-value]

    def forward(self, image: torch.Tensor, giv: torch.Tensor | None = None) -> torch.Tensor:
        """Restore ``image`` ``(B, C, H, W)``; with ``giv`` (or inside :meth:`using_giv`), use it
        instead of the classifier's."""
        return self.R(image, self.degradation_map(image), self.resolve_giv(giv, image.shape[0]))


class AirNetPromptIR(AirNet):
    """AirNet with prompt blocks after restorer groups; prefer :func:`airnet_promptir`.

    Each group named in ``prompt_groups`` becomes a :class:`~hairlayers.models.prompt.PromptedModule`
    (``R.body.<i>.base`` the group, ``R.body.<i>.prompt`` the block). The loss is AirNet's.

    Args:
        prompt_groups: indices of the groups followed by a prompt block (default: the second
            half, ``range(n_groups // 2, n_groups)``: groups 2, 3, 4 of 5).
        prompt_dim: prompt channels (default ``n_feats``).
        prompt_len: learned prompts per block (5).
        prompt_size: their spatial size (paper setting 67, see the module docs).
        prompt_heads: heads of the fusing transformer blocks (4).
        **kwargs: :class:`~hairlayers.models.airnet.AirNet`'s arguments.
    """

    registry_name = "airnet_promptir"

    def __init__(
        self,
        prompt_groups: Sequence[int] | None = None,
        prompt_dim: int | None = None,
        prompt_len: int = 5,
        prompt_size: int = 67,
        prompt_heads: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        n_groups = len(self.R.body) - 1
        n_feats = self.R.head[0].out_channels
        groups = list(range(n_groups // 2, n_groups)) if prompt_groups is None else list(prompt_groups)
        if not groups or len(set(groups)) != len(groups) or any(
            isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_groups for i in groups
        ):
            raise HairError(f"prompt_groups must be distinct group indices in [0, {n_groups}), got {prompt_groups!r}")
        prompt_dim = n_feats if prompt_dim is None else prompt_dim
        for name, value in (("prompt_dim", prompt_dim), ("prompt_len", prompt_len),
                            ("prompt_size", prompt_size), ("prompt_heads", prompt_heads)):
            positive_int(name, value)
        self.prompt_groups = tuple(groups)
        for i in groups:
            block = PromptBlock(n_feats, prompt_dim, prompt_len, prompt_size, num_heads=prompt_heads)
            self.R.body[i] = PromptedModule(self.R.body[i], block)


# --------------------------------------------------------------------------- presets and builders

#: AirNet's presets plus the HAIR settings. The small presets keep N = 3 (two experts would
#: barely differ; one would make every image's kernels the same).
AIRNET_HAIR_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(AIRNET_PRESETS["paper"], num_kernels=5, classifier_width=64),
    "mini": dict(AIRNET_PRESETS["mini"], num_kernels=3, classifier_width=32),
    "tiny": dict(AIRNET_PRESETS["tiny"], num_kernels=3, classifier_width=16),
}

#: AirNet's presets plus the prompts (width = the features', sizes for the runs' patch sizes).
AIRNET_PROMPTIR_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(AIRNET_PRESETS["paper"], prompt_size=67),
    "mini": dict(AIRNET_PRESETS["mini"], prompt_size=48),
    "tiny": dict(AIRNET_PRESETS["tiny"], prompt_size=32),
}

AIRNET_PROMPTIR_TABLE6 = {
    "SOTS": (21.34, 0.883),
    "Rain100L": (33.52, 0.953),
    "BSD68 σ25": (30.92, 0.882),
    "GoPro": (24.37, 0.786),
    "LOLv1": (18.18, 0.737),
    "avg": (25.67, 0.848),
}

AIRNET_HAIR_TABLE6 = {
    "SOTS": (22.15, 0.899),
    "Rain100L": (34.56, 0.957),
    "BSD68 σ25": (30.94, 0.884),
    "GoPro": (25.44, 0.792),
    "LOLv1": (18.24, 0.740),
    "avg": (26.27, 0.854),
}

_LICENSE = (
    "architecture: Li et al., CVPR 2022 (the authors' code has no licence) with {what}; "
    "this implementation is independent"
)


@register_model(
    paper_params="10M (paper); 10,061,241 here (split after group 2 of 5, N = 5, classifier width 64)",
    table6=AIRNET_HAIR_TABLE6,
    table6_params="10M",
    presets=AIRNET_HAIR_PRESETS,
    checkpoint_format="none released (the paper trains AirNet+HAIR for Table 6)",
    license_note=_LICENSE.format(what="HAIR (Cao et al.)"),
    remap_checkpoint=None,
)
def airnet_hair(
    n_feats: int | None = None,
    n_groups: int | None = None,
    n_blocks: int | None = None,
    encoder_dims: Sequence[int] | None = None,
    queue_size: int | None = None,
    num_kernels: int | None = None,
    classifier_width: int | None = None,
    preset: str | None = None,
    **kwargs: Any,
) -> AirNetHAIR:
    """Build AirNet + HAIR: paper settings by default, or a small preset.

    Args:
        n_feats, n_groups, n_blocks, encoder_dims, queue_size: as for
            :func:`~hairlayers.models.airnet.airnet`.
        num_kernels: N of every hyper layer (paper setting 5).
        classifier_width: channels inside the classifier (paper setting 64).
        preset: ``None``/``"paper"`` (10,061,241 parameters), ``"mini"`` or ``"tiny"`` (AirNet's
            presets with N = 3 and classifier width = restorer width). Explicit arguments
            override the preset.
        **kwargs: passed to :class:`AirNetHAIR` (``split``, ``giv_dim``, ``hsn_hidden``,
            ``kernel_size``, ``dcn_max_elements``, ...).

    Returns:
        The model, in training mode.

    Example:
        >>> import torch
        >>> net = airnet_hair(preset="tiny").eval()
        >>> x = torch.rand(2, 3, 37, 45)
        >>> net(x).shape, net.giv(x).shape
        (torch.Size([2, 3, 37, 45]), torch.Size([2, 32]))
    """
    config = preset_config(
        "airnet_hair",
        preset,
        n_feats=n_feats,
        n_groups=n_groups,
        n_blocks=n_blocks,
        encoder_dims=encoder_dims,
        queue_size=queue_size,
        num_kernels=num_kernels,
        classifier_width=classifier_width,
    )
    return AirNetHAIR(**config, **kwargs)


@register_model(
    paper_params="14M (paper); 13,994,460 here (3 prompt blocks, width 64, size 67)",
    table6=AIRNET_PROMPTIR_TABLE6,
    table6_params="14M",
    presets=AIRNET_PROMPTIR_PRESETS,
    checkpoint_format="none released (the paper retrains AirNet+PromptIR for Table 6)",
    license_note=_LICENSE.format(what="PromptIR's prompt blocks (Potlapalli et al., NeurIPS 2023)"),
    remap_checkpoint=None,
)
def airnet_promptir(
    n_feats: int | None = None,
    n_groups: int | None = None,
    n_blocks: int | None = None,
    encoder_dims: Sequence[int] | None = None,
    queue_size: int | None = None,
    prompt_size: int | None = None,
    preset: str | None = None,
    **kwargs: Any,
) -> AirNetPromptIR:
    """Build AirNet + PromptIR: paper settings by default, or a small preset.

    Args:
        n_feats, n_groups, n_blocks, encoder_dims, queue_size: as for
            :func:`~hairlayers.models.airnet.airnet`.
        prompt_size: spatial size of the learned prompts (paper setting 67).
        preset: ``None``/``"paper"`` (13,994,460 parameters), ``"mini"`` (prompt size 48) or
            ``"tiny"`` (32). Explicit arguments override the preset.
        **kwargs: passed to :class:`AirNetPromptIR` (``prompt_groups``, ``prompt_dim``,
            ``prompt_len``, ``prompt_heads``) and :class:`~hairlayers.models.airnet.AirNet`.

    Returns:
        The model, in training mode.

    Example:
        >>> import torch
        >>> net = airnet_promptir(preset="tiny").eval()
        >>> net(torch.rand(2, 3, 37, 45)).shape
        torch.Size([2, 3, 37, 45])
    """
    config = preset_config(
        "airnet_promptir",
        preset,
        n_feats=n_feats,
        n_groups=n_groups,
        n_blocks=n_blocks,
        encoder_dims=encoder_dims,
        queue_size=queue_size,
        prompt_size=prompt_size,
    )
    return AirNetPromptIR(**config, **kwargs)
