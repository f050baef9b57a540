"""Seeding and snapshotting every random number generator a training run touches.

The functions live in the ground-floor :mod:`hairlayers._rng` (with the per-item seeds the
datasets use); this module is their public place under :mod:`hairlayers.train`.
"""

from __future__ import annotations

from .._rng import get_rng_state, isolated_rng, seed_everything, set_rng_state

__all__ = ["get_rng_state", "isolated_rng", "seed_everything", "set_rng_state"]
