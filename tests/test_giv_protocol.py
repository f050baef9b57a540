"""The GIV protocol (hairlayers.giv): giv(x), using_giv(giv), computes_giv, for hairified and hand-built models."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from hairlayers import GIVInput, HairError, hairify, is_hair_model
from hairlayers.giv import check_giv
from hairlayers.models import create_model


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ConvTranspose2d(8, 3, 2, stride=2))


@pytest.fixture(scope="module", params=["res_hair", "airnet_hair"])
def zoo_model(request) -> nn.Module:
    torch.manual_seed(0)
    return create_model(request.param, preset="tiny").eval()


def test_zoo_models_speak_the_protocol(zoo_model: nn.Module) -> None:
    assert is_hair_model(zoo_model)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        giv = zoo_model.giv(x).flip(0)  # the other image's GIV: the output must follow it
        explicit = zoo_model(x, giv=giv)
        with zoo_model.using_giv(giv) as given:
            assert given is giv
            inside = zoo_model(x)
        outside = zoo_model(x)
    torch.testing.assert_close(inside, explicit)
    torch.testing.assert_close(outside, zoo_model(x, giv=zoo_model.giv(x)))
    assert not torch.allclose(inside, outside, atol=1e-6)


def test_a_one_row_giv_is_broadcast_and_an_explicit_giv_wins(zoo_model: nn.Module) -> None:
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        one = zoo_model.giv(x[:1])
        with zoo_model.using_giv(one):
            broadcast = zoo_model(x)
            explicit = zoo_model(x, giv=zoo_model.giv(x))
        torch.testing.assert_close(broadcast, zoo_model(x, giv=one.expand(2, -1)))
        torch.testing.assert_close(explicit, zoo_model(x))


def test_using_giv_rejects_a_malformed_giv(zoo_model: nn.Module) -> None:
    with pytest.raises(HairError, match=r"using_giv expects a GIV of shape \(B, giv_dim\)"):
        zoo_model.using_giv(torch.zeros(2, zoo_model.giv_dim + 1))
    with zoo_model.using_giv(torch.zeros(3, zoo_model.giv_dim)):
        with pytest.raises(HairError, match=r"given to using_giv must have shape .*\(2 or 1,"):
            zoo_model(torch.rand(2, 3, 32, 32))


def test_given_givs_are_per_model_and_nest() -> None:
    class Shift(GIVInput, nn.Module):
        giv_dim = 2

        def giv(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], 2)

        def forward(self, x: torch.Tensor, giv: torch.Tensor | None = None) -> torch.Tensor:
            used = self.resolve_giv(giv, x.shape[0])
            return x + (self.giv(x) if used is None else used)

    a, b, x = Shift(), Shift(), torch.zeros(2, 2)
    with a.using_giv(torch.ones(1, 2)):
        with a.using_giv(torch.full((1, 2), 5.0)):
            assert a(x).eq(5).all() and b(x).eq(0).all()  # b never sees a's GIV
        assert a(x).eq(1).all()  # the inner block closed: the outer GIV again
    assert a(x).eq(0).all()


def test_is_hair_model() -> None:
    x = torch.randn(2, 3, 16, 16)
    assert is_hair_model(hairify(_net(), example_input=x))
    assert not is_hair_model(hairify(_net(), example_input=x, mode="free"))  # no per-image GIV
    assert not is_hair_model(create_model("restormer", preset="tiny"))

    class OnlyGiv(nn.Module):  # a giv method alone is not the protocol: restore could not pass it on
        def giv(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean((2, 3))

    assert not is_hair_model(OnlyGiv())


def test_check_giv_names_what_came() -> None:
    good = torch.zeros(3, 4)
    assert check_giv(good, 4, batch=3) is good
    assert check_giv(torch.zeros(1, 4), 4, batch=3).shape == (1, 4)
    with pytest.raises(HairError, match=r"\(B, giv_dim\) = \(3, 4\)"):
        check_giv(torch.zeros(1, 4), 4, batch=3, broadcast=False)
    with pytest.raises(HairError, match=r"= \(B, 4\), got \(3, 5\)"):
        check_giv(torch.zeros(3, 5), 4)
    with pytest.raises(HairError, match="got list"):
        check_giv([0.0] * 4, 4)
