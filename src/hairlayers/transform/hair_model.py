"""``HairModel``: a network whose second half is driven by one GIV per image (built by :func:`~hairlayers.hairify`).

Its surface for the rest of :mod:`hairlayers.transform` is declared, not private: the split hook
calls :meth:`HairModel.route`, the embedding hook :meth:`HairModel.embed_shift`, ``specialize``
:meth:`HairModel.run_to_split`, ``unhairify`` and the summary read :attr:`HairModel.originals`.
"""

from __future__ import annotations

import types
import uuid
import warnings
from collections.abc import Mapping
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..errors import HairError
from ..giv import GIVInput, GivenGIV, check_giv
from ..layers import HyperLayer, HyperSelectingNet
from .plan import HairPlan
from .routing import SplitReached, pop_state, push_state


class HairModel(GIVInput, nn.Module):
    """A network whose second half is driven by one GIV per image (built by :func:`hairify`).

    Attributes:
        model: the wrapped network; its layers downstream of the split are hyper layers.
        classifier: split features -> GIV ``(B, giv_dim)`` (``None`` in ``mode="free"``).
        selectors: one :class:`~hairlayers.HyperSelectingNet` per block (``"hyper"``, ``"free"``).
        boxes: the shared :class:`~hairlayers.WeightBox` of each level's same-shaped blocks.
        embeddings: per-block GIV projections (``mode="embed"``).
        free_givs: per-block learned GIVs (``mode="free"``).
        plan: the :class:`HairPlan` (what was converted and why).

    ``forward`` has the wrapped model's signature and returns what it returns.

    Example:
        >>> import torch, torch.nn as nn
        >>> from hairlayers import hairify
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2),
        ...                     nn.Conv2d(8, 8, 3, padding=1), nn.Upsample(scale_factor=2),
        ...                     nn.Conv2d(8, 3, 3, padding=1))
        >>> hair = hairify(net, example_input=torch.randn(2, 3, 16, 16), num_kernels=3)
        >>> x = torch.randn(2, 3, 16, 16)
        >>> hair(x).shape, hair.giv(x).shape
        (torch.Size([2, 3, 16, 16]), torch.Size([2, 16]))
        >>> torch.allclose(hair(x), net(x), atol=1e-5)       # init="copy": same function at step 0
        True
    """

    def __init__(self, model: nn.Module, plan: HairPlan, classifier: nn.Module | None,
                 hsn_hidden: Sequence[int]) -> None:
        super().__init__()
        self.model = model
        self.plan = plan
        self.token = uuid.uuid4().hex
        self.classifier = classifier
        self.selectors = nn.ModuleDict()
        self.boxes = nn.ModuleDict()
        self.embeddings = nn.ModuleDict()
        self.free_givs = nn.ParameterDict()
        self._originals: dict[str, nn.Module] = {}  # converted layer -> the torch layer it replaced
        self._symmetry_checked = False
        param = next(model.parameters(), None)
        factory = {"device": param.device, "dtype": param.dtype} if param is not None else {}
        for block in plan.blocks:
            if plan.mode == "embed":
                proj = nn.Linear(plan.giv_dim, block.embed_channels, **factory)
                nn.init.zeros_(proj.weight)  # zero shift at step 0: the original function
                nn.init.zeros_(proj.bias)
                self.embeddings[block.key] = proj
            else:
                self.selectors[block.key] = HyperSelectingNet(
                    plan.giv_dim, block.num_kernels, hsn_hidden, **factory)
            if plan.mode == "free":
                self.free_givs[block.key] = nn.Parameter(torch.randn(plan.giv_dim, **factory))

    @property
    def originals(self) -> Mapping[str, nn.Module]:
        """Read-only: every converted layer's name -> the torch layer it replaced (for
        :func:`~hairlayers.unhairify`, :func:`~hairlayers.specialize` and the summary)."""
        return types.MappingProxyType(self._originals)

    # --- the GIV route -------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        opened = push_state(self)
        try:
            out = self.model(*args, **kwargs)
        finally:
            pop_state(opened)
        if not torch.compiler.is_compiling() and self.training and not getattr(self, "_symmetry_checked", True):
            self._check_on_backward(out)
        return out

    def _check_on_backward(self, out: Any) -> None:
        """Until the first backward pass through this model: check the experts then (a training
        step, not any forward in training mode, is what init='copy' must not start from)."""
        first = out if isinstance(out, torch.Tensor) else next(
            (t for t in (out.values() if isinstance(out, Mapping) else out if isinstance(out, (tuple, list)) else ())
             if isinstance(t, torch.Tensor)), None)
        if first is None or not first.requires_grad:
            return

        def on_backward(grad: torch.Tensor) -> None:
            if not self._symmetry_checked:
                self._symmetry_checked = True  # once per model: the check compares every weight box
                self.warn_if_experts_identical()

        first.register_hook(on_backward)

    def route(self, features: torch.Tensor) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """The GIV and every block's ``(B, N)`` selecting vector for the split features (called
        by the split hook; a GIV given by :meth:`using_giv` replaces the classifier's)."""
        batch = features.shape[0]
        if self.plan.mode == "free":
            selects = {k: self.selectors[k](g.unsqueeze(0)).expand(batch, -1)
                       for k, g in self.free_givs.items()}
            return None, selects
        giv = self.resolve_giv(None, batch)  # an open using_giv replaces the classifier
        if giv is None:
            giv = check_giv(self.classifier(features), self.plan.giv_dim, batch, broadcast=False, expected=(
                f"the classifier's output for the split features {tuple(features.shape)} must have shape"))
        if self.plan.mode == "embed":
            return giv, {}
        return giv, {key: hsn(giv) for key, hsn in self.selectors.items()}

    def embed_shift(self, key: str, giv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``mode="embed"``: block ``key``'s shift for its input ``x``, broadcastable to it."""
        block = self.plan.block(key)
        shift = self.embeddings[key](giv)
        if x.shape[0] != giv.shape[0]:
            raise HairError(f"block {block.name!r} got a batch of {x.shape[0]} but the GIV has {giv.shape[0]}")
        if block.embed_axis == 1:
            return shift.reshape(shift.shape[0], shift.shape[1], *([1] * (x.dim() - 2)))
        return shift.reshape(shift.shape[0], *([1] * (x.dim() - 2)), shift.shape[1])

    def run_to_split(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Run the model up to the split point only; return the GIV and the selecting vectors."""
        opened = push_state(self, stop_at_split=True)
        try:
            self.model(*args, **kwargs)
        except SplitReached as reached:
            return reached.giv, reached.selects
        finally:
            pop_state(opened)
        raise HairError(f"the split point ({self.plan.split.describe()}) did not run on this input")

    @property
    def computes_giv(self) -> bool:
        """Whether this model computes a per-image GIV (every mode but ``"free"``)."""
        return self.plan.mode != "free"

    def giv(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The Global Information Vector ``(B, giv_dim)`` of a batch (runs the first half only).

        Raises:
            HairError: in ``mode="free"``, which has no classifier.
        """
        if self.plan.mode == "free":
            raise HairError("mode='free' has no classifier and no per-image GIV (each block learns its own)")
        giv, _ = self.run_to_split(*args, **kwargs)
        assert giv is not None
        return giv

    @property
    def giv_dim(self) -> int:
        """The GIV's width."""
        return self.plan.giv_dim

    @property
    def giv_token(self) -> str:
        """The key of this model's call states and given GIVs (see :mod:`.routing`)."""
        return self.token

    def using_giv(self, giv: torch.Tensor) -> GivenGIV:
        """Context manager: forward passes inside use ``giv`` instead of the classifier's GIV.

        For tiled inference (one GIV of the whole image for every tile, see
        :func:`hairlayers.restore`) and for studying what the GIV does. A ``(1, giv_dim)`` GIV
        is broadcast to the batch.

        Example:
            >>> import torch, torch.nn as nn
            >>> from hairlayers import hairify
        >>> from hairlayers import hairify
            >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2),
            ...                     nn.ConvTranspose2d(4, 3, 2, stride=2))
            >>> hair = hairify(net, example_input=torch.randn(2, 3, 8, 8), giv_dim=6, init="fresh")
            >>> image, tile = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 8, 8)
            >>> with hair.using_giv(hair.giv(image)):
            ...     out = hair(tile)
            >>> out.shape
            torch.Size([1, 3, 8, 8])
        """
        if self.plan.mode == "free":
            raise HairError("mode='free' has no per-image GIV to replace (each block learns its own)")
        return super().using_giv(giv)

    def selects(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Every block's ``(B, N)`` selecting vector for a batch, keyed by block name."""
        _, selects = self.run_to_split(*args, **kwargs)
        return {self.plan.block(k).name: v for k, v in selects.items()}

    # --- training ------------------------------------------------------------------------------

    def train(self, mode: bool = True) -> "HairModel":
        """Set training mode (``nn.Module.train``); warns when ``init="copy"`` experts are still
        identical (see :meth:`warn_if_experts_identical`)."""
        if mode:
            self.warn_if_experts_identical(stacklevel=3)
        return super().train(mode)

    def experts_identical(self) -> bool:
        """Whether every trainable weight box (with N > 1) still holds N copies of one kernel.

        That is the state ``init="copy"`` starts in, and a bad one to train from: a mix of equal
        kernels does not depend on the selecting vector, so the selecting nets and the classifier
        get no gradient, and the experts' updates differ only through the initial selections
        (``Σ_b select[b, i] · grad_b`` for expert ``i``). The per-image kernels can stay (nearly)
        equal for a long time.

        Example:
            >>> import torch, torch.nn as nn
            >>> from hairlayers import hairify
        >>> from hairlayers import hairify
            >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(4, 3, 1))
            >>> x = torch.randn(2, 3, 8, 8)
            >>> hairify(net, example_input=x).experts_identical()
            True
            >>> hairify(net, example_input=x, init="copy+noise").experts_identical()
            False
        """
        boxes = [p for m in self.model.modules() if isinstance(m, HyperLayer)
                 for p in (m.weight_box,) if p.requires_grad and p.shape[0] > 1 and not p.is_meta]
        if not boxes:
            return False
        with torch.no_grad():
            return all(torch.equal(p, p[:1].expand_as(p)) for p in {id(p): p for p in boxes}.values())

    def warn_if_experts_identical(self, stacklevel: int = 2) -> bool:
        """Warn (``UserWarning``) when a model hairified with ``init="copy"`` is trained while its
        experts are still identical (:meth:`experts_identical`): training from there may leave the
        per-image kernels (nearly) equal. Called by :meth:`train` and by the first backward pass
        through a forward in training mode; returns whether it warned."""
        if self.plan.init != "copy" or self.plan.mode == "embed" or not self.experts_identical():
            return False
        warnings.warn(
            "this HairModel was hairified with init='copy' and every expert of its weight boxes is "
            "still the same kernel, so training may leave the per-image kernels (nearly) equal: a mix of "
            "identical experts does not depend on the selecting vector, so the selecting nets and the "
            "classifier get no gradient, and the experts' updates differ only through the initial "
            "selections. To train, hairify with init='copy+noise' (the original function up to "
            "noise x std(weight) per expert) or init='fresh'; init='copy' is for using the pretrained "
            "function as it is (eval).",
            UserWarning, stacklevel=stacklevel,
        )
        return True

    # --- reporting -----------------------------------------------------------------------------

    def summary(self) -> str:
        """A table of what was converted, grouped by level and block, and why the split is there."""
        from .summary import summary_text

        return summary_text(self)

    def extra_repr(self) -> str:
        return self.summary()


__all__ = ["HairModel"]
