"""Compute backends of the mixed ops and the rule that picks one.

A backend says *why not* when it cannot run: :meth:`Backend.unavailable` for the environment
(package missing, no GPU) and :meth:`Backend.unsupported` for one call (dtype, device, geometry).
``backend="auto"`` takes the first backend in :func:`list_backends` order that has no reason; an
explicitly named backend that has one raises :class:`~hairlayers.errors.BackendUnavailableError`
with it. There is no silent fallback.

The deformable ops (:func:`~hairlayers.ops.deform_conv2d`,
:func:`~hairlayers.functional.mixed_deform_conv2d`) choose by the same rule among their own
backends (``torchvision``, ``torch``: :data:`hairlayers.ops.deform_conv.DEFORM_BACKENDS`), which
they pass to :func:`choose`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Union

import torch

from ..errors import BackendUnavailableError, HairError
from . import reference, torch_backend
from .geometry import ConvSpec, ConvTransposeSpec


@dataclass(frozen=True)
class Call:
    """What a backend is asked to compute: the op name, the input and the resolved geometry."""

    op: str  # "conv2d" | "conv_transpose2d" | "linear" | "deform_conv2d" | "mixed_deform_conv2d"
    x: torch.Tensor
    spec: Optional[Union[ConvSpec, ConvTransposeSpec]] = None


class Backend:
    """Interface of a compute backend. Subclasses override the ops they implement."""

    name: str = "?"
    description: str = ""

    def unavailable(self) -> str | None:
        """Why this backend cannot run in this environment at all, or ``None``."""
        return None

    def unsupported(self, call: Call) -> str | None:
        """Why this backend cannot compute ``call``, or ``None``."""
        return None

    def declines_auto(self, call: Call) -> str | None:
        """Why ``backend="auto"`` should pass ``call`` on to the next backend although this one
        could run it (e.g. it is measured slower there), or ``None``. Naming the backend explicitly
        ignores this."""
        return None

    def conv2d(self, x, select, weight_box, bias_box, spec: ConvSpec) -> torch.Tensor:
        raise NotImplementedError

    def conv_transpose2d(self, x, select, weight_box, bias_box, spec: ConvTransposeSpec) -> torch.Tensor:
        raise NotImplementedError

    def linear(self, x, select, weight_box, bias_box) -> torch.Tensor:
        raise NotImplementedError

    def deform_conv2d(self, input, offset, weight, bias, mask, spec: ConvSpec, max_elements: int) -> torch.Tensor:
        """A modulated deformable convolution; ``weight`` is ``(C_out, C_in // groups, kH, kW)``
        (op ``"deform_conv2d"``) or per sample ``(B, ...)`` (op ``"mixed_deform_conv2d"``)."""
        raise NotImplementedError


class ReferenceBackend(Backend):
    name = "reference"
    description = "per-sample loop of torch.nn.functional ops: slow, the specification"

    def conv2d(self, x, select, weight_box, bias_box, spec):
        return reference.conv2d(x, select, weight_box, bias_box, spec)

    def conv_transpose2d(self, x, select, weight_box, bias_box, spec):
        return reference.conv_transpose2d(x, select, weight_box, bias_box, spec)

    def linear(self, x, select, weight_box, bias_box):
        return reference.linear(x, select, weight_box, bias_box)


class TorchBackend(Backend):
    name = "torch"
    description = "mixed weights + batched matmul (1x1, linear) or batch-folded grouped conv"

    def conv2d(self, x, select, weight_box, bias_box, spec):
        return torch_backend.conv2d(x, select, weight_box, bias_box, spec)

    def conv_transpose2d(self, x, select, weight_box, bias_box, spec):
        return torch_backend.conv_transpose2d(x, select, weight_box, bias_box, spec)

    def linear(self, x, select, weight_box, bias_box):
        return torch_backend.linear(x, select, weight_box, bias_box)


_REGISTRY: dict[str, Backend] = {}


def register_backend(backend: Backend, *, first: bool = False) -> None:
    """Add ``backend`` to the registry (``first=True`` makes ``"auto"`` try it before the others)."""
    global _REGISTRY
    entries = [(k, v) for k, v in _REGISTRY.items() if k != backend.name]
    entries = [(backend.name, backend)] + entries if first else entries + [(backend.name, backend)]
    _REGISTRY = dict(entries)


def unregister_backend(name: str) -> Backend:
    """Remove a backend from the registry and return it (e.g. to undo :func:`register_backend`)."""
    global _REGISTRY
    backend = get_backend(name)
    _REGISTRY = {k: v for k, v in _REGISTRY.items() if k != name}
    return backend


def list_backends() -> list[str]:
    """Backend names in the order ``backend="auto"`` tries them."""
    return list(_REGISTRY)


def get_backend(name: str, candidates: Mapping[str, Backend] | None = None) -> Backend:
    """The backend called ``name`` in ``candidates`` (default: the registry), else a :class:`HairError`."""
    candidates = _REGISTRY if candidates is None else candidates
    if isinstance(name, str) and name in candidates:
        return candidates[name]
    raise HairError(f"unknown backend {name!r}; expected 'auto' or one of {list(candidates)}")


def reasons(backend: Backend, call: Call) -> str | None:
    """Why ``backend`` cannot compute ``call`` (environment first), or ``None``."""
    return backend.unavailable() or backend.unsupported(call)


def choose(name: str, call: Call, candidates: Mapping[str, Backend] | None = None) -> Backend:
    """The backend that computes ``call``: the named one, or the first capable one for ``"auto"``.

    Args:
        name: ``"auto"`` or a backend name.
        call: what is to be computed.
        candidates: the backends to choose among, in ``"auto"`` order (default: the registry of
            the mixed ops, :func:`list_backends`); an op with backends of its own passes them.
    """
    candidates = _REGISTRY if candidates is None else candidates
    if name != "auto":
        backend = get_backend(name, candidates)
        why = reasons(backend, call)
        if why is not None:
            raise BackendUnavailableError(f"backend {name!r} cannot run this {call.op}: {why}")
        return backend
    why_not = []
    for backend in candidates.values():
        why = reasons(backend, call) or backend.declines_auto(call)
        if why is None:
            return backend
        why_not.append(f"{backend.name}: {why}")
    raise BackendUnavailableError(f"no backend can run this {call.op}: " + "; ".join(why_not))


def _register_defaults() -> None:
    from .triton import TritonBackend

    for backend in (TritonBackend(), TorchBackend(), ReferenceBackend()):
        register_backend(backend)


_register_defaults()
