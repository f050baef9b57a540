"""How every zoo builder turns its arguments into a network's settings, and checks an image batch.

A registered model carries its *model presets* as registry data (``register_model(presets=...)``,
readable as ``model_info(name).presets``); a builder resolves them with :func:`preset_config`:
start from the named preset (``"paper"`` when none is named), then every explicit argument that
is not ``None`` wins. Models check their input with :func:`check_image`.

A *model preset* only sizes a network (``create_model("restormer", preset="tiny")``); it is not
a training run's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import HairError
from ._registry import model_info

__all__ = ["check_image", "preset_config", "resolve_preset"]


def resolve_preset(
    presets: Mapping[str, Mapping[str, Any]], preset: str | None, **given: Any
) -> dict[str, Any]:
    """Start from ``presets[preset or "paper"]``; every argument given (not ``None``) wins.

    Example:
        >>> presets = {"paper": {"dim": 48, "depth": 4}, "tiny": {"dim": 16, "depth": 1}}
        >>> resolve_preset(presets, "tiny", dim=8, depth=None)
        {'dim': 8, 'depth': 1}
        >>> resolve_preset(presets, "huge")
        Traceback (most recent call last):
        ...
        hairlayers.errors.HairError: unknown preset 'huge'; available: paper, tiny
    """
    key = "paper" if preset is None else preset
    if key not in presets:
        raise HairError(f"unknown preset {preset!r}; available: {', '.join(sorted(presets))}")
    config = dict(presets[key])
    config.update({k: v for k, v in given.items() if v is not None})
    return config


def preset_config(name: str, preset: str | None, **given: Any) -> dict[str, Any]:
    """The settings of registered model ``name``: its preset ``preset``, overridden by ``given``.

    Example:
        >>> from hairlayers.models import restormer  # registers the model
        >>> preset_config("restormer", "tiny", dim=8)["dim"], preset_config("restormer", None)["dim"]
        (8, 48)
    """
    presets = model_info(name).presets
    if not presets:
        raise HairError(f"model {name!r} was registered without presets")
    try:
        return resolve_preset(presets, preset, **given)
    except HairError as error:
        raise HairError(f"{name}: {error}") from None


def check_image(x: torch.Tensor, in_channels: int) -> None:
    """Raise unless ``x`` is a ``(B, in_channels, H, W)`` tensor (the zoo models' input).

    Example:
        >>> check_image(torch.zeros(1, 3, 8, 8), 3)
        >>> check_image(torch.zeros(3, 8, 8), 3)
        Traceback (most recent call last):
        ...
        hairlayers.errors.HairError: expected a (B, 3, H, W) image batch, got shape (3, 8, 8)
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor image batch, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise HairError(
            f"expected a (B, {in_channels}, H, W) image batch, got shape {tuple(x.shape)}"
        )
