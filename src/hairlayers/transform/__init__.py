"""Turning a user's network into a HAIR network and back: ``hairify``, ``specialize``, ``unhairify``.

* :mod:`.trace` — the hooked forward passes (execution order, shapes, dependence on the split);
* :mod:`.split` — split discovery (the resolution path and its stages);
* :mod:`.blocks` — block detection (the unit of one selecting net) and box-sharing signatures;
* :mod:`.convert` — module swaps between torch and hyper layers;
* :mod:`.routing` — how the GIV reaches the hyper layers during a forward pass;
* :mod:`.hairify` — :func:`hairify` and :class:`HairModel`;
* :mod:`.specialize` — :func:`specialize` and :func:`unhairify`;
* :mod:`.summary` — :meth:`HairModel.summary`.
"""

from .hairify import BlockPlan, HairModel, HairPlan, hairify
from .specialize import specialize, unhairify
from .split import SplitPoint

__all__ = ["BlockPlan", "HairModel", "HairPlan", "SplitPoint", "hairify", "specialize", "unhairify"]
