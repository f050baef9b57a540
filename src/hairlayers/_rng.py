"""Every random number generator of the package, in one ground-floor module (it imports nothing
of hairlayers but its error types).

* Per-item streams: :func:`mix_seed` combines integers into one seed, :func:`generator` gives a
  CPU ``torch.Generator`` seeded by it; datasets draw an item's crop and degradation from
  ``generator(seed, epoch, index)``, so their data do not depend on worker count or order.
* Whole runs: :func:`seed_everything` seeds torch (CPU and CUDA), NumPy and Python's
  :mod:`random`; :func:`get_rng_state` / :func:`set_rng_state` snapshot and restore them, so a
  checkpoint resumes bit-exactly; :func:`isolated_rng` runs a block under a seed and puts the
  global states back (the trainer builds every item in one).

Which seed wins when an item is seeded twice: see ``docs/training.md`` ("Seeds"). A dataset that
draws from its own ``generator(dataset.seed, epoch, index)`` decides its own data; the trainer's
``isolated_rng(mix_seed(TrainConfig.seed, epoch, index))`` only decides what an item draws from the
*global* generators.

NumPy is optional for hairlayers, so its state is handled only when NumPy is installed.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from .errors import HairError

__all__ = [
    "generator",
    "get_rng_state",
    "isolated_rng",
    "mix_seed",
    "seed_everything",
    "set_rng_state",
]

_MASK = (1 << 64) - 1


def mix_seed(*parts: int) -> int:
    """Combine integers into one 63-bit seed (splitmix64 finaliser applied after each part).

    Nearby inputs (item 7 vs 8, epoch 0 vs 1) give unrelated seeds, unlike ``seed + index``.

    Example:
        >>> mix_seed(0, 1) == mix_seed(0, 1) != mix_seed(1, 0)
        True
    """
    z = 0x9E3779B97F4A7C15
    for p in parts:
        z = (z ^ (int(p) & _MASK)) & _MASK
        z = (z + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        z ^= z >> 31
    return z >> 1


def generator(*parts: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`mix_seed` of ``parts``.

    Example:
        >>> import torch
        >>> torch.equal(torch.rand(2, generator=generator(3, 4)), torch.rand(2, generator=generator(3, 4)))
        True
    """
    return torch.Generator().manual_seed(mix_seed(*parts))


def _numpy() -> Any | None:
    """The numpy module if it is installed, else ``None`` (decided without a failing import)."""
    if importlib.util.find_spec("numpy") is None:
        return None
    import numpy

    return numpy


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), NumPy (if installed) and Python's ``random`` with ``seed``.

    Example:
        >>> seed_everything(3); a = torch.rand(2)
        >>> seed_everything(3); bool(torch.equal(a, torch.rand(2)))
        True
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise HairError(f"seed must be >= 0, got {seed}")
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    np = _numpy()
    if np is not None:
        np.random.seed(seed % 2**32)


def get_rng_state() -> dict[str, Any]:
    """Snapshot of all generator states, as tensors, numbers and dicts only.

    Such a snapshot loads with ``torch.load(weights_only=True)``: Python's and NumPy's Mersenne
    Twister states are stored as ``int64`` tensors of their 625 / 624 words, not as pickled
    Python or NumPy objects.

    Returns:
        ``{"python": {"state": LongTensor(625), "version": int, "gauss": float | None},
        "torch": ByteTensor, "cuda": [ByteTensor, ...], "numpy": {"key": LongTensor(624),
        "pos": int, "has_gauss": int, "gauss": float} | None}``; the ``cuda`` list is empty
        without CUDA and ``numpy`` is ``None`` without NumPy.

    Example:
        >>> state = get_rng_state(); a = torch.rand(3)
        >>> set_rng_state(state); bool(torch.equal(a, torch.rand(3)))
        True
    """
    np = _numpy()
    version, words, gauss = random.getstate()
    numpy_state = None
    if np is not None:
        _, key, pos, has_gauss, cached = np.random.get_state()
        numpy_state = {
            "key": torch.tensor(key.astype("int64")),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(cached),
        }
    return {
        "python": {"state": torch.tensor(words, dtype=torch.int64), "version": version, "gauss": gauss},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": numpy_state,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`get_rng_state`.

    Raises:
        HairError: the snapshot lacks a key, or it holds CUDA states for a different number of
            devices than are visible now (resuming would not be exact).
    """
    missing = {"python", "torch", "cuda", "numpy"} - set(state)
    if missing:
        raise HairError(f"RNG snapshot is missing {sorted(missing)}; was it made by get_rng_state()?")
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        if not torch.cuda.is_available() or torch.cuda.device_count() != len(state["cuda"]):
            visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
            raise HairError(
                f"RNG snapshot holds {len(state['cuda'])} CUDA generator state(s) but {visible} CUDA"
                " device(s) are visible; resume on the same devices"
            )
        torch.cuda.set_rng_state_all(state["cuda"])
    np = _numpy()
    if state["numpy"] is not None and np is not None:
        numpy_state = state["numpy"]
        key = numpy_state["key"].numpy().astype("uint32")
        np.random.set_state(("MT19937", key, numpy_state["pos"], numpy_state["has_gauss"], numpy_state["gauss"]))


@contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Run a block with torch, NumPy and ``random`` seeded by ``seed``, then restore them.

    Data loading uses it so that an item's random augmentation depends only on
    ``(seed, epoch, index)``, not on which worker loads it or how many items came before.
    CUDA generators are left alone: dataset items are built on the CPU.

    Example:
        >>> before = get_rng_state()
        >>> with isolated_rng(5):
        ...     a = torch.rand(1)
        >>> with isolated_rng(5):
        ...     b = torch.rand(1)
        >>> bool(torch.equal(a, b)), bool(torch.equal(before["torch"], torch.get_rng_state()))
        (True, True)
    """
    np = _numpy()
    saved_python, saved_torch = random.getstate(), torch.get_rng_state()
    saved_numpy = np.random.get_state() if np is not None else None
    random.seed(seed)
    torch.random.default_generator.manual_seed(seed)
    if np is not None:
        np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(saved_python)
        torch.set_rng_state(saved_torch)
        if np is not None:
            np.random.set_state(saved_numpy)
