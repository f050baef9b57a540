"""Reading ``torch.save`` files safely: ``weights_only=True``, checksums verified, errors that name the file.

Both loaders of the library (training checkpoints and released weights) read files through
:func:`load_weights_file`, so they give the same guarantees:

* nothing in the file can run code: ``torch.load(weights_only=True)`` only, which admits tensors,
  numbers, strings, ``None`` and containers of them;
* a zip-format file (what ``torch.save`` writes) has the CRC-32 of every record compared with its
  contents before loading, so a flipped bit or a partial copy is found instead of loaded;
* every failure (missing, empty, truncated, corrupt, refused) is a :class:`~hairlayers.errors.HairError`
  whose message starts with the file's path.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

import torch

from .errors import HairError


def _refusal(err: Exception) -> str:
    """The one line of torch's long weights-only refusal that says what was refused."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    found = next((line for line in lines if line.startswith("WeightsUnpickler error:")), None)
    return (found or (lines[0] if lines else type(err).__name__)).split(". Please use")[0]


def load_weights_file(
    path: str | os.PathLike, what: str, *, map_location: str | torch.device = "cpu", refused_hint: str = ""
) -> Any:
    """``torch.load(path, weights_only=True)`` after checking the file; failures raise naming it.

    Args:
        path: the file.
        what: what the file should be, for messages (``"training checkpoint"``).
        map_location: passed to ``torch.load``.
        refused_hint: appended when ``weights_only=True`` refuses an object in the file.

    Raises:
        HairError: the file is missing, empty, truncated, fails its checksums or holds objects
            that ``weights_only=True`` refuses.

    Example:
        >>> import os, tempfile, torch
        >>> p = os.path.join(tempfile.mkdtemp(), "w.pt")
        >>> torch.save({"w": torch.ones(2)}, p)
        >>> load_weights_file(p, "weights")["w"].tolist()
        [1.0, 1.0]
    """
    where = os.fspath(path)
    if not os.path.isfile(where):
        raise HairError(f"{what} not found: {where!r}")
    if os.path.getsize(where) == 0:
        raise HairError(f"{where}: the {what} is empty (0 bytes); was it written completely?")
    if zipfile.is_zipfile(where):
        try:
            with zipfile.ZipFile(where) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise HairError(f"{where}: the {what} is corrupt ({type(err).__name__}: {err})") from err
        if bad is not None:
            raise HairError(
                f"{where}: the {what} is corrupt: record {bad!r} does not match its checksum "
                "(a flipped bit or an incomplete copy)"
            )
    try:
        return torch.load(where, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise HairError(
            f"{where}: torch.load(weights_only=True) refused a Python object in this {what} "
            f"({_refusal(err)})."
            + (f" {refused_hint}" if refused_hint else "")
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise HairError(f"{where}: cannot read the {what} ({type(err).__name__}: {err})") from err
