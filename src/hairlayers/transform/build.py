"""Building a HAIR network from a :class:`~.plan.HairPlan`: the second half of :func:`~hairlayers.hairify`.

:func:`build_hair` swaps every planned layer for its hyper version (sharing weight boxes where the
plan says so), wires each to its block's selecting vector (:mod:`.routing`), hooks the split
module and returns the :class:`~.hair_model.HairModel`. It traces nothing: everything it needs is
in the plan.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn as nn

from ..errors import HairError
from ..layers import GIVClassifier, HyperLinear, WeightBox
from .convert import set_module, to_hyper
from .hair_model import HairModel
from .plan import HairPlan
from .routing import BlockSelect, EmbedHook, FoldedRows, SplitHook, UnfoldRows


class _TokensToMap(nn.Module):
    """Feeds channels-last split features ``(B, H, W, C)`` to a classifier that reads ``(B, C, H, W)``."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features.permute(0, 3, 1, 2))


def default_classifier(plan: HairPlan, *, device: torch.device | None = None,
                       dtype: torch.dtype | None = None) -> nn.Module:
    """A :class:`~hairlayers.GIVClassifier` sized from the plan's split features (channels-last
    tokens are permuted to a map first).

    Raises:
        HairError: split features that are not a 4-D feature map.
    """
    shape = plan.split.shape
    if plan.features_layout == "other":
        raise HairError(
            f"the split features have shape {shape}, not (B, C, H, W): the default "
            "GIVClassifier needs a feature map; pass classifier= (features -> (B, giv_dim))"
        )
    if plan.features_layout == "tokens":
        classifier: nn.Module = _TokensToMap(GIVClassifier(shape[3], plan.giv_dim))
    else:
        classifier = GIVClassifier(shape[1], plan.giv_dim)
    return classifier.to(device=device, dtype=dtype)


def build_hair(
    model: nn.Module,
    plan: HairPlan,
    *,
    classifier: nn.Module | None = None,
    inplace: bool = False,
    noise: float = 0.01,
    hsn_hidden: Sequence[int] = (48, 24, 12),
) -> HairModel:
    """The :class:`HairModel` ``plan`` describes, around ``model`` (or a deep copy of it).

    ``classifier``, ``inplace``, ``noise`` and ``hsn_hidden`` mean what they mean for
    :func:`~hairlayers.hairify`; ``plan`` must come from :func:`~.plan.plan_hair` on ``model``.

    Example:
        >>> import torch, torch.nn as nn
        >>> from hairlayers.transform.plan import plan_hair
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AvgPool2d(2), nn.Conv2d(8, 3, 3, padding=1))
        >>> plan = plan_hair(net, example_input=torch.randn(2, 3, 16, 16), num_kernels=3)
        >>> hair = build_hair(net, plan, hsn_hidden=(8,))
        >>> hair(torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 3, 8, 8])
    """
    if plan.mode == "free" and classifier is not None:
        raise HairError("mode='free' has no classifier (each block learns its own GIV); drop classifier=")
    if plan.mode != "free" and classifier is None:
        param = next(model.parameters(), None)
        classifier = default_classifier(
            plan, device=param.device if param is not None else None, dtype=param.dtype if param is not None else None)
    target = model if inplace else copy.deepcopy(model)
    hair = HairModel(target, plan, classifier if plan.mode != "free" else None, hsn_hidden)
    target_modules = dict(target.named_modules())
    if plan.mode == "embed":
        for block in plan.blocks:
            target_modules[block.name].register_forward_pre_hook(EmbedHook(hair.token, block.key))
    else:
        for block in plan.blocks:
            if block.box is not None and block.box not in hair.boxes:
                hair.boxes[block.box] = WeightBox(block.num_kernels)
            for name in block.layers:
                original = target_modules[name]
                hair._originals[name] = copy.deepcopy(original)
                layer = to_hyper(original, block.num_kernels, plan.init, noise)
                if block.box is not None:
                    hair.boxes[block.box].share(name[len(block.name) + 1:], layer)
                layer.select_provider = BlockSelect(hair.token, block.key, name)
                fold = plan.folds.get(name, "batch")
                regroup = isinstance(layer, HyperLinear) and fold != "batch"
                layer.register_forward_pre_hook(
                    FoldedRows(hair.token, block.key, name, fold, regroup), with_kwargs=True)
                if regroup:
                    layer.register_forward_hook(UnfoldRows(hair.token, name, fold), with_kwargs=True)
                set_module(target, name, layer)
    # New parts follow the wrapped model's train/eval flag (its own submodules keep theirs).
    for part in (hair.classifier, hair.selectors, hair.boxes, hair.embeddings):
        if part is not None:
            part.train(target.training)
    hair.training = target.training
    split_module = target.get_submodule(plan.split.name)
    hook = SplitHook(hair.token, plan.split.side)
    if plan.split.side == "output":
        split_module.register_forward_hook(hook)
    else:
        split_module.register_forward_pre_hook(hook)
    return hair


__all__ = ["build_hair", "default_classifier"]
