"""Load the authors' released weights into zoo models (training checkpoints: :mod:`hairlayers.train.checkpoint`).

:func:`load_pretrained` reads a file safely (``weights_only=True``, checksums verified, every error
naming the file: :func:`hairlayers._serialization.load_weights_file`), refuses NaN or Inf weights,
finds the state_dict inside
the usual containers (BasicSR ``params``/``params_ema``, Lightning ``state_dict``, plain dicts),
strips wrapper prefixes (``net.``, ``module.``, ``_orig_mod.``), applies the model's registered
``remap_checkpoint`` (the one place where each model's key-mapping table lives) and loads
strictly, explaining any mismatch (with the entry's ``mismatch_hint`` where it recognises the
case).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from .._serialization import load_weights_file
from ..errors import HairError
from ._registry import model_info

__all__ = ["read_checkpoint", "load_pretrained"]

#: Containers searched for the state_dict, in this order (EMA weights first: BasicSR saves both
#: ``params`` and ``params_ema`` when EMA was on, and the EMA copy is the one evaluated).
CONTAINER_KEYS = ("params_ema", "params", "state_dict", "model_state_dict", "model", "net")
#: Wrapper prefixes removed when every key carries them: Lightning modules (``net.``),
#: DataParallel (``module.``), ``torch.compile`` (``_orig_mod.``).
WRAPPER_PREFIXES = ("net.", "module.", "_orig_mod.")
_SHOW = 20


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def _unwrap(obj: Any, key: str | None, where: str) -> tuple[dict[str, torch.Tensor], str]:
    path = []
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            found = sorted(map(str, obj)) if isinstance(obj, Mapping) else type(obj).__name__
            raise HairError(f"{where}: no entry {key!r} at the top level; found {found}")
        obj, path = obj[key], [key]
    for _ in range(3):  # containers nest at most a couple of levels in practice
        if _is_state_dict(obj):
            return dict(obj), "/".join(path) or "<top level>"
        if not isinstance(obj, Mapping):
            break
        inner = next((k for k in CONTAINER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj, path = obj[inner], path + [inner]
    if isinstance(obj, Mapping):
        non_tensor = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)][:_SHOW]
        raise HairError(
            f"{where}: found no state_dict (a mapping of names to tensors) under "
            f"{'/'.join(path) or 'the top level'}; looked for {CONTAINER_KEYS}; "
            f"entries that are not tensors: {non_tensor}. Pass key=... to choose one."
        )
    raise HairError(f"{where}: expected a dict holding a state_dict, got {type(obj).__name__}")


def _strip_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state_dict):
                state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
                changed = True
    return state_dict


def read_checkpoint(
    source: str | os.PathLike | Mapping[str, Any], *, key: str | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """Read a checkpoint and return its state_dict (wrapper prefixes stripped, no remapping).

    Args:
        source: path of a ``.pth``/``.ckpt`` file, or an already loaded object.
        key: the top-level entry holding the weights; default: the state_dict itself, else the
            first of :data:`CONTAINER_KEYS` present (searched up to three levels deep).

    Returns:
        ``(state_dict, where)``: the tensors and the container path they came from.

    Example:
        >>> import torch
        >>> sd, where = read_checkpoint({"state_dict": {"net.w": torch.zeros(2)}, "epoch": 3})
        >>> list(sd), where
        (['w'], 'state_dict')
    """
    if isinstance(source, Mapping):
        obj, where = source, "checkpoint"
    elif isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        obj = load_weights_file(
            where, "checkpoint file",
            refused_hint="If you trust the file, load it yourself with weights_only=False and pass "
            "the resulting dict to load_pretrained.",
        )
    else:
        raise TypeError(
            f"source must be a path or a loaded checkpoint dict, got {type(source).__name__}"
        )
    state_dict, inner = _unwrap(obj, key, where)
    return _strip_prefixes(state_dict), inner


def _hint(missing: list[str], unexpected: list[str], model_keys: set[str], name: str | None) -> str:
    hint = model_info(name).mismatch_hint if name is not None else None
    specific = hint(missing, unexpected) if hint is not None else ""
    if specific:
        return specific
    if model_keys and len(missing) == len(model_keys):
        return "no key in common: is this checkpoint for this architecture?"
    return ""


def _mismatch_report(
    state_dict: Mapping[str, torch.Tensor], model: nn.Module, name: str | None
) -> tuple[list[str], list[str], list[str], str]:
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and state_dict[k].shape != own[k].shape
    ]
    return missing, unexpected, shapes, _hint(missing, unexpected, set(own), name)


def _listing(title: str, items: list[str]) -> str:
    more = f" … and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return f"\n  {title} ({len(items)}): " + ", ".join(items[:_SHOW]) + more


def load_pretrained(
    model: nn.Module,
    source: str | os.PathLike | Mapping[str, Any],
    *,
    name: str | None = None,
    key: str | None = None,
    check_finite: bool = True,
) -> nn.Module:
    """Load released weights into ``model`` strictly, remapping the authors' key names.

    Args:
        model: a zoo model built with the checkpoint's architecture settings.
        source: path of the authors' file (``.pth``, Lightning ``.ckpt``), or a loaded dict.
        name: registry name whose ``remap_checkpoint`` applies; default: the model's
            ``registry_name`` attribute; with neither, keys are used as they are.
        key: container entry holding the weights (see :func:`read_checkpoint`).
        check_finite: refuse floating-point tensors holding NaN or Inf (a damaged or diverged
            file); ``False`` loads them.

    Returns:
        ``model``, with the weights loaded (in its own dtype and device).

    Raises:
        HairError: a missing, empty, truncated or corrupt file (checksum mismatch) — the message
            names the file —, NaN or Inf weights (the keys are listed), no state_dict found, or
            keys/shapes that do not match —
            the message lists missing and unexpected keys and shape mismatches (first 20 of
            each, with counts) and a hint when the cause is recognisable.

    Example:
        >>> import torch
        >>> from hairlayers.models.restormer import restormer
        >>> a, b = restormer(preset="tiny"), restormer(preset="tiny")
        >>> _ = load_pretrained(b, {"params": a.state_dict()})
        >>> torch.equal(a.output.weight, b.output.weight)
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    state_dict, where = read_checkpoint(source, key=key)
    label = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "checkpoint"
    if check_finite:
        bad = [k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            raise HairError(
                f"{label} ({where}): {len(bad)} tensor(s) hold NaN or Inf values (a damaged file or a "
                "diverged run; pass check_finite=False to load them anyway)" + _listing("non-finite", bad)
            )
    name = name if name is not None else getattr(model, "registry_name", None)
    if name is not None:
        remap = model_info(name).remap_checkpoint
        if remap is not None:
            state_dict = remap(state_dict, model)
    missing, unexpected, shapes, hint = _mismatch_report(state_dict, model, name)
    if missing or unexpected or shapes:
        message = (
            f"{label} ({where}) does not match {type(model).__name__}"
            f"{f' (registry name {name!r})' if name else ''}: {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(shapes)} with another shape"
        )
        if missing:
            message += _listing("missing from the file", missing)
        if unexpected:
            message += _listing("unexpected in the file", unexpected)
        if shapes:
            message += _listing("shape mismatches", shapes)
        if hint:
            message += f"\n  hint: {hint}"
        raise HairError(message)
    model.load_state_dict(state_dict, strict=True)
    return model
