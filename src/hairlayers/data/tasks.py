"""Names of the restoration tasks and the labels datasets attach to every item.

Every dataset in :mod:`hairlayers.data` returns ``(degraded, clean, label)``. ``label`` is a
string: ``"denoise_<sigma>"`` for Gaussian denoising at noise level ``sigma`` (e.g.
``"denoise_25"``), otherwise the task name (``"derain"``, ``"dehaze"``, ``"deblur"``,
``"enhance"``). Keeping the noise level in the label lets per-level evaluation and the t-SNE of GIVs
(paper Fig. 2) group samples without a second field; :func:`task_family` strips it.
"""

from __future__ import annotations

from ..errors import HairError

__all__ = ["TASKS", "THREE_TASKS", "PAPER_SIGMAS", "task_family", "denoise_label", "check_tasks"]

TASKS: tuple[str, ...] = ("denoise", "derain", "dehaze", "deblur", "enhance")
"""The five degradations of the paper's Table 6, in its order of data preparation."""

THREE_TASKS: tuple[str, ...] = ("denoise", "derain", "dehaze")
"""The three degradations of the paper's Table 1."""

PAPER_SIGMAS: tuple[int, ...] = (15, 25, 50)
"""Gaussian noise levels (uint8 scale) used for training and for the σ-columns of Table 1."""


def denoise_label(sigma: float) -> str:
    """Label of a denoising item at noise level ``sigma``.

    Example:
        >>> denoise_label(25)
        'denoise_25'
    """
    return f"denoise_{sigma:g}"


def task_family(label: str) -> str:
    """The task a label belongs to: ``"denoise_25"`` → ``"denoise"``; other labels unchanged.

    Example:
        >>> task_family("denoise_50"), task_family("derain")
        ('denoise', 'derain')
    """
    family = label.split("_", 1)[0]
    if family not in TASKS:
        raise HairError(f"unknown task label {label!r}; expected one of {TASKS} or 'denoise_<sigma>'")
    return family


def check_tasks(tasks: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate a selection of task names; returns it as a tuple without duplicates."""
    if isinstance(tasks, str):
        raise TypeError(f"tasks must be a sequence of task names, got the string {tasks!r}")
    out = tuple(dict.fromkeys(tasks))
    bad = [t for t in out if t not in TASKS]
    if bad or not out:
        raise HairError(f"tasks must be a non-empty selection of {TASKS}, got {list(tasks)}")
    return out
