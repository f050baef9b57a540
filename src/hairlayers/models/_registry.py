"""The model registry: ``@register_model`` builders, ``create_model``, ``list_models`` and what
each entry records (presets, the paper's numbers, the authors' checkpoint layout)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Callable

import torch.nn as nn

from ..errors import HairError


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo page and the loaders need to know about a registered model.

    Attributes:
        name: registry name (the builder function's name).
        builder: ``builder(**kwargs) -> nn.Module``.
        paper_params: parameter count at paper settings as the paper/reference code gives it.
        table6: the paper's Table 6 row ``{task: (psnr, ssim)}`` or ``{}``.
        table6_params: the parameter count as Table 6 prints it (``"26M"``), or ``""``.
        presets: the builder's model presets ``{preset: {argument: value}}`` (``"paper"`` is the
            default; see :func:`hairlayers.models._builder.preset_config`).
        checkpoint_format: how the authors' released file is laid out (for the docs).
        license_note: licence of the original work (the architecture, not our code).
        remap_checkpoint: ``remap(state_dict, model) -> state_dict``: maps an authors' state_dict
            to this model's parameter names (``model`` gives shapes where a mapping needs them).
        mismatch_hint: ``hint(missing, unexpected) -> str``: a model-specific explanation of a
            checkpoint that does not fit (``""`` when it does not recognise the case).
    """

    name: str
    builder: Callable[..., nn.Module]
    paper_params: str = ""
    table6: dict[str, tuple[float, float]] = field(default_factory=dict)
    table6_params: str = ""
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    checkpoint_format: str = ""
    license_note: str = ""
    remap_checkpoint: Callable[[dict, nn.Module], dict] | None = None
    mismatch_hint: Callable[[list[str], list[str]], str] | None = None


_MODELS: dict[str, ModelInfo] = {}


def register_model(
    fn: Callable[..., nn.Module] | None = None, **info: Any
) -> Callable[..., nn.Module] | Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder under its function name; keyword arguments fill :class:`ModelInfo`.

    Usable bare (``@register_model``) or with metadata (``@register_model(paper_params="26M")``).
    """

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__
        if name in _MODELS:
            raise HairError(f"a model named {name!r} is already registered")
        _MODELS[name] = ModelInfo(name=name, builder=builder, **info)
        return builder

    return wrap(fn) if fn is not None else wrap


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def model_info(name: str) -> ModelInfo:
    """What the registry records about model ``name`` (a :class:`ModelInfo`).

    Example:
        >>> from hairlayers.models import model_info
        >>> sorted(model_info("restormer").presets)
        ['mini', 'paper', 'tiny']
    """
    try:
        return _MODELS[name]
    except KeyError:
        raise HairError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None


def paper_table6(name: str) -> dict[str, Any]:
    """The paper's Table 6 row of model ``name``: ``{"params": str, task: (psnr, ssim), ...}``.

    ``"params"`` is the count as the table prints it; the tasks follow in the table's order and
    end with ``"avg"``. A fresh dict each call.

    Raises:
        HairError: ``name`` is not registered, or has no Table 6 row.

    Example:
        >>> from hairlayers.models import paper_table6
        >>> row = paper_table6("restormer")
        >>> row["params"], row["SOTS"], list(row)[-1]
        ('26M', (24.09, 0.927), 'avg')
    """
    info = model_info(name)
    if not info.table6:
        with_rows = [n for n in list_models() if _MODELS[n].table6]
        raise HairError(f"model {name!r} has no Table 6 row; models with one: {', '.join(with_rows)}")
    return {"params": info.table6_params, **info.table6}


def create_model(name: str, *, checkpoint: str | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model; with ``checkpoint``, load the authors' weights strictly.

    Example:
        >>> from hairlayers.models import create_model, list_models
        >>> "restormer" in list_models()  # doctest: +SKIP
        True
    """
    model = model_info(name).builder(**kwargs)
    if checkpoint is not None:
        from .pretrained import load_pretrained

        load_pretrained(model, checkpoint, name=name)
    return model
