"""Lazy imports of the optional packages the data tools use (``pip install hairlayers[examples]``)."""

from __future__ import annotations

import importlib
from types import ModuleType

_HINT = "pip install hairlayers[examples]"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says what needs it and how to install it.

    Args:
        module: importable name, e.g. ``"PIL.Image"`` or ``"skimage.data"``.
        purpose: what the caller was doing, for the message.

    Returns:
        The imported module.

    Example:
        >>> require("math", "a doctest").sqrt(4.0)
        2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        raise ImportError(f"{purpose} needs the optional package '{top}': {_HINT}") from err
