"""The layer-conversion registry of hairify (transform/convert.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from hairlayers import HyperConv2d, HyperDeformConv2d, HyperLinear
from hairlayers.errors import HairError
from hairlayers.ops import ModulatedDeformConv2d
from hairlayers.transform.convert import (
    conversion_for,
    convertible_types,
    register_conversion,
    to_hyper,
    torch_base,
    unregister_conversion,
)


class Scaled(nn.Module):
    """A user-defined layer type: a linear map with a fixed output scale."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in))
        self.bias = nn.Parameter(torch.randn(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


def _scaled_to_hyper(m: Scaled, num_kernels: int, **factory) -> HyperLinear:
    return HyperLinear(m.weight.shape[1], m.weight.shape[0], num_kernels=num_kernels, **factory)


@pytest.fixture
def scaled_registered():
    register_conversion(Scaled, _scaled_to_hyper)
    yield
    unregister_conversion(Scaled)


def test_builtin_conversions_are_registered() -> None:
    assert convertible_types()[:4] == (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, ModulatedDeformConv2d)
    assert conversion_for(ModulatedDeformConv2d(2, 2, 3)).extra_args
    assert not conversion_for(nn.Conv2d(2, 2, 3)).extra_args


def test_a_user_defined_layer_type_gets_converted(scaled_registered) -> None:
    layer = Scaled(5, 3)
    assert torch_base(layer) is Scaled
    hyper = to_hyper(layer, num_kernels=4)
    assert isinstance(hyper, HyperLinear) and hyper.weight_box.shape == (4, 3, 5)
    x = torch.randn(2, 7, 5)
    torch.testing.assert_close(hyper(x, select=torch.softmax(torch.randn(2, 4), dim=1)), layer(x))


def test_unregistered_types_and_overridden_forwards_are_refused(scaled_registered) -> None:
    class Own(Scaled):
        def forward(self, x):
            return 2 * super().forward(x)

    assert torch_base(Own(2, 2)) is None
    with pytest.raises(HairError, match="cannot convert Own.*register_conversion"):
        to_hyper(Own(2, 2), num_kernels=2)
    unregister_conversion(Scaled)
    with pytest.raises(HairError, match="cannot convert Scaled"):
        to_hyper(Scaled(2, 2), num_kernels=2)
    register_conversion(Scaled, _scaled_to_hyper)  # for the fixture's teardown


def test_a_more_specific_registration_wins() -> None:
    class MyConv(nn.Conv2d):
        pass

    register_conversion(MyConv, lambda m, n, **f: HyperConv2d(m.in_channels, m.out_channels, 1, num_kernels=n, **f))
    try:
        assert torch_base(MyConv(2, 3, 1)) is MyConv
        assert torch_base(nn.Conv2d(2, 3, 1)) is nn.Conv2d
    finally:
        unregister_conversion(MyConv)


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((int, _scaled_to_hyper), {}, TypeError, "nn.Module subclass, got <class 'int'>"),
        ((Scaled(2, 2), _scaled_to_hyper), {}, TypeError, "nn.Module subclass"),
        ((Scaled, "not callable"), {}, TypeError, "converter must be a callable.*'not callable'"),
        ((Scaled, _scaled_to_hyper), {"methods": "forward"}, TypeError, "sequence of method names"),
        ((Scaled, _scaled_to_hyper), {"methods": ("fwd",)}, TypeError, r"no method\(s\) \['fwd'\]"),
        ((nn.Conv2d, _scaled_to_hyper), {}, HairError, "Conv2d has a conversion already.*replace=True"),
    ],
)
def test_bad_registrations_raise_clear_errors(args, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        register_conversion(*args, **kwargs)
    assert Scaled not in convertible_types()


def test_a_converter_that_builds_the_wrong_layer_is_named(scaled_registered) -> None:
    register_conversion(Scaled, lambda m, n, **f: HyperLinear(3, 3, num_kernels=n, **f), replace=True)
    with pytest.raises(HairError, match=r"conversion of Scaled built a weight box of shape \(2, 3, 3\)"):
        to_hyper(Scaled(5, 3), num_kernels=2)
    register_conversion(Scaled, lambda m, n, **f: nn.Linear(2, 2), replace=True)
    with pytest.raises(TypeError, match="returned Linear, not a HyperLayer"):
        to_hyper(Scaled(5, 3), num_kernels=2)
    with pytest.raises(HairError, match="no registered conversion"):
        unregister_conversion(nn.ReLU)


def test_deformable_convs_convert_with_their_weights() -> None:
    torch.manual_seed(0)
    dcn = ModulatedDeformConv2d(4, 6, 3, padding=1, groups=2)
    hyper = to_hyper(dcn, num_kernels=3)
    assert isinstance(hyper, HyperDeformConv2d) and hyper.weight_box.shape == (3, *dcn.weight.shape)
    x, offset, mask = torch.randn(2, 4, 6, 6), torch.randn(2, 18, 6, 6), torch.rand(2, 9, 6, 6)
    select = torch.softmax(torch.randn(2, 3), dim=1)
    torch.testing.assert_close(hyper(x, offset, mask, select=select), dcn(x, offset, mask), atol=1e-5, rtol=1e-5)
