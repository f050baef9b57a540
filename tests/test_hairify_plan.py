"""hairify = plan_hair (trace and decide, plain data) + build_hair (swap layers, wire the GIV route)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from hairlayers import HairError, HyperDeformConv2d, HyperLayer, hairify
from hairlayers.ops import ModulatedDeformConv2d
from hairlayers.transform import build_hair, plan_hair


class UNetish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head, self.pool = nn.Conv2d(3, 8, 3, padding=1), nn.AvgPool2d(2)
        self.mid = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
        self.up = nn.ConvTranspose2d(8, 3, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.mid(self.pool(self.head(x))))


def _x() -> torch.Tensor:
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def test_hairify_is_plan_then_build() -> None:
    net = UNetish().eval()
    torch.manual_seed(1)
    direct = hairify(net, example_input=_x(), num_kernels=3, init="copy+noise")
    plan = plan_hair(net, example_input=_x(), num_kernels=3, init="copy+noise")
    torch.manual_seed(1)
    built = build_hair(net, plan)
    assert plan == direct.plan
    assert plan.features_layout == "map" and [b.layers for b in plan.blocks] == [["mid.0"], ["mid.2"], ["up"]]
    built.load_state_dict(direct.state_dict())  # same parameters, same structure
    with torch.no_grad():
        torch.testing.assert_close(built(_x()), direct(_x()))


def test_planning_changes_nothing_and_one_plan_builds_independent_models() -> None:
    net = UNetish()
    before = copy.deepcopy(net.state_dict())
    plan = plan_hair(net, example_input=_x(), num_kernels=2)
    assert all(not isinstance(m, HyperLayer) for m in net.modules())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    a, b = build_hair(net, plan), build_hair(net, plan)
    assert a.token != b.token and a.model is not b.model
    with torch.no_grad():
        a.model.mid[0].weight_box.add_(1.0)
    assert not torch.equal(a.model.mid[0].weight_box, b.model.mid[0].weight_box)


def test_build_refuses_a_classifier_in_free_mode() -> None:
    plan = plan_hair(UNetish(), example_input=_x(), mode="free")
    with pytest.raises(HairError, match="mode='free' has no classifier"):
        build_hair(UNetish(), plan, classifier=nn.Identity())


def test_build_needs_a_classifier_for_features_that_are_not_a_map() -> None:
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc, self.pool = nn.Conv2d(3, 4, 3, padding=1), nn.AvgPool2d(2)
            self.mix, self.dec = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.dec(self.mix(self.pool(self.enc(x)).flatten(2).transpose(1, 2)))  # (B, L, C)

    plan = plan_hair(Tokens(), "mix", example_input=_x())
    assert plan.split.shape == (2, 64, 4) and plan.features_layout == "other"
    with pytest.raises(HairError, match=r"not \(B, C, H, W\).*pass classifier="):
        build_hair(Tokens(), plan)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 4, plan.giv_dim))
    assert build_hair(Tokens(), plan, classifier=classifier)(_x()).shape == (2, 64, 4)


class DeformNet(nn.Module):
    """A deformable convolution after the split, called with its offsets and mask."""

    def __init__(self) -> None:
        super().__init__()
        self.head, self.pool = nn.Conv2d(3, 8, 3, padding=1), nn.AvgPool2d(2)
        self.offsets = nn.Conv2d(8, 27, 3, padding=1)
        self.dcn = ModulatedDeformConv2d(8, 8, 3, padding=1)
        self.up = nn.ConvTranspose2d(8, 3, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.pool(self.head(x))
        o = self.offsets(features)
        return self.up(self.dcn(features, o[:, :18], o[:, 18:].sigmoid()))


def test_hairify_converts_registered_layers_called_with_extra_arguments() -> None:
    net = DeformNet().eval()
    hair = hairify(net, example_input=_x(), num_kernels=3)
    assert isinstance(hair.model.dcn, HyperDeformConv2d)
    assert "dcn" in hair.originals and "dcn" not in hair.plan.static
    with torch.no_grad():
        torch.testing.assert_close(hair(_x()), net(_x()), rtol=1e-4, atol=1e-5)  # init="copy"
    with pytest.raises(TypeError):
        hair.originals["dcn"] = nn.Identity()  # read-only: unhairify relies on it
