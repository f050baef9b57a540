"""The library's error types: one base class users can catch."""

from __future__ import annotations


class HairError(ValueError):
    """Bad input to a hairlayers function or layer.

    Subclasses ``ValueError`` so code that guards torch calls with ``except ValueError`` keeps
    working; catch ``HairError`` to handle hairlayers' own validation errors only.
    """


class BackendUnavailableError(RuntimeError):
    """An explicitly requested compute backend cannot run this call.

    The message lists every reason, e.g. ``triton: not installed (pip install hairlayers[triton])``.
    """
