"""Leaving HAIR: a plain network for one image (``specialize``) or the original one (``unhairify``)."""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn

from ..errors import HairError
from ..layers import HyperLayer
from .convert import set_module, to_static_uniform
from .hair_model import HairModel
from .routing import BlockSelect, EmbedHook, FoldedRows, SplitHook, UnfoldRows

UNHAIRIFY_WEIGHTS = ("original", "uniform")
_HOOKS = (SplitHook, EmbedHook, FoldedRows, UnfoldRows)  # what hairify registers on the model


def _strip_hooks(model: nn.Module, token: str) -> None:
    """Remove one HairModel's hooks and providers from a copy (a nested HairModel keeps its own)."""
    for module in model.modules():
        for hooks, with_kwargs in ((module._forward_hooks, module._forward_hooks_with_kwargs),
                                   (module._forward_pre_hooks, module._forward_pre_hooks_with_kwargs)):
            mine = [k for k, h in hooks.items() if isinstance(h, _HOOKS) and h.token == token]
            for key in mine:
                del hooks[key]
                with_kwargs.pop(key, None)
        provider = getattr(module, "select_provider", None)
        if isinstance(module, HyperLayer) and isinstance(provider, BlockSelect) and provider.token == token:
            module.select_provider = None


class Shifted(nn.Module):
    """A block whose first input is shifted by a constant vector (``mode="embed"`` specialised).

    Args:
        block: the block.
        shift: ``(C,)``, added along ``axis`` (1 for ``(B, C, ...)`` maps, -1 for tokens).
        axis: the channel axis of the block's input.
    """

    def __init__(self, block: nn.Module, shift: torch.Tensor, axis: int) -> None:
        super().__init__()
        self.block, self.axis = block, axis
        self.register_buffer("shift", shift)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        shape = [1] * x.dim()
        shape[self.axis] = -1
        return self.block(x + self.shift.reshape(shape), *args, **kwargs)


def _check(hair: HairModel) -> None:
    if not isinstance(hair, HairModel):
        raise TypeError(f"expected a HairModel (from hairlayers.hairify), got {type(hair).__name__}")


def specialize(hair: HairModel, *args: Any, **kwargs: Any) -> nn.Module:
    """A plain ``nn.Module`` equal to ``hair`` for one image's GIV.

    Every hyper layer becomes the torch layer holding its block's mixed weights for that image
    (``mode="embed"``: every block's input shift becomes a constant buffer). No classifier, no
    selecting net, no hooks remain: the result runs at the speed of the original network.

    Args:
        hair: a :class:`HairModel`.
        *args, **kwargs: the model's input for ONE image (batch of 1); in ``mode="free"`` the
            vectors do not depend on the image and the input may be omitted.

    Returns:
        The specialised network (a deep copy; ``hair`` is unchanged).

    Example:
        >>> import torch, torch.nn as nn
        >>> from hairlayers.transform import hairify, specialize
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AvgPool2d(2),
        ...                     nn.ConvTranspose2d(8, 3, 2, stride=2))
        >>> hair = hairify(net, example_input=torch.randn(2, 3, 8, 8), init="fresh")
        >>> x = torch.randn(1, 3, 8, 8)
        >>> static = specialize(hair, x)
        >>> torch.allclose(static(x), hair(x), atol=1e-5)
        True
    """
    _check(hair)
    plan = hair.plan
    if not args and not kwargs:
        if plan.mode != "free":
            raise HairError("specialize needs the image whose GIV the network is specialised for")
        param = next(hair.parameters())
        batch = torch.zeros(1, *plan.split.shape[1:], device=param.device, dtype=param.dtype)
        with torch.no_grad():
            _, selects = hair.route(batch)
        giv = None
    else:
        first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        if first is not None and first.shape[0] != 1:
            raise HairError(
                f"specialize works for ONE image (batch of 1), got a batch of {first.shape[0]}; "
                "specialise each image separately"
            )
        with torch.no_grad():
            giv, selects = hair.run_to_split(*args, **kwargs)
    model = copy.deepcopy(hair.model)
    _strip_hooks(model, hair.token)
    modules = dict(model.named_modules())
    for block in plan.blocks:
        if plan.mode == "embed":
            root = modules[block.name]
            with torch.no_grad():
                shift = hair.embeddings[block.key](giv)[0]
            set_module(model, block.name, Shifted(root, shift.detach().clone(), block.embed_axis))
            continue
        for name in block.layers:
            set_module(model, name, modules[name].to_static(select=selects[block.key][:1]))
    return model


def unhairify(hair: HairModel, weights: str = "original") -> nn.Module:
    """The original architecture back: hyper layers become torch layers again, hooks are removed.

    Args:
        hair: a :class:`HairModel`.
        weights: ``"original"``: each converted layer gets the weights it had before
            :func:`hairify` (kept aside by hairify), so at step 0 the result has the original
            ``state_dict``; ``"uniform"``: the mean of its experts (the hyper layer at a uniform
            selecting vector), a GIV-free summary of the trained layer. Every parameter that was
            not converted (norms, encoder, attention temperatures) keeps its current value.

    Returns:
        A deep copy of the wrapped network with plain torch layers.

    Example:
        >>> import torch, torch.nn as nn
        >>> from hairlayers.transform import hairify, unhairify
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(8, 3, 1))
        >>> hair = hairify(net, example_input=torch.randn(2, 3, 8, 8))
        >>> back = unhairify(hair)
        >>> all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), net.state_dict().values()))
        True
    """
    _check(hair)
    if weights not in UNHAIRIFY_WEIGHTS:
        raise HairError(f"weights must be one of {UNHAIRIFY_WEIGHTS}, got {weights!r}")
    model = copy.deepcopy(hair.model)
    _strip_hooks(model, hair.token)
    modules = dict(model.named_modules())
    for block in hair.plan.blocks:
        for name in block.layers:
            layer = modules[name]
            if not isinstance(layer, HyperLayer):
                continue
            if weights == "uniform":
                new = to_static_uniform(layer)
            else:
                new = copy.deepcopy(hair.originals[name]).to(layer.weight_box.device, layer.weight_box.dtype)
            new.train(layer.training)
            set_module(model, name, new)
    return model
