"""``HairModel.summary()``: what hairify did, grouped by level and block, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn as nn

from ..layers import HyperLayer

if TYPE_CHECKING:  # pragma: no cover
    from .hair_model import HairModel


def _count(modules: list[nn.Module]) -> int:
    seen: set[int] = set()
    total = 0
    for module in modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
    return total


def _size(size: tuple[int, int] | None) -> str:
    return "?" if size is None else f"{size[0]}×{size[1]}"


def summary_text(hair: "HairModel") -> str:
    """The summary table of a :class:`HairModel` (see :meth:`HairModel.summary`)."""
    plan = hair.plan
    levels = ", ".join(f"{i + 1}: {_size(s)}" for i, s in enumerate(plan.levels))
    lines = [
        (f"HairModel  mode={plan.mode}  init={plan.init}  giv_dim={plan.giv_dim}  "
         f"shared boxes={'yes' if plan.share_boxes else 'no'}"),
        (f"split: {plan.split.describe()}, features {tuple(plan.split.shape)} on an example input "
         f"{plan.example_shape}"),
        f"  why: {plan.split.reason}",
        f"levels (1 = full resolution): {levels}",
    ]
    modules = dict(hair.model.named_modules())
    for level in sorted({b.level for b in plan.blocks}, reverse=True):
        blocks = [b for b in plan.blocks if b.level == level]
        size = _size(plan.levels[level - 1]) if level <= len(plan.levels) else "set by levels="
        if plan.mode == "embed":
            lines.append(f"level {level} ({size}), GIV embedding added to each block's input:")
        else:
            lines.append(f"level {level} ({size}), N={blocks[0].num_kernels}:")
        for block in blocks:
            box = f"  box {block.box}" if block.box else ""
            what = (f"{block.embed_channels}-channel shift, {len(block.layers)} layer(s) inside"
                    if plan.mode == "embed" else f"{len(block.layers)} hyper layer(s)")
            lines.append(f"  {block.name} [{block.type_name}] {what}{box}")
            if block.layers != [block.name]:
                rel = [n[len(block.name) + 1:] for n in block.layers]
                lines.append(f"    {', '.join(rel)}")
    orders = {"major": "batch-major, rows of image b together: (B·k, ...) reshapes",
              "minor": "batch-minor, row r from image r % B: (k·B, ...) stacks"}
    for fold, what in orders.items():
        names = [n for n, f in plan.folds.items() if f == fold]
        if names:
            lines.append(f"folded batch ({what}), each row gets its image's kernels: {', '.join(names)}")
    if plan.static:
        lines.append("left static after the split:")
        lines += [f"  {name}: {why}" for name, why in plan.static.items()]
    lines.append(f"untouched before the split: {plan.upstream} conv/linear layer(s)")
    added = _count([hair]) - plan.original_params
    parts = {
        "classifier": _count([hair.classifier]) if hair.classifier is not None else 0,
        "selecting nets": _count([hair.selectors]),
        "embeddings": _count([hair.embeddings]),
        "free GIVs": _count([hair.free_givs]),
    }
    hyper = [modules[n] for b in plan.blocks for n in b.layers if isinstance(modules.get(n), HyperLayer)]
    parts["weight boxes (net of the originals)"] = _count(hyper) - _count(
        [hair.originals[n] for b in plan.blocks for n in b.layers
         if n in hair.originals and isinstance(modules.get(n), HyperLayer)])
    detail = ", ".join(f"{k} {v:,}" for k, v in parts.items() if v)
    lines.append(
        f"parameters: original {plan.original_params:,}, HAIR {_count([hair]):,} "
        f"(+{added:,}: {detail})"
    )
    return "\n".join(lines)
