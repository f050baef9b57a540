"""Measure-once choice among equivalent formulations (opt-in, like ``torch.backends.cudnn.benchmark``).

The PyTorch backend can compute a mixed convolution several ways (a batched matmul, one grouped
convolution, one convolution per sample, ...). Which is fastest depends on the shape *and on the
machine*: on one 2-core AMD CPU, oneDNN's grouped 1x1 convolution beats MKL's batched matmul for
some widening layers and loses 2.5x for others. A fixed rule cannot be right everywhere, so with
autotuning on, the first call of each distinct case times every applicable formulation and every
later call of that case takes the fastest.

What counts as one case: the shapes and strides of the input, the box and bias shapes, the
geometry, dtype, device and whether gradients are being taken (then forward + backward is timed,
on detached copies, so the caller's graph is untouched). The timing happens once per case and
process; under ``torch.compile`` and while a CUDA graph is being captured nothing is timed and the
fixed rule decides.

Results of different formulations agree to rounding (about 1e-6 relative in float32), not bit for
bit, so turning autotuning on can change the last digits, as ``cudnn.benchmark`` can.

Example:
    >>> import torch
    >>> from hairlayers.functional import autotune, mixed_conv2d
    >>> x, box = torch.randn(4, 8, 16, 16), torch.randn(5, 8, 1, 3, 3)
    >>> select = torch.softmax(torch.randn(4, 5), dim=1)
    >>> autotune.clear()
    >>> with autotune.enabled():
    ...     y = mixed_conv2d(x, select, box, padding=1, groups=8)   # times the candidates once
    >>> list(autotune.choices().values())[0] in ("grouped", "per_sample")
    True
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable, Hashable, Iterator, Sequence

import torch

__all__ = ["chosen", "choices", "clear", "enabled", "is_enabled", "pick", "set_enabled"]

_ENABLED = os.environ.get("HAIRLAYERS_AUTOTUNE", "0") == "1"
_CHOICES: dict[Hashable, str] = {}

#: Timed rounds: every candidate runs once per round, round-robin, after one warm-up run each, and
#: its fastest round counts. Interleaving spreads a burst of load over all candidates; the minimum
#: resists the bursts that remain.
ROUNDS = 5


def is_enabled() -> bool:
    """Whether the first call of a new case times its candidate formulations."""
    return _ENABLED


def set_enabled(on: bool) -> None:
    """Turn autotuning on or off for this process (default: the ``HAIRLAYERS_AUTOTUNE=1`` env var)."""
    global _ENABLED
    if not isinstance(on, bool):
        raise TypeError(f"set_enabled expects a bool, got {type(on).__name__} {on!r}")
    _ENABLED = on


@contextlib.contextmanager
def enabled(on: bool = True) -> Iterator[None]:
    """Autotuning on (or off) inside a ``with`` block; the previous setting afterwards."""
    previous = _ENABLED
    set_enabled(on)
    try:
        yield
    finally:
        set_enabled(previous)


def choices() -> dict[Hashable, str]:
    """A copy of the decisions made so far: case key -> formulation name."""
    return dict(_CHOICES)


def chosen(key: Hashable) -> str | None:
    """The decision made for ``key``, or ``None`` (a lookup: nothing is timed)."""
    return _CHOICES.get(key)


def clear() -> None:
    """Forget every decision (the next call of each case times its candidates again)."""
    _CHOICES.clear()


def _elapsed(run: Callable[[], object], device: torch.device) -> float:
    """Seconds ``run`` takes, waiting for the device when it is a GPU."""
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    run()
    synchronize()
    return time.perf_counter() - start


Timer = Callable[[Callable[[], object]], float]


def measure(
    runs: dict[str, Callable[[], object]], device: torch.device, timer: Timer | None = None
) -> dict[str, float]:
    """Seconds each of ``runs`` takes: best of :data:`ROUNDS` interleaved rounds after a warm-up.

    ``timer(run) -> seconds`` replaces the default clock (wall time, synchronising a GPU).
    """
    elapsed = timer or (lambda run: _elapsed(run, device))
    for run in runs.values():
        run()
    best = {name: float("inf") for name in runs}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            best[name] = min(best[name], elapsed(run))
    return best


def pick(
    key: Hashable,
    candidates: Sequence[str],
    make_run: Callable[[str], Callable[[], object]],
    device: torch.device,
    timer: Timer | None = None,
) -> str:
    """The fastest of ``candidates`` for ``key``: looked up, or measured now and remembered.

    Args:
        key: identifies the case (every property that can change which candidate is fastest).
        candidates: formulation names; a single one is chosen (and remembered) without timing.
        make_run: ``name -> zero-argument callable`` that computes the case that way.
        device: where the work runs (GPU timings synchronise).
        timer: how one run is timed (default: wall clock around it); see :func:`measure`.
    """
    chosen = _CHOICES.get(key)
    if chosen is None:
        if len(candidates) == 1:
            chosen = candidates[0]
        else:
            times = measure({name: make_run(name) for name in candidates}, device, timer)
            chosen = min(times, key=times.__getitem__)
        _CHOICES[key] = chosen
    return chosen
