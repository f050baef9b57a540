"""Planning a HAIR network: everything :func:`~hairlayers.hairify` decides before it builds.

:func:`plan_hair` traces the model and returns a :class:`HairPlan` — the split point, which layers
become hyper (and why the others stay static), the blocks with their level, ``N`` and shared weight
box, how each converted layer's rows fold the batch, and the layout of the split features. The plan
is plain data: :func:`~.build.build_hair` turns it into a :class:`~.hair_model.HairModel`, the
summary prints it, :func:`~.specialize.specialize` and :func:`~.specialize.unhairify` read it.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn as nn

from .._checks import positive_int
from ..errors import HairError
from .blocks import block_roots, signature
from .convert import INITS, conversion_for, convertible_types, torch_base
from .folding import probe_folds
from .split import SplitPoint, Stages, find_split
from .trace import IMAGE_OPS, Trace, as_args, default_example_input, downstream_calls, record

MODES = ("hyper", "embed", "free")


@dataclass
class BlockPlan:
    """One block of the hyper half: its layers, level and selecting net."""

    name: str  # module name of the block root (a converted layer itself for a block of one)
    key: str  # its key in HairModel.selectors / .embeddings / .free_givs
    type_name: str
    level: int
    size: tuple[int, int] | None
    num_kernels: int
    layers: list[str]  # converted layers, model-relative names
    box: str | None = None  # key in HairModel.boxes when the block shares a weight box
    embed_channels: int = 0  # mode="embed": width of the block input's channel axis
    embed_axis: int = 1  # mode="embed": 1 for (B, C, ...) maps, -1 for (B, ..., C) tokens


@dataclass
class HairPlan:
    """Everything hairify decided, for the summary, ``specialize`` and ``unhairify``."""

    mode: str
    split: SplitPoint
    stages: str
    levels: list[tuple[int, int]]
    giv_dim: int
    init: str
    share_boxes: bool
    blocks: list[BlockPlan]
    static: dict[str, str] = field(default_factory=dict)  # downstream layers left static -> why
    upstream: int = 0  # convertible layers before the split (untouched)
    original_params: int = 0
    example_shape: tuple[int, ...] = ()
    # converted layer -> how its input rows fold the batch: "batch" (one row per image),
    # "major" (k·B rows, row r from image r // k), "minor" (row r from image r % B); see folding.py
    folds: dict[str, str] = field(default_factory=dict)
    # the split features: "map" (B, C, H, W), "tokens" (channels-last B, H, W, C) or "other"
    features_layout: str = "map"

    def block(self, key: str) -> BlockPlan:
        return next(b for b in self.blocks if b.key == key)


def _matches(name: str, patterns: Sequence[str] | str | None) -> bool:
    if patterns is None:
        return False
    if isinstance(patterns, str):
        patterns = [patterns]
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            if fnmatch.fnmatchcase(name, pattern):
                return True
        elif name == pattern or name.startswith(pattern + "."):
            return True
    return False


def _check_patterns(model: nn.Module, argument: str, patterns: str | Sequence[str] | None) -> None:
    """Every pattern of ``include`` / ``exclude`` must name at least one module of ``model``: a
    typo (``exclude="haed"``) is an error listing close names, not a silent no-op."""
    if patterns is None:
        return
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, Sequence) or not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"{argument} must be a str or a sequence of str patterns, got {patterns!r}")
    if argument == "include" and not patterns:
        raise HairError("include=[] selects no layer: pass None to convert every downstream layer")
    names = [name for name, _ in model.named_modules() if name]
    for pattern in patterns:
        if not any(_matches(name, [pattern]) for name in names):
            close = difflib.get_close_matches(pattern, names, n=5, cutoff=0.5)
            raise HairError(
                f"{argument} pattern {pattern!r} matches no module of {type(model).__name__}"
                + (f"; close names: {close}" if close else f"; top-level modules: {[n for n in names if '.' not in n][:12]}")
            )


def _channels_last(trace: Trace, point: SplitPoint, shape: tuple[int, ...]) -> bool:
    """Whether 4-D split features are channels-last tokens ``(B, H, W, C)``, decided from the traced
    spatial sizes (the image ops' maps) and, when both readings fit, from the module at the split."""
    sizes = {o.size for o in trace.observations} | ({trace.input_size} if trace.input_size else set())
    first, last = tuple(shape[2:]) in sizes, tuple(shape[1:3]) in sizes
    module = trace.calls[point.call].module
    last_dim_op = isinstance(module, (nn.Linear, nn.LayerNorm)) and not isinstance(module, IMAGE_OPS)
    return (last and not first) or (last_dim_op and (last or not first))


def _unique_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _kernels_for(num_kernels: Any, level: int, num_levels: int) -> int:
    if isinstance(num_kernels, bool):
        raise TypeError(f"num_kernels must be an int, a sequence or a mapping, got {num_kernels!r}")
    if isinstance(num_kernels, int):
        value = num_kernels
    elif isinstance(num_kernels, Mapping):
        if level not in num_kernels:
            raise HairError(
                f"num_kernels mapping has no entry for level {level} (levels 1..{num_levels}, 1 = full "
                f"resolution); got keys {sorted(num_kernels)}"
            )
        value = num_kernels[level]
    elif isinstance(num_kernels, Sequence):
        if len(num_kernels) != num_levels:
            raise HairError(
                f"num_kernels as a sequence needs one entry per level, level 1 (full resolution) first: "
                f"the model has {num_levels} levels, got {list(num_kernels)}"
            )
        value = num_kernels[level - 1]
    else:
        raise TypeError(f"num_kernels must be an int, a sequence or a mapping, got {type(num_kernels).__name__}")
    return positive_int(f"num_kernels for level {level}", value)


def _choose_layers(
    model: nn.Module,
    trace: Trace,
    point: SplitPoint,
    downstream: set[int],
    include: str | Sequence[str] | None,
    exclude: str | Sequence[str] | None,
    min_params: int,
    mode: str = "hyper",
) -> tuple[list[str], dict[str, str], int]:
    """Which layers become hyper: ``(converted names, {static name: why}, upstream count)``."""
    converted: list[str] = []
    static: dict[str, str] = {}
    upstream = 0
    calls_by_name: dict[str, list[int]] = {}
    for i, call in enumerate(trace.calls):
        calls_by_name.setdefault(call.name, []).append(i)
    split_call = trace.calls[point.call]
    split_start = split_call.end if point.side == "output" else split_call.order
    for name, module in model.named_modules():
        if not isinstance(module, convertible_types()):
            continue
        indices = calls_by_name.get(name, [])
        down = [i for i in indices if i in downstream]
        if not down:
            if any(trace.calls[i].order >= split_start for i in indices):
                static[name] = "runs after the split, but on features that do not depend on it"
            else:
                upstream += bool(indices)
            continue
        reason = None
        if torch_base(module) is None:
            reason = f"{type(module).__name__} has its own forward"
        elif len(down) != len(indices):
            reason = "also runs before the split (shared with the first half)"
        elif _matches(name, exclude):
            reason = "excluded"
        elif include is not None and not _matches(name, include):
            reason = "not included"
        elif sum(p.numel() for p in module.parameters()) < min_params:
            reason = f"fewer than min_params={min_params} parameters"
        elif not all(trace.calls[i].simple for i in indices) and not conversion_for(module).extra_args:
            reason = "called with extra arguments"
        elif mode == "embed" and trace.batch is not None and any(
                trace.calls[i].in_shape[0] != trace.batch for i in indices):
            # hyper modes attribute folded rows to images (folding.py); an embedding shift is per image
            reason = "its input's leading dimension is not the batch (e.g. B·L tokens; mode='embed')"
        if reason:
            static[name] = reason
        else:
            converted.append(name)
    if not converted:
        ran = [c.name for i, c in enumerate(trace.calls) if i in downstream and c.name][:12]
        raise HairError(
            f"nothing convertible after the split ({point.describe()}): no layer of a convertible type "
            f"({', '.join(t.__name__ for t in convertible_types())}; see register_conversion) runs "
            "downstream of it"
            + (f" (left static: {static})" if static else "")
            + (f"; downstream modules: {ran}" if ran else "; nothing runs downstream of it")
        )
    return converted, static, upstream


def _plan_blocks(
    model: nn.Module,
    trace: Trace,
    path: Stages,
    converted: list[str],
    roots: dict[str, str],
    num_kernels: Any,
    levels: Mapping[str, int] | None,
    share: bool,
    mode: str,
) -> list[BlockPlan]:
    """Group the converted layers into blocks (in execution order) with level, N and box."""
    modules = dict(model.named_modules())
    first_call = {}
    for i, call in enumerate(trace.calls):
        first_call.setdefault(call.name, i)
    by_root: dict[str, list[str]] = {}
    for layer in converted:
        by_root.setdefault(roots[layer], []).append(layer)
    num_levels = len(path.levels())
    plans: list[BlockPlan] = []
    keys: set[str] = set()
    for root, layers in sorted(by_root.items(), key=lambda kv: first_call[kv[0]]):
        first = first_call[root]
        size = path.size_at(trace, first)
        level = path.level_of(size) if size else 1
        for pattern, forced in (levels or {}).items():
            if _matches(root, pattern):
                if not isinstance(forced, int) or isinstance(forced, bool) or forced < 1:
                    raise HairError(f"levels[{pattern!r}] must be a positive int, got {forced!r}")
                level = forced
        key = root.replace(".", "__")
        if key in keys:
            raise HairError(f"two blocks map to the key {key!r}; name them with blocks=")
        keys.add(key)
        in_shape = trace.calls[first].in_shape
        if mode == "embed" and (in_shape is None or not trace.calls[first].arg0):
            raise HairError(f"mode='embed' needs a Tensor as the first input of block {root!r}")
        in_shape = in_shape or ()
        axis = 1 if len(in_shape) == 4 and not isinstance(modules[root], nn.Linear) else -1
        plans.append(BlockPlan(
            root, key, type(modules[root]).__name__, level, size,
            _kernels_for(num_kernels, level, num_levels), layers,
            embed_channels=in_shape[axis] if in_shape else 0, embed_axis=axis,
        ))
    if share:
        groups: dict[tuple, str] = {}
        for block in plans:
            if block.layers == [block.name]:
                continue  # a block of one shares with nobody
            sig = (block.level, signature(modules[block.name]))
            block.box = groups.setdefault(sig, f"level{block.level}_{block.type_name}_{len(groups)}")
    return plans


def _features_layout(trace: Trace, point: SplitPoint) -> str:
    if len(point.shape) != 4:
        return "other"
    return "tokens" if _channels_last(trace, point, point.shape) else "map"


def plan_hair(
    model: nn.Module,
    split: str | int | float = "mid",
    *,
    example_input: Any = None,
    num_kernels: int | Sequence[int] | Mapping[int, int] = 5,
    giv_dim: int | None = None,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    init: str = "copy",
    mode: str = "hyper",
    min_params: int = 0,
    block_types: Sequence[type] | None = None,
    blocks: Sequence[str] | None = None,
    levels: Mapping[str, int] | None = None,
    blocks_only: bool = False,
    share_boxes: bool | None = None,
) -> HairPlan:
    """Trace ``model`` and decide what :func:`~hairlayers.hairify` converts (nothing is changed).

    The arguments are :func:`~hairlayers.hairify`'s planning arguments, with the same meaning.

    Example:
        >>> import torch, torch.nn as nn
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AvgPool2d(2),
        ...                     nn.Conv2d(8, 8, 3, padding=1), nn.ConvTranspose2d(8, 3, 2, stride=2))
        >>> plan = plan_hair(net, example_input=torch.randn(2, 3, 16, 16), num_kernels=[3, 5])
        >>> plan.split.describe(), [(b.name, b.num_kernels) for b in plan.blocks], plan.giv_dim
        ("output of '1' (= input of '2')", [('2', 5), ('3', 5)], 16)
    """
    if mode not in MODES:
        raise HairError(f"mode must be one of {MODES}, got {mode!r}")
    if init not in INITS:
        raise HairError(f"init must be one of {INITS}, got {init!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    args = as_args(example_input) if example_input is not None else (default_example_input(model),)

    _check_patterns(model, "include", include)
    _check_patterns(model, "exclude", exclude)
    trace = record(model, args, fingerprints=True)
    point, path = find_split(trace, split)
    downstream = downstream_calls(model, args, (point.name, point.side), trace)
    converted, static, upstream = _choose_layers(
        model, trace, point, downstream, include, exclude, min_params, mode)
    roots = block_roots(model, converted, block_types, blocks)
    if blocks_only:
        static.update({n: "in no block (blocks_only=True)" for n in converted if roots[n] == n})
        converted = [n for n in converted if roots[n] != n]
        if not converted:
            raise HairError(
                f"blocks_only=True, but no converted layer after the split ({point.describe()}) is "
                "inside a block; name the blocks with block_types= or blocks="
            )
    folds = probe_folds(
        model, args, converted, trace.batch, (point.name, point.side) if mode == "hyper" else None,
    ) if mode != "embed" else {}
    share = (init == "fresh") if share_boxes is None else bool(share_boxes)
    block_plans = _plan_blocks(model, trace, path, converted, roots, num_kernels, levels, share, mode)
    if giv_dim is None:  # the paper's 2C: twice the first convolution's width
        first_conv = next((c for c in trace.calls if isinstance(c.module, nn.Conv2d)), None)
        giv_dim = 2 * first_conv.module.out_channels if first_conv else max(8, point.shape[1] // 4)
    positive_int("giv_dim", giv_dim)
    return HairPlan(
        mode, point, path.text(), path.levels(), giv_dim, init, share, block_plans, static, upstream,
        _unique_params(model), tuple(args[0].shape) if isinstance(args[0], torch.Tensor) else (),
        folds, _features_layout(trace, point),
    )


__all__ = ["MODES", "BlockPlan", "HairPlan", "plan_hair"]
