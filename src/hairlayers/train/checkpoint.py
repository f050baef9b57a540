"""Training checkpoints: everything needed to continue a run as if it had never stopped.

A checkpoint holds the model, optimiser, scheduler and gradient-scaler states, the step count, the
data position (epoch and batch within it), every rank's RNG states and the run's configuration.
Files are written atomically (to a temporary name, then renamed), so a run killed while saving
leaves the previous checkpoint intact.

Checkpoints are Python pickles (the RNG states need it): load only files you trust.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import HairError

__all__ = ["CHECKPOINT_FORMAT", "checkpoint_path", "latest_checkpoint", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "hairlayers.train/1"
_NAME = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_path(directory: str | Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives: ``directory/step_00000123.pt``.

    Example:
        >>> checkpoint_path("runs/x", 123).name
        'step_00000123.pt'
    """
    return Path(directory) / f"step_{step:08d}.pt"


def save_checkpoint(state: dict[str, Any], directory: str | Path, keep_last: int = 0) -> Path:
    """Write ``state`` (must contain ``"step"``) atomically; optionally delete older checkpoints.

    Args:
        state: the trainer's state dictionary.
        directory: folder for the checkpoints (created if missing).
        keep_last: keep only this many newest ``step_*.pt`` files; ``0`` keeps all.

    Returns:
        The path written.
    """
    if "step" not in state:
        raise HairError("a checkpoint state needs a 'step' entry")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, int(state["step"]))
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    os.replace(tmp, path)
    if keep_last > 0:
        for old in _checkpoints(directory)[:-keep_last]:
            old.unlink()
    return path


def _checkpoints(directory: Path) -> list[Path]:
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The checkpoint with the highest step in ``directory``, or ``None`` if there is none.

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


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: a ``.pt`` file, or a directory (its latest checkpoint is read).
        map_location: where tensors are loaded.

    Raises:
        HairError: nothing to load, or the file is not a hairlayers training checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise HairError(f"no step_*.pt checkpoint in {path} to resume from")
        path = latest
    if not path.is_file():
        raise HairError(f"checkpoint not found: {path}")
    # weights_only=False: the file holds Python/NumPy RNG states, not only tensors.
    state = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise HairError(f"{path} is not a hairlayers training checkpoint (format {got!r}, expected {CHECKPOINT_FORMAT!r})")
    state["path"] = str(path)
    return state
