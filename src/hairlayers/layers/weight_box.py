"""WeightBox: the expert kernels of one level, shared by its same-shaped blocks (paper §3.1.2)."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from .._checks import positive_int
from ..errors import HairError
from .base import BoxOwner, HyperLayer
from .hyper_conv import HyperConv2d
from .hyper_conv_transpose import HyperConvTranspose2d
from .hyper_linear import HyperLinear


class WeightBox(BoxOwner):
    """Shared weight boxes for the blocks of one level.

    In HAIR every decoder level has ONE weight box ``W ∈ R^{N×P}`` (P = all conv parameters of a
    block) and every block of the level has its own selecting net. Here the box is kept per layer
    role: the layer that plays role ``key`` (e.g. ``"attn.qkv"``) in any block of the level uses
    the same ``(N, ...)`` parameters. Layers keep their usual ``weight_box``/``bias_box``
    attributes; they are simply the same ``nn.Parameter`` objects (so ``model.parameters()``
    counts them once and ``torch.save`` stores them once).

    Args:
        num_kernels: N, shared by every layer of the box.

    Example:
        >>> import torch
        >>> box = WeightBox(num_kernels=5)
        >>> a = box.conv2d("ffn.project_in", 16, 32, 1, bias=False)
        >>> b = box.conv2d("ffn.project_in", 16, 32, 1, bias=False)   # another block, same role
        >>> a.weight_box is b.weight_box
        True
        >>> x, select = torch.randn(2, 16, 8, 8), torch.softmax(torch.randn(2, 5), dim=1)
        >>> a(x, select=select).shape
        torch.Size([2, 32, 8, 8])
    """

    def __init__(self, num_kernels: int) -> None:
        super().__init__()
        self.num_kernels = positive_int("num_kernels", num_kernels)
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        self._roles: dict[str, str] = {}  # slot -> the role it was registered for

    def _slot(self, key: str) -> str:
        """The ParameterDict key of role ``key`` (which may not contain dots); two roles that
        encode to the same slot (``"attn.qkv"`` and ``"attn__qkv"``) are refused."""
        if not isinstance(key, str) or not key:
            raise HairError(f"a weight-box role must be a non-empty str, got {key!r}")
        slot = key.replace(".", "__")
        owner = self._roles.setdefault(slot, key)
        if owner != key:
            raise HairError(
                f"roles {owner!r} and {key!r} would share one parameter slot {slot!r} of this weight "
                "box; rename one of them"
            )
        return slot

    def keys(self) -> list[str]:
        """The layer roles this box holds, in insertion order."""
        return [self._roles[k] for k in self.weights.keys()]

    def _registered_slot(self, key: str) -> str:
        slot = key.replace(".", "__") if isinstance(key, str) else key
        if self._roles.get(slot) != key:
            raise HairError(f"this weight box holds no role {key!r}; it holds {self.keys()}")
        return slot

    def weight(self, key: str) -> nn.Parameter:
        """The ``(N, ...)`` experts of role ``key``."""
        return self.weights[self._registered_slot(key)]

    def weight_name(self, key: str) -> str:
        """The name of role ``key``'s experts in this box's ``state_dict`` (roles may hold dots,
        parameter names may not, so the name is not simply ``"weights." + key``)."""
        return f"weights.{self._registered_slot(key)}"

    def share(self, key: str, layer: HyperLayer) -> HyperLayer:
        """Make ``layer`` use this box's experts for role ``key`` (registered on first use)."""
        if layer.num_kernels != self.num_kernels:
            raise HairError(
                f"layer has num_kernels={layer.num_kernels} but the box holds {self.num_kernels}"
            )
        slot = self._slot(key)
        if slot not in self.weights:
            self.weights[slot] = layer.weight_box
            if layer.bias_box is not None:
                self.biases[slot] = layer.bias_box
            return layer
        shared = self.weights[slot]
        if shared.shape != layer.weight_box.shape or (slot in self.biases) != (layer.bias_box is not None):
            raise HairError(
                f"role {key!r} holds weights of shape {tuple(shared.shape)} "
                f"(bias={'yes' if slot in self.biases else 'no'}), but the new layer has "
                f"{tuple(layer.weight_box.shape)} (bias={'yes' if layer.bias_box is not None else 'no'})"
            )
        layer.weight_box = shared
        if layer.bias_box is not None:
            layer.bias_box = self.biases[slot]
        return layer

    def conv2d(self, key: str, *args: Any, **kwargs: Any) -> HyperConv2d:
        """A :class:`HyperConv2d` (``nn.Conv2d`` arguments) that shares role ``key``'s experts."""
        return self.share(key, HyperConv2d(*args, num_kernels=self.num_kernels, **kwargs))

    def conv_transpose2d(self, key: str, *args: Any, **kwargs: Any) -> HyperConvTranspose2d:
        """A :class:`HyperConvTranspose2d` that shares role ``key``'s experts."""
        return self.share(key, HyperConvTranspose2d(*args, num_kernels=self.num_kernels, **kwargs))

    def linear(self, key: str, *args: Any, **kwargs: Any) -> HyperLinear:
        """A :class:`HyperLinear` that shares role ``key``'s experts."""
        return self.share(key, HyperLinear(*args, num_kernels=self.num_kernels, **kwargs))

    def extra_repr(self) -> str:
        return f"num_kernels={self.num_kernels}, roles={self.keys()}"
