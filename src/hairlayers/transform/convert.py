"""Module swaps: torch layers -> hyper layers (with their weights) and back."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import HairError
from ..layers import HyperConv2d, HyperConvTranspose2d, HyperLayer, HyperLinear

# torch type -> hyper type. Subclasses are converted only when they keep the torch forward:
# a subclass with its own forward (weight standardisation, LoRA...) would change meaning.
_HYPER_OF: dict[type, type] = {
    nn.Conv2d: HyperConv2d,
    nn.ConvTranspose2d: HyperConvTranspose2d,
    nn.Linear: HyperLinear,
}
INITS = ("copy", "copy+noise", "fresh")


def torch_base(module: nn.Module) -> type | None:
    """The torch layer type ``module`` can be converted as, or ``None``."""
    for base in _HYPER_OF:
        if isinstance(module, base):
            same_forward = type(module).forward is base.forward
            if base is nn.Conv2d:
                same_forward = same_forward and type(module)._conv_forward is nn.Conv2d._conv_forward
            return base if same_forward else None
    return None


def to_hyper(module: nn.Module, num_kernels: int, init: str = "copy", noise: float = 0.01) -> HyperLayer:
    """The hyper version of a ``Conv2d`` / ``ConvTranspose2d`` / ``Linear``.

    Args:
        module: the torch layer.
        num_kernels: N, rows of the weight box.
        init: ``"copy"``: every row is the layer's weight and bias (the hyper layer computes the
            same function for any convex selecting vector); ``"copy+noise"``: the copy plus
            Gaussian noise of std ``noise × std(weight)`` per row (bias: ``noise × std(bias)``),
            so the experts differ from the first step; ``"fresh"``: every row an independent
            default init.
        noise: relative noise scale of ``"copy+noise"``.

    Returns:
        The hyper layer, on the module's device and dtype; ``weight_box`` and ``bias_box`` keep
        the ``requires_grad`` of the module's weight and bias (a frozen layer stays frozen).

    Example:
        >>> import torch
        >>> conv = nn.Conv2d(4, 6, 3, padding=1)
        >>> hyper = to_hyper(conv, num_kernels=3)
        >>> x, select = torch.randn(2, 4, 8, 8), torch.softmax(torch.randn(2, 3), dim=1)
        >>> torch.allclose(hyper(x, select=select), conv(x), atol=1e-5)   # every expert is conv
        True
    """
    base = torch_base(module)
    if base is None:
        raise HairError(
            f"cannot convert {type(module).__name__}: supported are nn.Conv2d, nn.ConvTranspose2d and "
            "nn.Linear (and subclasses that keep their forward)"
        )
    if init not in INITS:
        raise HairError(f"init must be one of {INITS}, got {init!r}")
    w = module.weight
    factory = {"device": w.device, "dtype": w.dtype, "num_kernels": num_kernels}
    bias = module.bias is not None
    m = module
    if base is nn.Conv2d:
        layer: HyperLayer = HyperConv2d(
            m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
            bias, m.padding_mode, **factory)
    elif base is nn.ConvTranspose2d:
        layer = HyperConvTranspose2d(
            m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.output_padding,
            m.groups, bias, m.dilation, m.padding_mode, **factory)
    else:
        layer = HyperLinear(m.in_features, m.out_features, bias, **factory)
    if init != "fresh":
        with torch.no_grad():
            layer.weight_box.copy_(w.detach().unsqueeze(0).expand_as(layer.weight_box))
            if bias:
                layer.bias_box.copy_(module.bias.detach().unsqueeze(0).expand_as(layer.bias_box))
            if init == "copy+noise":
                layer.weight_box.add_(torch.randn_like(layer.weight_box) * noise * w.detach().std())
                if bias and module.bias.numel() > 1:
                    layer.bias_box.add_(torch.randn_like(layer.bias_box) * noise * module.bias.detach().std())
    layer.weight_box.requires_grad_(w.requires_grad)
    if bias:
        layer.bias_box.requires_grad_(module.bias.requires_grad)
    layer.train(module.training)
    return layer


def set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` at every place where the module called ``name`` is registered."""
    modules = dict(model.named_modules())
    old = modules[name]
    slots = [n for n, m in model.named_modules(remove_duplicate=False) if m is old]
    for slot in slots:
        if slot == "":
            raise HairError("cannot replace the model itself")
        parent_name, _, attr = slot.rpartition(".")
        setattr(model.get_submodule(parent_name), attr, new)


def to_static_uniform(layer: HyperLayer) -> nn.Module:
    """The torch layer with the mean of the experts (the layer at a uniform selecting vector)."""
    select = torch.full((1, layer.num_kernels), 1.0 / layer.num_kernels,
                        device=layer.weight_box.device, dtype=layer.weight_box.dtype)
    return layer.to_static(select=select)
