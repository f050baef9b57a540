"""Tiled restore: equal to a whole-image run when it fits, one GIV for every tile otherwise."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from hairlayers import HairError
from hairlayers.inference import global_giv, restore
from hairlayers.models import create_model


@pytest.fixture(scope="module")
def hair_model() -> nn.Module:
    torch.manual_seed(0)
    return create_model("res_hair", preset="tiny").eval()


def test_fits_in_one_tile_equals_untiled(hair_model: nn.Module) -> None:
    x = torch.rand(2, 3, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(restore(hair_model, x, tile=64), hair_model(x))


def test_every_tile_gets_the_whole_image_giv(hair_model: nn.Module, monkeypatch) -> None:
    x = torch.rand(1, 3, 96, 80)
    seen: list[torch.Tensor] = []
    original = type(hair_model).resolve_giv

    def recording_resolve(self, giv, batch):  # the GIV each forward uses (None: its own)
        used = original(self, giv, batch)
        seen.append(used)
        return used

    monkeypatch.setattr(type(hair_model), "resolve_giv", recording_resolve)
    out = restore(hair_model, x, tile=48, overlap=16, giv_size=64)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert len(seen) == 3 * 2  # rows start at 0, 32, 48; columns at 0, 32
    expected = global_giv(hair_model, x, giv_size=64)
    for giv in seen:
        assert giv is not None
        torch.testing.assert_close(giv, expected)


def test_tiles_blend_to_the_untiled_result_for_a_local_model() -> None:
    """A pointwise model has no receptive field: blending must reproduce it exactly."""
    model = nn.Conv2d(3, 3, 1)
    x = torch.rand(2, 3, 70, 90)
    with torch.no_grad():
        torch.testing.assert_close(restore(model, x, tile=32, overlap=8), model(x))
        torch.testing.assert_close(restore(model, x[0], tile=32, overlap=0), model(x[:1])[0])


def test_bad_arguments() -> None:
    with pytest.raises(HairError, match="overlap < tile"):
        restore(nn.Identity(), torch.rand(3, 8, 8), tile=16, overlap=16)
    with pytest.raises(HairError, match=r"expects an image \(C, H, W\)"):
        restore(nn.Identity(), torch.rand(8, 8))


def test_free_mode_hair_models_are_tiled_without_a_giv() -> None:
    from hairlayers import hairify

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
                        nn.Upsample(scale_factor=2), nn.Conv2d(8, 3, 3, padding=1))
    hair = hairify(net, example_input=torch.randn(2, 3, 16, 16), mode="free", init="copy+noise").eval()
    x = torch.rand(1, 3, 40, 40)
    out = restore(hair, x, tile=24, overlap=8)
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("kwargs, words", [
    ({"giv_size": 0}, "giv_size must be a positive int"),
    ({"giv_size": -5}, "giv_size must be a positive int"),
    ({"giv_size": 1}, "giv_size must be at least 16"),
    ({"giv_size": 64.0}, "giv_size must be a positive int"),
    ({"tile": 32.5}, "tile must be a positive int"),
    ({"tile": "32"}, "tile must be a positive int"),
    ({"overlap": 1.5}, "overlap must be an int"),
])
def test_restore_validates_sizes(hair_model: nn.Module, kwargs: dict, words: str) -> None:
    """Issue 11: giv_size=0/-5/1 computed a GIV from a 1x1 image; a float tile failed inside torch."""
    with pytest.raises(HairError, match=words):
        restore(hair_model, torch.rand(3, 40, 40), **kwargs)
