"""``hairify``: turn any encoder-decoder network into a HAIR network in one call (paper §3.2).

Two steps, each its own module: :func:`~.plan.plan_hair` traces the model and decides (a
:class:`~.plan.HairPlan`, plain data), :func:`~.build.build_hair` swaps the layers and wires the
GIV route (a :class:`~.hair_model.HairModel`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

import torch.nn as nn

from ..errors import HairError
from .build import build_hair
from .hair_model import HairModel
from .plan import plan_hair


def hairify(
    model: nn.Module,
    split: str | int | float = "mid",
    *,
    example_input: Any = None,
    num_kernels: int | Sequence[int] | Mapping[int, int] = 5,
    giv_dim: int | None = None,
    classifier: nn.Module | None = None,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    init: str = "copy",
    inplace: bool = False,
    mode: str = "hyper",
    min_params: int = 0,
    block_types: Sequence[type] | None = None,
    blocks: Sequence[str] | None = None,
    levels: Mapping[str, int] | None = None,
    blocks_only: bool = False,
    share_boxes: bool | None = None,
    noise: float = 0.01,
    hsn_hidden: Sequence[int] = (48, 24, 12),
) -> HairModel:
    """Turn an image-to-image network into a HAIR network (classifier at the split, hyper decoder).

    Discovery runs the model on ``example_input`` (default: a ``(2, C, 64, 64)`` random
    batch, ``C`` from the first ``nn.Conv2d``) under ``torch.no_grad()`` in eval mode: once to
    record the resolution path, once with noise added at the split to find what depends on it,
    and once per image with only that image changed (also on the input made twice as wide) to
    find which rows of each converted layer's input come from which image. Layers that fold the
    batch with windows, frames, heads or tiles (``(B·k, ...)`` or ``(k·B, ...)`` rows) then give
    every row its own image's kernels, at any input size (see :mod:`.folding`).

    Args:
        model: any ``nn.Module``; its forward code is not changed.
        split: ``"mid"`` (where the map first reaches its lowest resolution), a module name
            (``"down3_4"``, ``"latent:input"``), an int ``k`` ("after resolution stage k") or a
            float fraction of the execution order. See ``docs/hairify.md`` for the rules.
        example_input: a Tensor or a tuple of positional arguments for discovery.
        num_kernels: N per weight box: an int, a sequence with one entry per level (level 1 = full
            resolution first, e.g. Res-HAIR's ``[5, 7, 7, 9]``) or a mapping ``{level: N}``.
        giv_dim: GIV width (default: twice the first convolution's output channels, the paper's
            ``2C``).
        classifier: a module mapping the split features to ``(B, giv_dim)`` (default: a
            :class:`~hairlayers.GIVClassifier` sized from the split features; channels-last
            tokens ``(B, H, W, C)`` are recognised from the traced spatial sizes and permuted).
        include: name patterns (glob, or a plain name meaning that module and its children) of
            the layers that may be converted; default all downstream layers.
        exclude: name patterns of downstream layers to keep static (wins over ``include``).
            Every pattern of ``include`` and ``exclude`` must match some module of ``model``
            (a typo raises, listing close names).
        init: ``"copy"`` (every expert = the original weights: the same function at step 0; a
            ``UserWarning`` when such a model is trained while its experts are still identical,
            see :meth:`HairModel.warn_if_experts_identical`), ``"copy+noise"`` (copy + Gaussian
            noise of ``noise × std(weight)``) or ``"fresh"``.
        inplace: convert ``model`` itself instead of a deep copy.
            Frozen layers stay frozen: a converted layer's ``weight_box`` / ``bias_box`` keep the
            ``requires_grad`` of its original weight / bias. The new parts (classifier, selecting
            nets) are trainable.
        mode: ``"hyper"`` (weight generation, the paper's HAIR), ``"embed"`` (Table 4 (b): the
            GIV is added as a learned per-block conditioning embedding, zero at step 0, no weight
            generation) or ``"free"`` (Table 4 (c): no classifier, each block learns its own GIV).
        min_params: layers with fewer parameters stay static (tiny heads).
        block_types: module types that are blocks (default: auto-detected repeated blocks).
        blocks: explicit block names (turns auto-detection off).
        blocks_only: convert only layers inside blocks; layers in no block (up/down-sampling
            and channel-reduction convs, the output conv) stay static, as in Res-HAIR.
        levels: ``{name pattern: level}`` overriding the detected level of matching blocks (the
            level picks ``num_kernels`` and the box-sharing group).
        share_boxes: same-shaped blocks at the same level share one weight box. Default: share
            with ``init="fresh"``, not with the copy inits (sharing would start every block from
            the first block's weights and change the function).
        noise: relative noise of ``init="copy+noise"``.
        hsn_hidden: hidden widths of every block's selecting net.

    Returns:
        A :class:`HairModel`.

    Raises:
        HairError: no spatial downsampling (with ``split="mid"``), an unknown split name (the
            message lists candidates), nothing convertible after the split, an example input the
            model rejects, a converted layer whose input rows cannot be attributed to images or
            split features that fold the batch (the message names the layer and the way out), or
            inconsistent arguments.

    Example:
        >>> import torch, torch.nn as nn
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AvgPool2d(2),
        ...                     nn.Conv2d(8, 8, 3, padding=1), nn.ConvTranspose2d(8, 3, 2, stride=2))
        >>> hair = hairify(net, example_input=torch.randn(2, 3, 16, 16), num_kernels=[3, 5])
        >>> hair.plan.split.describe()
        "output of '1' (= input of '2')"
        >>> [(b.name, b.level, b.num_kernels) for b in hair.plan.blocks]
        [('2', 2, 5), ('3', 2, 5)]
    """
    if isinstance(model, HairModel):
        raise HairError("the model is already a HairModel; unhairify it first")
    if mode == "free" and classifier is not None:
        raise HairError("mode='free' has no classifier (each block learns its own GIV); drop classifier=")
    plan = plan_hair(
        model, split, example_input=example_input, num_kernels=num_kernels, giv_dim=giv_dim,
        include=include, exclude=exclude, init=init, mode=mode, min_params=min_params,
        block_types=block_types, blocks=blocks, levels=levels, blocks_only=blocks_only,
        share_boxes=share_boxes,
    )
    return build_hair(model, plan, classifier=classifier, inplace=inplace, noise=noise, hsn_hidden=hsn_hidden)


__all__ = ["hairify"]
