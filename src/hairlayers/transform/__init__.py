"""Turning a user's network into a HAIR network and back: ``hairify``, ``specialize``, ``unhairify``.

* :mod:`.trace` — the hooked forward passes (execution order, shapes, dependence on the split);
* :mod:`.split` — split discovery (the resolution path and its stages);
* :mod:`.blocks` — block detection (the unit of one selecting net) and box-sharing signatures;
* :mod:`.convert` — module swaps between torch and hyper layers;
* :mod:`.routing` — how the GIV reaches the hyper layers during a forward pass;
* :mod:`.plan` — :func:`~.plan.plan_hair`: what hairify converts, as a :class:`HairPlan`;
* :mod:`.build` — :func:`~.build.build_hair`: the plan made into a :class:`HairModel`;
* :mod:`.hair_model` — :class:`HairModel` and its declared surface (route, run_to_split, originals);
* :mod:`.hairify` — :func:`hairify` = plan + build;
* :mod:`.specialize` — :func:`specialize` and :func:`unhairify`;
* :mod:`.summary` — :meth:`HairModel.summary`.
"""

from .build import build_hair
from .hair_model import HairModel
from .hairify import hairify
from .plan import BlockPlan, HairPlan, plan_hair
from .specialize import specialize, unhairify
from .split import SplitPoint

__all__ = [
    "BlockPlan", "HairModel", "HairPlan", "SplitPoint", "build_hair", "hairify", "plan_hair", "specialize",
    "unhairify",
]
