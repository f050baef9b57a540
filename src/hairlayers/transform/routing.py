"""How the GIV reaches the hyper layers without touching the model's own forward code.

``HairModel.forward`` opens a *call state* for the duration of one forward pass and closes it in
``finally``. A forward hook on the split module (:class:`SplitHook`) runs the classifier on the
split features and the selecting net of every block, and stores the ``(B, N)`` selecting vectors
in that state. Each hyper layer's ``select_provider`` (a :class:`BlockSelect`) reads its block's
vector from the state.

Why a :class:`contextvars.ContextVar`:

* it is per thread (``nn.DataParallel`` runs its replicas in threads) and per task;
* nested calls (a HAIR model inside another, or ``hair.giv`` inside a forward) push and pop
  their own entry, keyed by the model's token, so no call sees another's vectors;
* a layer called outside a forward, or before the split has run, finds no vector and raises —
  a stale vector from an earlier batch can never be reused;
* TorchDynamo cannot trace a ContextVar, so compiled code keeps the states in a plain dict of
  stacks keyed by the model's token instead (see :func:`current_state`). A whole-graph compile
  (no graph breaks) keeps the state inside the graph; with graph breaks, two threads running the
  *same compiled* HairModel at once could see each other's vectors — eager calls never can.

Hooks and providers are small stateless objects (a token and a key), not closures over the
wrapper, so ``copy.deepcopy``, pickling and DataParallel replication give each copy hooks that
read the copy's own state.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ..errors import HairError
from .folding import expand_select

if TYPE_CHECKING:  # pragma: no cover
    from .hair_model import HairModel

_STATES: contextvars.ContextVar[dict[str, "CallState"] | None] = contextvars.ContextVar(
    "hairlayers_call_states", default=None
)
# TorchDynamo cannot trace ContextVar.get (torch 2.13), so compiled code keeps its states in a
# plain dict of stacks (token -> open states). Eager calls push there too, because Dynamo may run
# HairModel.forward eagerly and compile the inner frames (hooks, layers) on their own.
_STACKS: dict[str, list["CallState"]] = {}


class SplitReached(Exception):
    """Raised by the split hook to stop a forward early (used by ``HairModel.giv``)."""

    def __init__(self, giv: torch.Tensor | None, selects: dict[str, torch.Tensor]) -> None:
        super().__init__("split reached")
        self.giv, self.selects = giv, selects


@dataclass(eq=False)
class CallState:
    """What one forward pass of one HAIR model knows: the GIV and each block's selecting vector."""

    hair: "HairModel"
    stop_at_split: bool = False
    compiled: bool = False
    giv: torch.Tensor | None = None
    selects: dict[str, torch.Tensor] = field(default_factory=dict)
    split_done: bool = False
    regrouped: list[str] = field(default_factory=list)  # folded Linear layers now running on (B, k, ...)


def push_state(hair: "HairModel", stop_at_split: bool = False) -> tuple[CallState, Any]:
    """Open a fresh call state for ``hair``; pass the result to :func:`pop_state` in ``finally``."""
    compiling = torch.compiler.is_compiling()
    state = CallState(hair, stop_at_split, compiling)
    _STACKS.setdefault(hair.token, []).append(state)
    if compiling:
        return state, None
    outer = _STATES.get()
    return state, _STATES.set({**(outer or {}), hair.token: state})


def pop_state(opened: tuple[CallState, Any]) -> None:
    """Close a call state (whatever happened during the call)."""
    state, context_token = opened
    # Empty stacks stay in the dict: deleting them would race with a thread pushing onto them.
    stack = _STACKS.get(state.hair.token, [])
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is state:
            del stack[i]
            break
    if context_token is not None:
        _STATES.reset(context_token)


def current_state(token: str) -> CallState | None:
    """The open call state of the HAIR model with this token, or ``None`` outside its forward.

    Eager code reads the context variable (per thread and task). Compiled code, and eager code
    between two compiled graphs of a compiled forward, read the stack of open states.
    """
    stack = _STACKS.get(token)
    if torch.compiler.is_compiling():
        return stack[-1] if stack else None
    states = _STATES.get()
    if states is not None and token in states:
        return states[token]
    if stack and stack[-1].compiled:
        return stack[-1]
    return None


class SplitHook:
    """Forward (pre-)hook on the split module: features -> GIV -> every block's selecting vector."""

    def __init__(self, token: str, side: str) -> None:
        self.token, self.side = token, side

    def __call__(self, module: torch.nn.Module, args: tuple, *rest: Any) -> None:
        state = current_state(self.token)
        if state is None:  # the wrapped model run on its own (e.g. hair.model(x)): layers will raise
            return
        if state.split_done:
            raise HairError(
                "the split module ran twice in one forward pass; choose a split point that runs once"
            )
        features = rest[0] if self.side == "output" else (args[0] if args else None)
        if not isinstance(features, torch.Tensor):
            raise HairError(
                f"the split point must carry a Tensor, got {type(features).__name__}; choose another split"
            )
        state.giv, state.selects = state.hair.route(features)
        state.split_done = True
        if state.stop_at_split:
            raise SplitReached(state.giv, state.selects)


class BlockSelect:
    """A hyper layer's ``select_provider``: returns its block's selecting vector for this call."""

    def __init__(self, token: str, block: str, layer_name: str) -> None:
        self.token, self.block, self.layer_name = token, block, layer_name

    def __call__(self, layer: torch.nn.Module) -> torch.Tensor:
        state = current_state(self.token)
        if state is None:
            raise HairError(
                f"hyper layer {self.layer_name!r} was called outside its HairModel's forward: call "
                "the HairModel (hair(x)), not the wrapped model, or pass select=... to the layer"
            )
        select = state.selects.get(self.block)
        if select is None:
            raise HairError(
                f"hyper layer {self.layer_name!r} ran before the split point produced the GIV in this "
                "forward pass; it must run downstream of the split"
            )
        return select


class FoldedRows:
    """Forward pre-hook on a converted layer: the selection of the image each input row came from.

    ``fold`` is what hairify measured (see :mod:`.folding`): ``"batch"`` (one row per image:
    the layer's own ``select_provider`` serves it; a call with another row count raises, since
    the fold was never observed), ``"major"`` (row ``r`` of ``k·B`` from image ``r // k``) or
    ``"minor"`` (from image ``r % B``). A folded ``HyperLinear`` (``regroup=True``) runs on its
    input viewed as ``(B, k, ...)`` with the ``(B, N)`` selection, so only ``B`` kernels are
    mixed (:class:`UnfoldRows` restores the row layout of the output); other layers get the
    selection repeated to the ``k·B`` rows (:func:`~.folding.expand_select`).

    Outside the model's forward, or before the split ran, it does nothing and the layer's
    provider raises its usual error.
    """

    def __init__(self, token: str, block: str, layer_name: str, fold: str, regroup: bool) -> None:
        self.token, self.block, self.layer_name = token, block, layer_name
        self.fold, self.regroup = fold, regroup

    def __call__(self, layer: torch.nn.Module, args: tuple, kwargs: dict) -> tuple | None:
        if len(args) != 1 or kwargs or not isinstance(args[0], torch.Tensor):
            return None  # not the call hairify traced (select given by hand): the layer decides
        state = current_state(self.token)
        select = state.selects.get(self.block) if state is not None else None
        if select is None:
            return None
        x = args[0]
        rows, batch = x.shape[0], select.shape[0]
        if self.fold == "batch":
            if rows != batch:
                raise HairError(
                    f"hyper layer {self.layer_name!r} gets {rows} rows for a batch of {batch} images, "
                    "but hairify only saw it with one row per image (at the example size and twice "
                    "as wide), so it does not know which rows belong to which image; hairify with an "
                    "example_input at which this layer sees several rows per image (e.g. a larger "
                    f"image), or keep it static with exclude={self.layer_name!r}"
                )
            return None
        if rows % batch:
            raise HairError(
                f"hyper layer {self.layer_name!r} folds the batch into its rows ({self.fold} order) "
                f"but gets {rows} rows for a batch of {batch} images, not a multiple of it"
            )
        if not self.regroup:
            return (x,), {"select": expand_select(select, rows, self.fold)}
        k = rows // batch
        if self.fold == "major":
            x = x.reshape(batch, k, *x.shape[1:])
        else:
            x = x.reshape(k, batch, *x.shape[1:]).transpose(0, 1)
        state.regrouped.append(self.layer_name)
        return (x,), {"select": select}


class UnfoldRows:
    """Forward hook after :class:`FoldedRows` regrouped a Linear's input: output ``(B, k, ...)``
    back to the ``k·B`` rows in the order the model folded them."""

    def __init__(self, token: str, layer_name: str, fold: str) -> None:
        self.token, self.layer_name, self.fold = token, layer_name, fold

    def __call__(self, layer: torch.nn.Module, args: tuple, kwargs: dict, output: torch.Tensor) -> torch.Tensor | None:
        state = current_state(self.token)
        if state is None or not state.regrouped or state.regrouped[-1] != self.layer_name:
            return None
        state.regrouped.pop()
        if self.fold == "major":
            return output.flatten(0, 1)
        return output.transpose(0, 1).flatten(0, 1)


class EmbedHook:
    """``mode="embed"``: forward pre-hook adding a learned projection of the GIV to a block's input."""

    def __init__(self, token: str, block: str) -> None:
        self.token, self.block = token, block

    def __call__(self, module: torch.nn.Module, args: tuple) -> tuple | None:
        state = current_state(self.token)
        if state is None:
            raise HairError(
                f"block {self.block!r} was called outside its HairModel's forward: call the HairModel"
            )
        if not args or not isinstance(args[0], torch.Tensor):
            raise HairError(f"mode='embed' needs a Tensor as the first input of block {self.block!r}")
        if state.giv is None:
            raise HairError(f"block {self.block!r} ran before the split point produced the GIV")
        x = args[0]
        shift = state.hair.embed_shift(self.block, state.giv, x)
        return (x + shift, *args[1:])
