"""The GIV protocol: how any HAIR model, hairified or hand-built, shares its Global Information Vector.

A model speaks it when it has

* ``giv(x)`` — the ``(B, giv_dim)`` GIV of a batch (the first half and the classifier only);
* ``using_giv(giv)`` — a context manager under which forward passes use ``giv`` instead of the
  classifier's (a ``(1, giv_dim)`` GIV is broadcast to the batch);
* ``computes_giv`` — false for models that learn fixed GIVs (``hairify(mode="free")``).

:func:`hairlayers.restore` relies on it to give every tile the GIV of the whole image, the
diagnostics to record GIVs. :class:`~hairlayers.HairModel` implements it; a hand-built model whose
forward takes ``giv=`` gets ``using_giv`` from :class:`GIVInput`.

Given GIVs live in a context variable (per thread and task) keyed by the model's token, and in a
plain dict of stacks that compiled code can read (TorchDynamo cannot trace ``ContextVar.get``).
"""

from __future__ import annotations

import contextvars
import uuid
from typing import Any, Protocol, runtime_checkable

import torch

from ._checks import describe
from .errors import HairError

_GIVEN: contextvars.ContextVar[dict[str, torch.Tensor] | None] = contextvars.ContextVar(
    "hairlayers_given_givs", default=None
)
_GIVEN_STACKS: dict[str, list[torch.Tensor]] = {}


@runtime_checkable
class GIVModel(Protocol):
    """What :func:`is_hair_model` checks for (see the module docstring)."""

    computes_giv: bool

    def giv(self, *args: Any, **kwargs: Any) -> torch.Tensor: ...

    def using_giv(self, giv: torch.Tensor) -> "GivenGIV": ...


def is_hair_model(model: object) -> bool:
    """True for models that compute a per-image GIV and accept a given one (:class:`GIVModel`).

    A hairified model in ``mode="free"`` learns one GIV per block instead (``computes_giv`` is
    false): it is tiled like any other model.

    Example:
        >>> from hairlayers.models import create_model
        >>> is_hair_model(create_model("res_hair", preset="tiny")), is_hair_model(create_model("restormer", preset="tiny"))
        (True, False)
    """
    return isinstance(model, GIVModel) and bool(model.computes_giv)


def check_giv(
    giv: object, giv_dim: int, batch: int | None = None, *, broadcast: bool = True,
    expected: str = "giv must have shape",
) -> torch.Tensor:
    """``giv`` when it is a ``(B, giv_dim)`` Tensor, else a :class:`HairError` saying what was
    expected (``expected`` starts the message) and what came.

    With ``batch``, ``B`` must be ``batch`` (or 1 when ``broadcast``, one GIV for every image).

    Example:
        >>> check_giv(torch.zeros(2, 4), 4, batch=3)
        Traceback (most recent call last):
        ...
        hairlayers.errors.HairError: giv must have shape (B, giv_dim) = (3 or 1, 4), got (2, 4)
    """
    ok = isinstance(giv, torch.Tensor) and giv.dim() == 2 and giv.shape[1] == giv_dim
    if ok and batch is not None:
        ok = giv.shape[0] == batch or (broadcast and giv.shape[0] == 1)
    if not ok:
        rows = "B" if batch is None else f"{batch} or 1" if broadcast and batch != 1 else str(batch)
        raise HairError(f"{expected} (B, giv_dim) = ({rows}, {giv_dim}), got {describe(giv)}")
    return giv  # type: ignore[return-value]


def given_giv(token: str) -> torch.Tensor | None:
    """The GIV set by the innermost open ``using_giv`` of the model with this token, if any."""
    if not torch.compiler.is_compiling():
        given = _GIVEN.get()
        if given is not None and token in given:
            return given[token]
    stack = _GIVEN_STACKS.get(token)
    return stack[-1] if stack else None


class GivenGIV:
    """The context manager ``using_giv`` returns (both stores, restored on exit)."""

    def __init__(self, token: str, giv: torch.Tensor) -> None:
        self.token, self.giv = token, giv
        self._context_token: contextvars.Token | None = None

    def __enter__(self) -> torch.Tensor:
        _GIVEN_STACKS.setdefault(self.token, []).append(self.giv)
        self._context_token = _GIVEN.set({**(_GIVEN.get() or {}), self.token: self.giv})
        return self.giv

    def __exit__(self, *exc: Any) -> None:
        stack = _GIVEN_STACKS.get(self.token, [])
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is self.giv:
                del stack[i]
                break
        assert self._context_token is not None
        _GIVEN.reset(self._context_token)


class GIVInput:
    """Mixin for an ``nn.Module`` with a ``giv(x)`` method, a ``giv_dim`` attribute and a forward
    that takes ``giv=``: adds ``using_giv`` and :meth:`resolve_giv`, which the forward calls.

    Example:
        >>> import torch, torch.nn as nn
        >>> class Shift(GIVInput, nn.Module):
        ...     giv_dim = 3
        ...     def giv(self, x):
        ...         return x.mean(dim=(2, 3))
        ...     def forward(self, x, giv=None):
        ...         giv = self.resolve_giv(giv, x.shape[0])
        ...         return x + (self.giv(x) if giv is None else giv)[:, :, None, None]
        >>> net, x = Shift(), torch.zeros(2, 3, 4, 4)
        >>> with net.using_giv(torch.ones(1, 3)):
        ...     net(x).mean().item()
        1.0
    """

    computes_giv = True

    @property
    def giv_token(self) -> str:
        """The key of this model's given GIVs (kept by copies, so DataParallel replicas see them)."""
        token = self.__dict__.get("_giv_token")
        if token is None:
            token = self.__dict__["_giv_token"] = uuid.uuid4().hex
        return token

    def using_giv(self, giv: torch.Tensor) -> GivenGIV:
        """Context manager: forward passes inside use ``giv`` ``(B, giv_dim)`` or ``(1, giv_dim)``
        instead of the classifier's GIV (tiled inference, studying what the GIV does)."""
        if not self.computes_giv:
            raise HairError(f"{type(self).__name__} has no per-image GIV to replace")
        return GivenGIV(self.giv_token, check_giv(giv, self.giv_dim, expected="using_giv expects a GIV of shape"))

    def resolve_giv(self, giv: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """The GIV a forward uses, expanded to ``batch`` rows: ``giv`` when given, else the one of
        an open :meth:`using_giv`, else ``None`` (compute it from the image)."""
        expected = "giv must have shape"
        if giv is None:
            giv, expected = given_giv(self.giv_token), "the GIV given to using_giv must have shape"
        if giv is None:
            return None
        return check_giv(giv, self.giv_dim, batch, expected=expected).expand(batch, -1)


__all__ = ["GIVInput", "GIVModel", "GivenGIV", "check_giv", "given_giv", "is_hair_model"]
