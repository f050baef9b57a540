"""What every hyper layer shares: a weight box, and where its selecting vector comes from."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn as nn

from .._checks import positive_int
from ..errors import HairError
from ..functional.mixing import mix
from .selecting import HyperSelectingNet

SelectProvider = Callable[["HyperLayer"], torch.Tensor]


class BoxOwner(nn.Module):
    """A module that holds 5-D weight boxes ``(N, C_out, C_in / groups, kH, kW)`` (the hyper
    layers, :class:`~hairlayers.layers.WeightBox`) and so must let ``model.to(memory_format=
    torch.channels_last)`` through.

    That conversion hands every 4- and 5-D tensor to a cast that only takes 4-D ones; without
    this a HAIR model would refuse what every conv net accepts. How a box is laid out is its
    owner's business (the mix reads it as ``(N, -1)``), so a box takes the device and dtype of
    such a conversion and stays contiguous; every other tensor converts as usual.

    Example:
        >>> import torch
        >>> from hairlayers import HyperConv2d
        >>> conv = HyperConv2d(4, 8, 3, num_kernels=3).to(memory_format=torch.channels_last)
        >>> conv.weight_box.is_contiguous()
        True
    """

    def _apply(self, fn, recurse: bool = True):
        def convert(t: torch.Tensor) -> torch.Tensor:
            if t.dim() != 5:
                return fn(t)
            try:
                return fn(t)
            except RuntimeError as error:  # "required rank 4 tensor to use channels_last format"
                if "channels_last" not in str(error):
                    raise
                return fn(t.flatten(0, 1)).contiguous().view(t.shape)

        return super()._apply(convert, recurse)


class HyperLayer(BoxOwner):
    """Base class of :class:`HyperConv2d`, :class:`HyperConvTranspose2d` and :class:`HyperLinear`.

    A hyper layer holds ``weight_box`` (N experts) and optionally ``bias_box`` and mixes them per
    sample with a selecting vector ``select`` of shape ``(B, N)``. The vector comes from, in order:

    1. ``forward(x, select=...)``: given directly (e.g. by a block-level selecting net);
    2. ``forward(x, giv)``: computed by the layer's own :class:`HyperSelectingNet` (``giv_dim`` set);
    3. ``select_provider(layer)``: a callable installed by :func:`hairlayers.hairify` that returns
       the selecting vector of the current forward pass.

    With none of these the call raises: a stale selecting vector is never reused.
    """

    weight_box: nn.Parameter
    bias_box: nn.Parameter | None

    def _init_hyper(
        self,
        num_kernels: int,
        giv_dim: int | None,
        hsn_hidden: Sequence[int],
        expert_shape: Sequence[int],
        bias_size: int | None,
        factory: dict,
    ) -> None:
        """The hyper part of a subclass's ``__init__``: the optional selecting net, then
        ``weight_box`` of shape ``(num_kernels, *expert_shape)`` and ``bias_box`` of shape
        ``(num_kernels, bias_size)`` (``None`` without bias), initialised by :meth:`reset_parameters`."""
        self.num_kernels = positive_int("num_kernels", num_kernels)
        self.giv_dim = giv_dim
        self.hsn = (
            HyperSelectingNet(giv_dim, num_kernels, hsn_hidden, **factory) if giv_dim is not None else None
        )
        self.select_provider: SelectProvider | None = None
        self.weight_box = nn.Parameter(torch.empty(num_kernels, *expert_shape, **factory))
        self.bias_box = nn.Parameter(torch.empty(num_kernels, bias_size, **factory)) if bias_size is not None else None
        self.reset_parameters()

    def select(self, giv: torch.Tensor) -> torch.Tensor:
        """The ``(B, N)`` softmax selecting vector for a batch of GIVs (needs ``giv_dim``)."""
        if self.hsn is None:
            raise HairError(
                f"{type(self).__name__} was built without giv_dim, so it has no selecting net; "
                "pass select=... to forward, or build it with giv_dim=..."
            )
        return self.hsn(giv)

    def _resolve_select(
        self, giv: torch.Tensor | None, select: torch.Tensor | None, batch: int | None = None
    ) -> torch.Tensor:
        if giv is not None and select is not None:
            raise HairError("pass either giv or select, not both")
        if giv is not None and not isinstance(giv, torch.Tensor):
            raise TypeError(f"giv must be a Tensor of shape (B, giv_dim), got {type(giv).__name__}")
        if giv is not None and batch is not None and giv.dim() == 2 and giv.shape[0] != batch:
            raise HairError(f"the GIV has batch {giv.shape[0]} but the input has batch {batch}")
        if select is not None:
            return select
        if giv is not None:
            return self.select(giv)
        if self.select_provider is not None:
            return self.select_provider(self)
        raise HairError(
            f"{type(self).__name__} was called without a GIV or selecting vector: call it as "
            "layer(x, giv) (with giv_dim set) or layer(x, select=...), or run it inside a "
            "hairified model"
        )

    def reset_parameters(self) -> None:
        """Give every expert row an independent default init of the matching torch layer.

        Row ``i`` is drawn exactly as ``nn.Conv2d`` / ``nn.Linear`` / ``nn.ConvTranspose2d`` draw
        their weight and bias (Kaiming-uniform with ``a=sqrt(5)``, bias uniform in
        ``±1/sqrt(fan_in)``), so with the same seed row 0 equals a fresh torch layer.
        """
        for row in range(self.num_kernels):
            nn.init.kaiming_uniform_(self.weight_box[row], a=math.sqrt(5))
            if self.bias_box is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(self.weight_box[row])
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(self.bias_box[row], -bound, bound)

    def _load_mixed(self, static: nn.Module, giv: torch.Tensor | None, select: torch.Tensor | None) -> nn.Module:
        """Copy the mix of the experts for ONE image (its GIV or selecting vector) into ``static``."""
        given = giv if giv is not None else select
        if given is None:
            raise HairError("to_static needs the GIV (or selecting vector) of one image")
        if given.dim() == 1:
            given = given.unsqueeze(0)
        if given.shape[0] != 1:
            raise HairError(f"to_static specialises for ONE image; got a batch of {given.shape[0]}")
        with torch.no_grad():
            row = self._resolve_select(giv=given if giv is not None else None,
                                       select=given if select is not None else None)
            static.weight.copy_(mix(row, self.weight_box)[0])
            if self.bias_box is not None:
                static.bias.copy_(mix(row, self.bias_box)[0])
        return static

    def _selecting_settings(self) -> list[tuple[str, object, object]]:
        """The hyper part of ``extra_repr`` for :func:`~hairlayers._checks.settings_repr`:
        ``num_kernels`` always, ``giv_dim`` when the layer has a selecting net."""
        return [("num_kernels", self.num_kernels, None), ("giv_dim", self.giv_dim, None)]
