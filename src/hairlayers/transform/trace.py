"""A hooked forward pass: which modules run, in what order, on what shapes, and what depends on what.

``torch.fx`` cannot trace models that call ``einops`` or branch on shapes (Restormer does both),
so hairify watches an ordinary forward pass instead: a pre- and a post-hook on every module record
each call's position in the execution order, its first input and its output. Dependence on the
split point is measured, not inferred: the model runs a second time with noise added to the split
features, and every module call whose inputs changed is *downstream* of the split. That is exact
for "depends on" whatever functional code sits between modules (einops, pixel shuffles, torch.cat).

Both passes run under ``torch.no_grad()`` in eval mode (BatchNorm statistics and dropout masks are
not touched; the training flag is restored afterwards).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn as nn

from .._checks import describe
from ..errors import HairError

# Leaf modules whose 4-D inputs/outputs are images (B, C, H, W); their spatial sizes define the
# resolution path. Other modules (Linear, LayerNorm, ...) may hold (B, H, W, C) tensors.
IMAGE_OPS: tuple[type, ...] = (
    nn.Conv2d,
    nn.ConvTranspose2d,
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.Upsample,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
)


@dataclass(frozen=True)
class TensorInfo:
    """What the trace keeps of a tensor: a tag standing for its identity, and its metadata.

    Tensors are not kept alive (a full-size Restormer pass would hold >1 GB); each is tagged with
    a Python attribute instead, so "is this the same tensor" survives the tensor being freed.
    """

    tag: int
    shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device


@dataclass
class ModuleCall:
    """One call of one module during the recorded forward pass."""

    name: str
    module: nn.Module
    order: int  # event counter when the call started
    end: int = -1  # event counter when it returned
    simple: bool = True  # exactly one positional Tensor argument and no keyword arguments
    arg0: bool = True  # the first positional argument is the Tensor ``inp``
    inp: TensorInfo | None = None  # first Tensor argument
    out: TensorInfo | None = None  # output, when it is a Tensor
    fingerprint: tuple = ()

    @property
    def in_shape(self) -> tuple[int, ...] | None:
        return self.inp.shape if self.inp is not None else None


@dataclass
class Observation:
    """A spatial size seen on an image op's input (at ``call.order``) or output (at ``call.end``)."""

    call: int  # index into Trace.calls
    side: str  # "input" or "output"
    at: int
    size: tuple[int, int]


@dataclass
class Trace:
    """Everything one recorded forward pass saw."""

    calls: list[ModuleCall]
    observations: list[Observation]
    input_size: tuple[int, int] | None
    batch: int | None
    counts: dict[str, int] = field(default_factory=dict)


def as_args(example_input: Any) -> tuple:
    """Normalise ``example_input`` to a tuple of positional arguments."""
    if isinstance(example_input, torch.Tensor):
        return (example_input,)
    if isinstance(example_input, (tuple, list)):
        return tuple(example_input)
    raise TypeError(
        f"example_input must be a Tensor or a tuple of positional arguments, got {type(example_input).__name__}"
    )


def default_example_input(model: nn.Module) -> torch.Tensor:
    """A random ``(2, C, 64, 64)`` batch in [0, 1), ``C`` from the first ``nn.Conv2d`` of the model."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise HairError("the model has no nn.Conv2d to infer its input channels from: pass example_input=")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, conv.in_channels, 64, 64, generator=gen)
    return x.to(device=conv.weight.device, dtype=conv.weight.dtype)


def _tensors(args: Sequence[Any], kwargs: dict) -> list[torch.Tensor]:
    return [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]


_TAG = "_hairlayers_trace_tag"
_TAGS = itertools.count(1)  # global: a tensor that outlives one pass keeps a tag no other gets


def _info(t: Any) -> TensorInfo | None:
    if not isinstance(t, torch.Tensor):
        return None
    tag = getattr(t, _TAG, None)
    if tag is None:
        tag = next(_TAGS)
        setattr(t, _TAG, tag)
    return TensorInfo(tag, tuple(t.shape), t.dtype, t.device)


def _fingerprint(tensors: list[torch.Tensor]) -> tuple:
    # Identical inputs give identical sums (same kernels, same order); the noise of the
    # dependence pass is as large as the features, so any dependent input changes them.
    prints = []
    for t in tensors:
        d = t.detach()
        if d.is_floating_point():
            d = d.float()
            prints.append((tuple(t.shape), float(d.sum()), float(d.abs().sum())))
        elif d.is_complex():
            prints.append((tuple(t.shape), complex(d.sum())))
        else:
            prints.append((tuple(t.shape), int(d.long().sum())))
    return tuple(prints)


def _perturbed(t: torch.Tensor) -> torch.Tensor:
    gen = torch.Generator(device=t.device).manual_seed(0)
    noise = torch.randn(t.shape, generator=gen, device=t.device, dtype=t.dtype)
    return t + noise * (t.detach().std() + 1) if t.numel() > 1 else t + 1


def run_model(model: nn.Module, args: tuple, seed: int | None = None) -> None:
    """Run ``model(*args)`` once in eval mode under ``torch.no_grad()`` (the training flag is
    restored); with ``seed``, inside a forked random state seeded with it, so that passes of a
    model that draws random numbers in eval mode compare like with like.

    Raises:
        HairError: when the model rejects the input (the message names the input's shapes).
    """
    was_training = model.training
    model.eval()
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            model(*args)
    except HairError:
        raise
    except Exception as error:
        shapes = [describe(a) for a in args]
        raise HairError(
            f"running the model on the example input {shapes} failed ({type(error).__name__}: "
            f"{error}); pass example_input= with a shape the model accepts"
        ) from error
    finally:
        model.train(was_training)


def record(
    model: nn.Module, args: tuple, perturb: tuple[str, str] | None = None, fingerprints: bool = False
) -> Trace:
    """Run ``model(*args)`` once with recording hooks on every module.

    Args:
        model: the network.
        args: positional arguments of its forward.
        perturb: ``(module_name, side)``: add noise to that module's ``"output"`` or first
            ``"input"`` (the dependence pass).
        fingerprints: store a checksum of every call's Tensor inputs.

    Returns:
        The :class:`Trace`.
    """
    calls: list[ModuleCall] = []
    observations: list[Observation] = []
    open_calls: dict[int, list[int]] = {}
    counter = [0]
    handles = []

    def pre_hook(name: str):
        def hook(module: nn.Module, hargs: tuple, hkwargs: dict) -> None:
            tensors = _tensors(hargs, hkwargs)
            first = next((a for a in hargs if isinstance(a, torch.Tensor)), None)
            call = ModuleCall(
                name, module, counter[0],
                simple=len(hargs) == 1 and isinstance(hargs[0], torch.Tensor) and not hkwargs,
                arg0=bool(hargs) and isinstance(hargs[0], torch.Tensor),
                inp=_info(first),
                fingerprint=_fingerprint(tensors) if fingerprints else (),
            )
            counter[0] += 1
            open_calls.setdefault(id(module), []).append(len(calls))
            if isinstance(module, IMAGE_OPS) and first is not None and first.dim() == 4:
                observations.append(Observation(len(calls), "input", call.order, tuple(first.shape[-2:])))
            calls.append(call)

        return hook

    def post_hook(module: nn.Module, hargs: tuple, hkwargs: dict, output: Any) -> None:
        index = open_calls[id(module)].pop()
        call = calls[index]
        call.end, call.out = counter[0], _info(output)
        counter[0] += 1
        if isinstance(module, IMAGE_OPS) and isinstance(output, torch.Tensor) and output.dim() == 4:
            observations.append(Observation(index, "output", call.end, tuple(output.shape[-2:])))

    named = list(model.named_modules())
    modules = dict(named)
    try:
        if perturb is not None:
            target, side = modules[perturb[0]], perturb[1]
            if side == "output":
                handles.append(target.register_forward_hook(lambda m, a, out: _perturbed(out)))
            else:
                handles.append(target.register_forward_pre_hook(
                    lambda m, a: (_perturbed(a[0]), *a[1:]), prepend=True))
        for name, module in named:
            handles.append(module.register_forward_pre_hook(pre_hook(name), with_kwargs=True))
            handles.append(module.register_forward_hook(post_hook, with_kwargs=True, always_call=False))
        run_model(model, args)
    finally:
        for handle in handles:
            handle.remove()
        for arg in args:  # the caller's tensors: leave no trace of the trace
            if isinstance(arg, torch.Tensor) and hasattr(arg, _TAG):
                delattr(arg, _TAG)
    first = args[0] if args and isinstance(args[0], torch.Tensor) else None
    input_size = tuple(first.shape[-2:]) if first is not None and first.dim() == 4 else None
    counts: dict[str, int] = {}
    for call in calls:
        counts[call.name] = counts.get(call.name, 0) + 1
    return Trace(calls, observations, input_size, first.shape[0] if first is not None else None, counts)


def downstream_calls(model: nn.Module, args: tuple, split: tuple[str, str], base: Trace) -> set[int]:
    """Indices of the calls in ``base`` whose inputs change when the split features change.

    ``base`` must have been recorded with ``fingerprints=True``. Calls that started before the
    split point ran are never downstream (they cannot depend on it, whatever the checksums say).
    """
    perturbed = record(model, args, perturb=split, fingerprints=True)
    if [c.name for c in perturbed.calls] != [c.name for c in base.calls]:
        raise HairError(
            "the model ran different modules when the split features changed (data-dependent control "
            "flow); hairify cannot tell what is downstream: name the modules with include="
        )
    name, side = split
    split_call = next(c for c in base.calls if c.name == name)
    start = split_call.end if side == "output" else split_call.order
    return {
        i for i, (a, b) in enumerate(zip(base.calls, perturbed.calls))
        if a.order >= start and a.fingerprint != b.fingerprint
    }
