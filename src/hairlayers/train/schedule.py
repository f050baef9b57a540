"""The paper's learning-rate schedule: a constant rate, then a tenth of it for the last 1/16.

HAIR (§4.1) trains 150 epochs at 2e-4 and 10 more at 2e-5: the rate drops once, for the final
``10 / 160 = 1/16`` of training. :func:`paper_lr` gives the rate at any step, so a resumed run
asks for the rate of the step it resumes at and needs no scheduler state beyond the step count.
"""

from __future__ import annotations

import math

import torch

from .._checks import positive_int
from ..errors import HairError

__all__ = ["decay_start", "make_scheduler", "paper_lr"]


def decay_start(total_steps: int, final_fraction: float = 1 / 16) -> int:
    """The first step trained at the lower rate.

    Rounds the low-rate phase *up* so that any run with ``final_fraction > 0`` and at least one
    step ends with at least one low-rate step (a 16-step run has exactly one).

    Args:
        total_steps: optimiser steps in the whole run (>= 1).
        final_fraction: share of the steps at the lower rate, in ``[0, 1)``.

    Returns:
        Step index (0-based) where the lower rate starts; ``total_steps`` if never.

    Example:
        >>> decay_start(160), decay_start(16), decay_start(10)
        (150, 15, 9)
    """
    positive_int("total_steps", total_steps)
    if not 0.0 <= final_fraction < 1.0:
        raise HairError(f"final_fraction must be in [0, 1), got {final_fraction}")
    return total_steps - math.ceil(total_steps * final_fraction - 1e-9)


def paper_lr(
    step: int, total_steps: int, lr: float = 2e-4, final_lr: float = 2e-5, final_fraction: float = 1 / 16
) -> float:
    """Learning rate of optimiser step ``step`` (0-based) under the paper's two-phase schedule.

    Args:
        step: the step about to be taken, ``0 <= step < total_steps``.
        total_steps: optimiser steps in the whole run.
        lr: rate of the first phase (paper 2e-4).
        final_lr: rate of the last ``final_fraction`` of the steps (paper 2e-5).
        final_fraction: share of the low-rate phase (paper 10 of 160 epochs).

    Returns:
        The rate for that step.

    Example:
        >>> [paper_lr(s, 16) for s in (0, 14, 15)]
        [0.0002, 0.0002, 2e-05]
    """
    if step < 0:
        raise HairError(f"step must be >= 0, got {step}")
    return lr if step < decay_start(total_steps, final_fraction) else final_lr


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    lr: float = 2e-4,
    final_lr: float = 2e-5,
    final_fraction: float = 1 / 16,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` that follows :func:`paper_lr`; call ``scheduler.step()`` after each step.

    The optimiser's base rate must be ``lr`` (the lambda returns a multiplier of it).

    Example:
        >>> import torch
        >>> p = torch.nn.Parameter(torch.zeros(1))
        >>> opt = torch.optim.AdamW([p], lr=2e-4)
        >>> sched = make_scheduler(opt, total_steps=2, final_fraction=0.5)
        >>> lrs = []
        >>> for _ in range(2):
        ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> [round(x, 8) for x in lrs]
        [0.0002, 2e-05]
    """
    if lr <= 0 or final_lr < 0:
        raise HairError(f"learning rates must be lr > 0 and final_lr >= 0, got lr={lr}, final_lr={final_lr}")
    start = decay_start(total_steps, final_fraction)
    ratio = final_lr / lr
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 1.0 if step < start else ratio
    )
