"""Module swaps: torch layers -> hyper layers (with their weights) and back.

Which layer types can be converted is a registry (:func:`register_conversion`), peft-dispatcher
style: the built-in conversions (``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.Linear``,
:class:`~hairlayers.ops.ModulatedDeformConv2d`) are registered through it, and a project adds its
own layer types the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn as nn

from ..errors import HairError
from ..layers import HyperConv2d, HyperConvTranspose2d, HyperDeformConv2d, HyperLayer, HyperLinear
from ..ops.deform_conv import ModulatedDeformConv2d

INITS = ("copy", "copy+noise", "fresh")

#: ``converter(module, num_kernels, device=..., dtype=...)``: a hyper layer of ``module``'s
#: geometry with ``num_kernels`` experts (their values are set by :func:`to_hyper`).
Converter = Callable[..., HyperLayer]


@dataclass(frozen=True)
class Conversion:
    """How one torch layer type becomes a hyper layer (see :func:`register_conversion`)."""

    torch_type: type
    converter: Converter
    methods: tuple[str, ...]
    extra_args: bool


# torch type -> its conversion, in registration order.
_CONVERSIONS: dict[type, Conversion] = {}


def register_conversion(
    torch_type: type,
    converter: Converter,
    *,
    methods: Sequence[str] = ("forward",),
    extra_args: bool = False,
    replace: bool = False,
) -> Conversion:
    """Teach :func:`to_hyper` (and so :func:`~hairlayers.hairify`) to convert ``torch_type``.

    Args:
        torch_type: an ``nn.Module`` subclass with a ``weight`` parameter (and ``bias`` or
            ``None``), e.g. a layer type of your own.
        converter: ``converter(module, num_kernels, device=..., dtype=...)`` returns the hyper
            layer that computes what ``module`` computes, with ``weight_box`` of shape
            ``(num_kernels, *module.weight.shape)`` (and a ``bias_box`` exactly when the module
            has a bias); :func:`to_hyper` fills the experts.
        methods: methods a subclass must not override to be converted as ``torch_type`` (a
            subclass with its own forward, e.g. weight standardisation, would change meaning).
        extra_args: the layer is called with more than its input (a deformable convolution takes
            the offsets and the mask) and the hyper layer takes the same arguments.
        replace: replace an existing registration of ``torch_type`` instead of refusing it.

    Returns:
        The registered :class:`Conversion`.

    Raises:
        TypeError: ``torch_type`` is not an ``nn.Module`` subclass, ``converter`` is not
            callable, or a name in ``methods`` is not a method of ``torch_type``.
        HairError: ``torch_type`` has a conversion already (and ``replace`` is false).

    Example:
        >>> import torch
        >>> from hairlayers import HyperConv2d
        >>> class Conv3x3(nn.Conv2d):  # a project's own layer type, with its own forward
        ...     def __init__(self, c_in, c_out):
        ...         super().__init__(c_in, c_out, 3, padding=1)
        ...     def forward(self, x):
        ...         return super().forward(x)
        >>> def convert(m, num_kernels, **factory):
        ...     return HyperConv2d(m.in_channels, m.out_channels, 3, padding=1, num_kernels=num_kernels, **factory)
        >>> _ = register_conversion(Conv3x3, convert)
        >>> conv = Conv3x3(4, 6)
        >>> hyper = to_hyper(conv, num_kernels=2)
        >>> x = torch.randn(2, 4, 8, 8)
        >>> torch.allclose(hyper(x, select=torch.full((2, 2), 0.5)), conv(x), atol=1e-5)
        True
        >>> _ = unregister_conversion(Conv3x3)
    """
    if not isinstance(torch_type, type) or not issubclass(torch_type, nn.Module):
        raise TypeError(f"torch_type must be an nn.Module subclass, got {torch_type!r}")
    if not callable(converter):
        raise TypeError(
            f"converter must be a callable (module, num_kernels, **factory) -> HyperLayer, got {converter!r}"
        )
    if isinstance(methods, str) or not all(isinstance(m, str) for m in methods):
        raise TypeError(f"methods must be a sequence of method names, got {methods!r}")
    missing = [m for m in methods if not callable(getattr(torch_type, m, None))]
    if missing:
        raise TypeError(f"{torch_type.__name__} has no method(s) {missing} to compare subclasses by")
    if torch_type in _CONVERSIONS and not replace:
        raise HairError(
            f"{torch_type.__name__} has a conversion already ({_CONVERSIONS[torch_type].converter!r}); "
            "pass replace=True to replace it"
        )
    conversion = Conversion(torch_type, converter, tuple(methods), bool(extra_args))
    _CONVERSIONS[torch_type] = conversion
    return conversion


def unregister_conversion(torch_type: type) -> Conversion:
    """Remove ``torch_type``'s conversion and return it (to undo :func:`register_conversion`)."""
    try:
        return _CONVERSIONS.pop(torch_type)
    except (KeyError, TypeError):
        raise HairError(f"{torch_type!r} has no registered conversion") from None


def convertible_types() -> tuple[type, ...]:
    """The layer types with a conversion, in registration order.

    Example:
        >>> nn.Conv2d in convertible_types()
        True
    """
    return tuple(_CONVERSIONS)


def conversion_for(module: nn.Module) -> Conversion | None:
    """The conversion ``module`` is converted by, or ``None``.

    The most specific registered class in ``type(module)``'s MRO decides; a subclass that
    overrides one of that conversion's ``methods`` is not converted (it would change meaning).
    """
    for cls in type(module).__mro__:
        conversion = _CONVERSIONS.get(cls)
        if conversion is not None:
            same = all(getattr(type(module), m) is getattr(cls, m) for m in conversion.methods)
            return conversion if same else None
    return None


def torch_base(module: nn.Module) -> type | None:
    """The registered layer type ``module`` can be converted as, or ``None``."""
    conversion = conversion_for(module)
    return None if conversion is None else conversion.torch_type


def _conv2d(m: nn.Conv2d, num_kernels: int, **factory) -> HyperLayer:
    return HyperConv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
                       m.bias is not None, m.padding_mode, num_kernels=num_kernels, **factory)


def _conv_transpose2d(m: nn.ConvTranspose2d, num_kernels: int, **factory) -> HyperLayer:
    return HyperConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                                m.output_padding, m.groups, m.bias is not None, m.dilation, m.padding_mode,
                                num_kernels=num_kernels, **factory)


def _linear(m: nn.Linear, num_kernels: int, **factory) -> HyperLayer:
    return HyperLinear(m.in_features, m.out_features, m.bias is not None, num_kernels=num_kernels, **factory)


def _deform_conv2d(m: ModulatedDeformConv2d, num_kernels: int, **factory) -> HyperLayer:
    return HyperDeformConv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                             m.groups, m.bias is not None, num_kernels=num_kernels, max_elements=m.max_elements,
                             backend=m.backend, **factory)


register_conversion(nn.Conv2d, _conv2d, methods=("forward", "_conv_forward"))
register_conversion(nn.ConvTranspose2d, _conv_transpose2d)
register_conversion(nn.Linear, _linear)
register_conversion(ModulatedDeformConv2d, _deform_conv2d, extra_args=True)


def to_hyper(module: nn.Module, num_kernels: int, init: str = "copy", noise: float = 0.01) -> HyperLayer:
    """The hyper version of a layer with a registered conversion (``nn.Conv2d``,
    ``nn.ConvTranspose2d``, ``nn.Linear``, :class:`~hairlayers.ops.ModulatedDeformConv2d`, and
    those added by :func:`register_conversion`).

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
    conversion = conversion_for(module)
    if conversion is None:
        names = ", ".join(t.__name__ for t in _CONVERSIONS)
        raise HairError(
            f"cannot convert {type(module).__name__}: supported are {names} (and subclasses that keep "
            "their forward); register_conversion() adds a layer type"
        )
    if init not in INITS:
        raise HairError(f"init must be one of {INITS}, got {init!r}")
    w = module.weight
    bias = getattr(module, "bias", None) is not None
    layer = conversion.converter(module, num_kernels, device=w.device, dtype=w.dtype)
    if not isinstance(layer, HyperLayer):
        raise TypeError(
            f"the conversion of {conversion.torch_type.__name__} returned {type(layer).__name__}, not a HyperLayer"
        )
    expected = (num_kernels, *w.shape)
    if tuple(layer.weight_box.shape) != expected or (layer.bias_box is not None) != bias:
        raise HairError(
            f"the conversion of {conversion.torch_type.__name__} built a weight box of shape "
            f"{tuple(layer.weight_box.shape)} (bias box: {layer.bias_box is not None}); expected {expected} "
            f"(bias box: {bias}) for this module"
        )
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
