"""The library's error types (one base class users can catch) and the one check every module repeats."""

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


def positive_int(name: str, value: object) -> int:
    """``value`` when it is an int >= 1 (a bool is not), else a :class:`HairError` naming ``name``.

    Example:
        >>> positive_int("num_kernels", 5)
        5
        >>> positive_int("num_kernels", 0)
        Traceback (most recent call last):
        ...
        hairlayers.errors.HairError: num_kernels must be a positive int, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HairError(f"{name} must be a positive int, got {value!r}")
    return value
