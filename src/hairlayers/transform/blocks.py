"""Blocks are the unit of HAIR: one selecting net per block, one weight box per level.

A *block* is, in order of precedence:

1. a module named in ``blocks=`` (explicit);
2. a module whose type is in ``block_types=``;
3. (automatically) a non-leaf child of an ``nn.Sequential`` / ``nn.ModuleList`` / ``nn.ModuleDict``
   that has at least one sibling of identical structure (same module types, parameter shapes and
   layer settings) — the repeated blocks of a Restormer level, the residual blocks of a ResNet
   stage — and any other module with the structure of such a block (a level of one block, like
   Restormer's refinement stage).

A converted layer belongs to the outermost block that contains it; a converted layer in no block is
a block of its own.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import torch.nn as nn

from ..errors import HairError

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def signature(module: nn.Module) -> tuple:
    """A hashable description of a module's structure: equal for interchangeable blocks."""
    parts = []
    for rel, sub in module.named_modules():
        params = tuple((n, tuple(p.shape)) for n, p in sub.named_parameters(recurse=False))
        parts.append((rel, type(sub).__qualname__, params, sub.extra_repr()))
    return tuple(parts)


def _is_leaf(module: nn.Module) -> bool:
    return next(iter(module.children()), None) is None


def repeated_blocks(model: nn.Module) -> list[str]:
    """Names of the auto-detected blocks (rule 3).

    Example:
        >>> body = nn.Sequential(nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU()),
        ...                      nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU()), nn.Conv2d(4, 3, 1))
        >>> repeated_blocks(nn.Sequential(body))
        ['0.0', '0.1']
    """
    repeated: set[tuple] = set()
    for name, module in model.named_modules():
        if not isinstance(module, _CONTAINERS):
            continue
        groups: dict[tuple, int] = defaultdict(int)
        for child in module.children():
            if not _is_leaf(child):
                groups[signature(child)] += 1
        repeated.update(sig for sig, count in groups.items() if count > 1)
    return [n for n, m in model.named_modules() if n and not _is_leaf(m) and signature(m) in repeated]


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
    if blocks is None and not block_types:
        names.update(repeated_blocks(model))
    result = {}
    for layer in layers:
        containing = [n for n in names if n == layer or layer.startswith(n + ".")]
        result[layer] = min(containing, key=len) if containing else layer
    return result
