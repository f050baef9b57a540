"""Training checkpoints: everything needed to continue a run as if it had never stopped.

A checkpoint holds the model, optimiser, scheduler and gradient-scaler states, the step count, the
data position (epoch and batch within it), every rank's RNG states (as tensors), the loss-history
window since the last log record and the run's configuration.

What the functions here guarantee:

* **Safe to load.** A checkpoint holds only tensors, numbers, strings, ``None`` and lists, tuples
  and dicts of them (checked when it is saved), and is read with ``torch.load(weights_only=True)``
  only, after its zip checksums are verified: a planted ``step_99999999.pt`` cannot run code.
* **Durable.** A file is written to a temporary name, flushed and ``fsync``-ed, renamed into place
  and the folder ``fsync``-ed; only then does ``keep_last`` delete older checkpoints. A run killed
  while saving leaves the previous checkpoint intact.
* **Resumable after damage.** :func:`load_checkpoint` on a folder takes the newest checkpoint that
  loads; each newer one that does not (empty, truncated, corrupt, refused, not a training
  checkpoint) is skipped with a ``UserWarning`` naming it and saying why.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from .._serialization import load_weights_file
from ..errors import HairError

__all__ = ["CHECKPOINT_FORMAT", "checkpoint_path", "latest_checkpoint", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "hairlayers.train/2"  # 2: RNG states as tensors, loadable with weights_only=True
_NAME = re.compile(r"^step_(\d+)\.pt$")
_PLAIN = (torch.Tensor, int, float, str, bool, type(None), torch.Size, torch.dtype, torch.device)


def checkpoint_path(directory: str | Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives: ``directory/step_00000123.pt``.

    Example:
        >>> checkpoint_path("runs/x", 123).name
        'step_00000123.pt'
    """
    return Path(directory) / f"step_{step:08d}.pt"


def _check_plain(value: Any, where: str) -> None:
    """Refuse anything ``torch.load(weights_only=True)`` would refuse, naming where it sits."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise HairError(f"checkpoint entry {where} has a key of type {type(key).__name__}; use str or int keys")
            _check_plain(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    raise HairError(
        f"checkpoint entry {where} is a {type(value).__module__}.{type(value).__qualname__}; training "
        "checkpoints hold only tensors, numbers, strings, None and lists/dicts of them, so that they "
        "load with torch.load(weights_only=True)"
    )


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not support fsync on directories
    finally:
        os.close(fd)


def save_checkpoint(state: dict[str, Any], directory: str | Path, keep_last: int = 0) -> Path:
    """Write ``state`` (must contain ``"step"``) durably; then optionally delete older checkpoints.

    Args:
        state: the trainer's state dictionary: tensors, numbers, strings, ``None`` and
            lists/dicts of them only.
        directory: folder for the checkpoints (created if missing).
        keep_last: keep only this many newest ``step_*.pt`` files; ``0`` keeps all. Older files
            are deleted only after the new one is on disk (written, ``fsync``-ed, renamed).

    Returns:
        The path written.

    Raises:
        HairError: ``state`` lacks ``"step"`` or holds an object ``weights_only=True`` would refuse
            (the message names the entry); nothing is written then.

    Example:
        >>> import tempfile
        >>> path = save_checkpoint({"step": 3, "w": torch.ones(1)}, tempfile.mkdtemp())
        >>> path.name, load_checkpoint(path)["step"]
        ('step_00000003.pt', 3)
    """
    if "step" not in state:
        raise HairError("a checkpoint state needs a 'step' entry")
    _check_plain(state, "state")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, int(state["step"]))
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save({"format": CHECKPOINT_FORMAT, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    if keep_last > 0:
        for old in _checkpoints(directory)[:-keep_last]:
            old.unlink()
    return path


def _checkpoints(directory: Path) -> list[Path]:
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The checkpoint with the highest step in ``directory``, or ``None`` if there is none.

    This looks at names only; :func:`load_checkpoint` on the folder also skips files that do not
    load.

    Example:
        >>> import tempfile
        >>> latest_checkpoint(tempfile.mkdtemp()) is None
        True
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise HairError(f"checkpoint directory not found: {directory}")
    found = _checkpoints(directory)
    return found[-1] if found else None


def _load_one(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    state = load_weights_file(
        path, "training checkpoint", map_location=map_location,
        refused_hint="hairlayers training checkpoints hold only tensors, numbers and strings, so this "
        "file was not written by this version's save_checkpoint; it is not loaded.",
    )
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise HairError(f"{path} is not a hairlayers training checkpoint (format {got!r}, expected {CHECKPOINT_FORMAT!r})")
    state["path"] = str(path)
    return state


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (with ``weights_only=True`` only).

    Args:
        path: a ``.pt`` file, or a directory: its newest checkpoint that loads is read, and every
            newer one that does not is skipped with a ``UserWarning`` naming the file and why.
        map_location: where tensors are loaded.

    Returns:
        The state, with ``"path"``: the file it came from.

    Raises:
        HairError: nothing to load, or the file (every file, for a directory) is missing, empty,
            truncated, corrupt, holds objects ``weights_only=True`` refuses or is not a hairlayers
            training checkpoint; the message names each file and the reason.
    """
    path = Path(path)
    if not path.is_dir():
        if not path.is_file():
            raise HairError(f"checkpoint not found: {path}")
        return _load_one(path, map_location)
    candidates = _checkpoints(path)[::-1]
    if not candidates:
        raise HairError(f"no step_*.pt checkpoint in {path} to resume from")
    failures: list[tuple[Path, HairError]] = []
    for candidate in candidates:
        try:
            state = _load_one(candidate, map_location)
        except HairError as err:
            failures.append((candidate, err))
            continue
        for skipped, why in failures:
            warnings.warn(
                f"skipped checkpoint {skipped}, which does not load ({why}); using {candidate.name}",
                UserWarning, stacklevel=2,
            )
        return state
    raise HairError(f"no checkpoint in {path} loads:\n  " + "\n  ".join(f"{p.name}: {why}" for p, why in failures))
