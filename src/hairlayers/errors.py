"""The library's error types: one base class users can catch, and the error of a backend that cannot run.

The argument checks that raise them live in :mod:`hairlayers._checks`.
"""

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

