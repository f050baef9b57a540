"""The old home of the per-item seeds; they live in :mod:`hairlayers._rng` now.

Kept as an alias because ``examples/giv_tsne.py`` and ``docs/make_degradation_figure.py`` import
it; new code imports :func:`~hairlayers._rng.mix_seed` and :func:`~hairlayers._rng.generator`
from :mod:`hairlayers._rng`.
"""

from __future__ import annotations

from .._rng import generator, mix_seed

__all__ = ["generator", "mix_seed"]
