"""``hairify``: turn any encoder-decoder network into a HAIR network in one call (paper §3.2)."""

from __future__ import annotations

import copy
import difflib
import fnmatch
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..errors import HairError, positive_int
from ..layers import GIVClassifier, HyperLayer, HyperLinear, HyperSelectingNet, WeightBox
from .blocks import block_roots, signature
from .convert import INITS, set_module, to_hyper, torch_base
from .folding import probe_folds
from .routing import (
    BlockSelect,
    EmbedHook,
    FoldedRows,
    SplitHook,
    SplitReached,
    UnfoldRows,
    current_state,
    pop_state,
    push_state,
    using_given_giv,
)
from .split import SplitPoint, Stages, find_split
from .trace import IMAGE_OPS, Trace, as_args, default_example_input, downstream_calls, record

MODES = ("hyper", "embed", "free")
_BASES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)  # what can become hyper (see convert.py)


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


class _TokensToMap(nn.Module):
    """Feeds channels-last split features ``(B, H, W, C)`` to a classifier that reads ``(B, C, H, W)``."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features.permute(0, 3, 1, 2))


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
        if not isinstance(module, _BASES):
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
        elif not all(trace.calls[i].simple for i in indices):
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
            f"nothing convertible after the split ({point.describe()}): no nn.Conv2d, nn.ConvTranspose2d "
            f"or nn.Linear runs downstream of it"
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


class HairModel(nn.Module):
    """A network whose second half is driven by one GIV per image (built by :func:`hairify`).

    Attributes:
        model: the wrapped network; its layers downstream of the split are hyper layers.
        classifier: split features -> GIV ``(B, giv_dim)`` (``None`` in ``mode="free"``).
        selectors: one :class:`~hairlayers.HyperSelectingNet` per block (``"hyper"``, ``"free"``).
        boxes: the shared :class:`~hairlayers.WeightBox` of each level's same-shaped blocks.
        embeddings: per-block GIV projections (``mode="embed"``).
        free_givs: per-block learned GIVs (``mode="free"``).
        plan: the :class:`HairPlan` (what was converted and why).

    ``forward`` has the wrapped model's signature and returns what it returns.

    Example:
        >>> import torch, torch.nn as nn
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2),
        ...                     nn.Conv2d(8, 8, 3, padding=1), nn.Upsample(scale_factor=2),
        ...                     nn.Conv2d(8, 3, 3, padding=1))
        >>> hair = hairify(net, example_input=torch.randn(2, 3, 16, 16), num_kernels=3)
        >>> x = torch.randn(2, 3, 16, 16)
        >>> hair(x).shape, hair.giv(x).shape
        (torch.Size([2, 3, 16, 16]), torch.Size([2, 16]))
        >>> torch.allclose(hair(x), net(x), atol=1e-5)       # init="copy": same function at step 0
        True
    """

    def __init__(self, model: nn.Module, plan: HairPlan, classifier: nn.Module | None,
                 hsn_hidden: Sequence[int]) -> None:
        super().__init__()
        self.model = model
        self.plan = plan
        self.token = uuid.uuid4().hex
        self.classifier = classifier
        self.selectors = nn.ModuleDict()
        self.boxes = nn.ModuleDict()
        self.embeddings = nn.ModuleDict()
        self.free_givs = nn.ParameterDict()
        self._originals: dict[str, nn.Module] = {}
        self._symmetry_checked = False
        param = next(model.parameters(), None)
        factory = {"device": param.device, "dtype": param.dtype} if param is not None else {}
        for block in plan.blocks:
            if plan.mode == "embed":
                proj = nn.Linear(plan.giv_dim, block.embed_channels, **factory)
                nn.init.zeros_(proj.weight)  # zero shift at step 0: the original function
                nn.init.zeros_(proj.bias)
                self.embeddings[block.key] = proj
            else:
                self.selectors[block.key] = HyperSelectingNet(
                    plan.giv_dim, block.num_kernels, hsn_hidden, **factory)
            if plan.mode == "free":
                self.free_givs[block.key] = nn.Parameter(torch.randn(plan.giv_dim, **factory))

    # --- the GIV route -------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        opened = push_state(self)
        try:
            out = self.model(*args, **kwargs)
        finally:
            pop_state(opened)
        if not torch.compiler.is_compiling() and self.training and not getattr(self, "_symmetry_checked", True):
            self._check_on_backward(out)
        return out

    def _check_on_backward(self, out: Any) -> None:
        """Until the first backward pass through this model: check the experts then (a training
        step, not any forward in training mode, is what init='copy' must not start from)."""
        first = out if isinstance(out, torch.Tensor) else next(
            (t for t in (out.values() if isinstance(out, Mapping) else out if isinstance(out, (tuple, list)) else ())
             if isinstance(t, torch.Tensor)), None)
        if first is None or not first.requires_grad:
            return

        def on_backward(grad: torch.Tensor) -> None:
            if not self._symmetry_checked:
                self._symmetry_checked = True  # once per model: the check compares every weight box
                self.warn_if_experts_identical()

        first.register_hook(on_backward)

    def _route(self, features: torch.Tensor) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Called by the split hook: the GIV and every block's ``(B, N)`` selecting vector."""
        batch = features.shape[0]
        if self.plan.mode == "free":
            selects = {k: self.selectors[k](g.unsqueeze(0)).expand(batch, -1)
                       for k, g in self.free_givs.items()}
            return None, selects
        opened = current_state(self.token)
        given = opened.given_giv if opened is not None else None
        if given is not None:
            giv = given.expand(batch, -1) if given.shape[0] == 1 else given
        else:
            giv = self.classifier(features)
        if not isinstance(giv, torch.Tensor) or giv.dim() != 2 or giv.shape != (batch, self.plan.giv_dim):
            shape = tuple(giv.shape) if isinstance(giv, torch.Tensor) else type(giv).__name__
            source = "the GIV given to using_giv" if given is not None else (
                f"the classifier's output for the split features {tuple(features.shape)}")
            raise HairError(
                f"{source} must have shape (B, giv_dim) = ({batch}, {self.plan.giv_dim}), got {shape}"
            )
        if self.plan.mode == "embed":
            return giv, {}
        return giv, {key: hsn(giv) for key, hsn in self.selectors.items()}

    def _embed_shift(self, key: str, giv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        block = self.plan.block(key)
        shift = self.embeddings[key](giv)
        if x.shape[0] != giv.shape[0]:
            raise HairError(f"block {block.name!r} got a batch of {x.shape[0]} but the GIV has {giv.shape[0]}")
        if block.embed_axis == 1:
            return shift.reshape(shift.shape[0], shift.shape[1], *([1] * (x.dim() - 2)))
        return shift.reshape(shift.shape[0], *([1] * (x.dim() - 2)), shift.shape[1])

    def _capture(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Run the model up to the split point only; return the GIV and the selecting vectors."""
        opened = push_state(self, stop_at_split=True)
        try:
            self.model(*args, **kwargs)
        except SplitReached as reached:
            return reached.giv, reached.selects
        finally:
            pop_state(opened)
        raise HairError(f"the split point ({self.plan.split.describe()}) did not run on this input")

    @property
    def computes_giv(self) -> bool:
        """Whether this model computes a per-image GIV (every mode but ``"free"``)."""
        return self.plan.mode != "free"

    def giv(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The Global Information Vector ``(B, giv_dim)`` of a batch (runs the first half only).

        Raises:
            HairError: in ``mode="free"``, which has no classifier.
        """
        if self.plan.mode == "free":
            raise HairError("mode='free' has no classifier and no per-image GIV (each block learns its own)")
        giv, _ = self._capture(*args, **kwargs)
        assert giv is not None
        return giv

    def using_giv(self, giv: torch.Tensor) -> using_given_giv:
        """Context manager: forward passes inside use ``giv`` instead of the classifier's GIV.

        For tiled inference (one GIV of the whole image for every tile, see
        :func:`hairlayers.restore`) and for studying what the GIV does. A ``(1, giv_dim)`` GIV
        is broadcast to the batch.

        Example:
            >>> import torch, torch.nn as nn
            >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2),
            ...                     nn.ConvTranspose2d(4, 3, 2, stride=2))
            >>> hair = hairify(net, example_input=torch.randn(2, 3, 8, 8), giv_dim=6, init="fresh")
            >>> image, tile = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 8, 8)
            >>> with hair.using_giv(hair.giv(image)):
            ...     out = hair(tile)
            >>> out.shape
            torch.Size([1, 3, 8, 8])
        """
        if self.plan.mode == "free":
            raise HairError("mode='free' has no per-image GIV to replace (each block learns its own)")
        if not isinstance(giv, torch.Tensor) or giv.dim() != 2 or giv.shape[1] != self.plan.giv_dim:
            shape = tuple(giv.shape) if isinstance(giv, torch.Tensor) else type(giv).__name__
            raise HairError(f"using_giv expects a GIV of shape (B, {self.plan.giv_dim}), got {shape}")
        return using_given_giv(self.token, giv)

    def selects(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Every block's ``(B, N)`` selecting vector for a batch, keyed by block name."""
        _, selects = self._capture(*args, **kwargs)
        return {self.plan.block(k).name: v for k, v in selects.items()}

    # --- training ------------------------------------------------------------------------------

    def train(self, mode: bool = True) -> "HairModel":
        """Set training mode (``nn.Module.train``); warns when ``init="copy"`` experts are still
        identical (see :meth:`warn_if_experts_identical`)."""
        if mode:
            self.warn_if_experts_identical(stacklevel=3)
        return super().train(mode)

    def experts_identical(self) -> bool:
        """Whether every trainable weight box (with N > 1) still holds N copies of one kernel.

        That is the state ``init="copy"`` starts in, and a bad one to train from: a mix of equal
        kernels does not depend on the selecting vector, so the selecting nets and the classifier
        get no gradient, and the experts' updates differ only through the initial selections
        (``Σ_b select[b, i] · grad_b`` for expert ``i``). The per-image kernels can stay (nearly)
        equal for a long time.

        Example:
            >>> import torch, torch.nn as nn
            >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(4, 3, 1))
            >>> x = torch.randn(2, 3, 8, 8)
            >>> hairify(net, example_input=x).experts_identical()
            True
            >>> hairify(net, example_input=x, init="copy+noise").experts_identical()
            False
        """
        boxes = [p for m in self.model.modules() if isinstance(m, HyperLayer)
                 for p in (m.weight_box,) if p.requires_grad and p.shape[0] > 1 and not p.is_meta]
        if not boxes:
            return False
        with torch.no_grad():
            return all(torch.equal(p, p[:1].expand_as(p)) for p in {id(p): p for p in boxes}.values())

    def warn_if_experts_identical(self, stacklevel: int = 2) -> bool:
        """Warn (``UserWarning``) when a model hairified with ``init="copy"`` is trained while its
        experts are still identical (:meth:`experts_identical`): training from there may leave the
        per-image kernels (nearly) equal. Called by :meth:`train` and by the first backward pass
        through a forward in training mode; returns whether it warned."""
        if self.plan.init != "copy" or self.plan.mode == "embed" or not self.experts_identical():
            return False
        warnings.warn(
            "this HairModel was hairified with init='copy' and every expert of its weight boxes is "
            "still the same kernel, so training may leave the per-image kernels (nearly) equal: a mix of "
            "identical experts does not depend on the selecting vector, so the selecting nets and the "
            "classifier get no gradient, and the experts' updates differ only through the initial "
            "selections. To train, hairify with init='copy+noise' (the original function up to "
            "noise x std(weight) per expert) or init='fresh'; init='copy' is for using the pretrained "
            "function as it is (eval).",
            UserWarning, stacklevel=stacklevel,
        )
        return True

    # --- reporting -----------------------------------------------------------------------------

    def summary(self) -> str:
        """A table of what was converted, grouped by level and block, and why the split is there."""
        from .summary import summary_text

        return summary_text(self)

    def extra_repr(self) -> str:
        return self.summary()


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
    if mode not in MODES:
        raise HairError(f"mode must be one of {MODES}, got {mode!r}")
    if init not in INITS:
        raise HairError(f"init must be one of {INITS}, got {init!r}")
    if mode == "free" and classifier is not None:
        raise HairError("mode='free' has no classifier (each block learns its own GIV); drop classifier=")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(model, HairModel):
        raise HairError("the model is already a HairModel; unhairify it first")
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
    plans = _plan_blocks(model, trace, path, converted, roots, num_kernels, levels, share, mode)
    split_call = trace.calls[point.call]

    # --- classifier ----------------------------------------------------------------------------
    features = split_call.out if point.side == "output" else split_call.inp
    if giv_dim is None:
        first_conv = next((c for c in trace.calls if isinstance(c.module, nn.Conv2d)), None)
        giv_dim = 2 * first_conv.module.out_channels if first_conv else max(8, point.shape[1] // 4)
    positive_int("giv_dim", giv_dim)
    if mode != "free" and classifier is None:
        if len(features.shape) != 4:
            raise HairError(
                f"the split features have shape {features.shape}, not (B, C, H, W): the default "
                "GIVClassifier needs a feature map; pass classifier= (features -> (B, giv_dim))"
            )
        if _channels_last(trace, point, features.shape):
            classifier = _TokensToMap(GIVClassifier(features.shape[3], giv_dim))
        else:
            classifier = GIVClassifier(features.shape[1], giv_dim)
        classifier = classifier.to(features.device, features.dtype)

    plan = HairPlan(
        mode, point, path.text(), path.levels(), giv_dim, init, share, plans, static, upstream,
        _unique_params(model), tuple(args[0].shape) if isinstance(args[0], torch.Tensor) else (),
        folds,
    )
    del trace, features, split_call

    # --- build ---------------------------------------------------------------------------------
    target = model if inplace else copy.deepcopy(model)
    hair = HairModel(target, plan, classifier, hsn_hidden)
    target_modules = dict(target.named_modules())
    if mode == "embed":
        for block in plans:
            target_modules[block.name].register_forward_pre_hook(EmbedHook(hair.token, block.key))
    else:
        for block in plans:
            if block.box is not None and block.box not in hair.boxes:
                hair.boxes[block.box] = WeightBox(block.num_kernels)
            for name in block.layers:
                original = target_modules[name]
                hair._originals[name] = copy.deepcopy(original)
                layer = to_hyper(original, block.num_kernels, init, noise)
                if block.box is not None:
                    role = name[len(block.name) + 1:]
                    hair.boxes[block.box].share(role, layer)
                layer.select_provider = BlockSelect(hair.token, block.key, name)
                fold = folds.get(name, "batch")
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
    split_module = target.get_submodule(point.name)
    hook = SplitHook(hair.token, point.side)
    if point.side == "output":
        split_module.register_forward_hook(hook)
    else:
        split_module.register_forward_pre_hook(hook)
    return hair

