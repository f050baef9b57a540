"""Blocks are the unit of HAIR: one selecting net per block, one weight box per level.

A *block* is, in order of precedence:

1. a module named in ``blocks=`` (explicit);
2. a module whose type is in ``block_types=``;
3. (automatically) a *repeated block*: a non-leaf child of an ``nn.Sequential`` /
   ``nn.ModuleList`` / ``nn.ModuleDict`` that has a sibling of identical structure (same module
   types, parameter shapes and layer settings) — the blocks of a Restormer level, the residual
   blocks of a ResNet stage — plus every other module with that structure, and every instance of
   a (non-container) class found repeated (a level of one ``TransformerBlock`` is still made of
   blocks);
4. (automatically, weakest) any other non-leaf module of a non-container class that sits
   directly in a container (a decoder written as ``nn.Sequential(UpBlock(), DecoderBlock(), ...)``).

A converted layer belongs to the outermost block of kinds 1-3 that contains it, else to the
innermost block of kind 4, else it is a block of its own.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import torch.nn as nn

from ..errors import HairError

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def signature(module: nn.Module) -> tuple:
    """A hashable description of a module's structure: equal for interchangeable blocks.

    Settings count only for modules that hold parameters (a convolution's stride, a norm's eps):
    a stochastic-depth or dropout rate that differs from block to block does not change which
    weights the blocks can share.
    """
    parts = []
    for rel, sub in module.named_modules():
        params = tuple((n, tuple(p.shape)) for n, p in sub.named_parameters(recurse=False))
        parts.append((rel, type(sub).__qualname__, params, sub.extra_repr() if params else ""))
    return tuple(parts)


def _is_leaf(module: nn.Module) -> bool:
    return next(iter(module.children()), None) is None


def repeated_blocks(model: nn.Module) -> list[str]:
    """Names of the auto-detected repeated blocks (rule 3).

    Example:
        >>> body = nn.Sequential(nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU()),
        ...                      nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU()), nn.Conv2d(4, 3, 1))
        >>> repeated_blocks(nn.Sequential(body))
        ['0.0', '0.1']
    """
    repeated: set[tuple] = set()
    types: set[type] = set()
    for module in model.modules():
        if not isinstance(module, _CONTAINERS):
            continue
        groups: dict[tuple, list[nn.Module]] = defaultdict(list)
        for child in module.children():
            if not _is_leaf(child):
                groups[signature(child)].append(child)
        for sig, members in groups.items():
            if len(members) > 1:
                repeated.add(sig)
                types.update(type(m) for m in members if not isinstance(m, _CONTAINERS))
    return [
        n for n, m in model.named_modules()
        if n and not _is_leaf(m) and (type(m) in types or signature(m) in repeated)
    ]


def contained_blocks(model: nn.Module) -> list[str]:
    """Names of the weak blocks of rule 4: custom non-leaf modules directly inside a container."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, _CONTAINERS):
            for child_name, child in module.named_children():
                if not _is_leaf(child) and not isinstance(child, _CONTAINERS):
                    found.append(f"{name}.{child_name}" if name else child_name)
    return found


def block_roots(
    model: nn.Module,
    layers: Iterable[str],
    block_types: Sequence[type] | None = None,
    blocks: Sequence[str] | None = None,
) -> dict[str, str]:
    """Map every layer name to the name of its block (the layer itself when in no block).

    Args:
        model: the network.
        layers: names of the layers to convert.
        block_types: module types that are blocks.
        blocks: explicit block names.

    Returns:
        ``{layer name: block name}``.
    """
    modules = dict(model.named_modules())
    names: set[str] = set()
    for name in blocks or ():
        if name not in modules:
            raise HairError(f"blocks= names {name!r}, which is not a module of the model")
        names.add(name)
    if block_types:
        types = tuple(block_types)
        if not all(isinstance(t, type) for t in types):
            raise TypeError(f"block_types must be module classes, got {block_types!r}")
        names.update(n for n, m in modules.items() if n and isinstance(m, types))
    weak: list[str] = []
    if blocks is None and not block_types:
        names.update(repeated_blocks(model))
        weak = contained_blocks(model)
    result = {}
    for layer in layers:
        strong = [n for n in names if n == layer or layer.startswith(n + ".")]
        if strong:
            result[layer] = min(strong, key=len)
            continue
        loose = [n for n in weak if n == layer or layer.startswith(n + ".")]
        result[layer] = max(loose, key=len) if loose else layer
    return result
