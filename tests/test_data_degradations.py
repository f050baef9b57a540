"""Synthetic degradations: formulas against float64 references, determinism, ranges, errors."""

from __future__ import annotations

import math

import pytest
import torch

from hairlayers.data import degradations as D
from hairlayers.data.tasks import TASKS, task_family
from hairlayers.errors import HairError


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _clean(seed: int = 0, h: int = 40, w: int = 36) -> torch.Tensor:
    return torch.randint(0, 256, (3, h, w), generator=_g(seed), dtype=torch.uint8)


@pytest.mark.parametrize("task", TASKS)
def test_degrade_is_deterministic_in_range_and_quantised(task: str) -> None:
    clean = _clean()
    a, label = D.degrade(clean, task, _g(5))
    b, _ = D.degrade(clean, task, _g(5))
    c, _ = D.degrade(clean, task, _g(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == clean.shape and a.dtype == torch.float32
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a * 255, (a * 255).round())
    assert task_family(label) == task
    assert not torch.equal(a, clean.float() / 255)
    # float input in [0, 1] gives the same result as the uint8 image it came from
    assert torch.equal(D.degrade(clean.float() / 255, task, _g(5))[0], a)


def test_haze_matches_scattering_model() -> None:
    j = torch.rand(3, 12, 14, generator=_g(1), dtype=torch.float64)
    depth = torch.rand(12, 14, generator=_g(2), dtype=torch.float64)
    out = D.add_haze(j.float(), _g(), beta=1.3, airlight=0.85, depth=depth.float())
    t = torch.exp(-1.3 * depth)
    ref = j * t + 0.85 * (1 - t)
    torch.testing.assert_close(out.double(), ref, atol=1e-6, rtol=0)


def test_haze_depth_proxy_is_far_at_the_top() -> None:
    depths = torch.stack([D.haze_depth(32, 48, _g(s)) for s in range(10)])
    assert float(depths.min()) >= 0.2 - 1e-6 and float(depths.max()) <= 1 + 1e-6
    assert float(depths[:, 0].mean()) > float(depths[:, -1].mean()) + 0.2


def test_haze_brightens_dark_images_and_checks_depth() -> None:
    dark = torch.zeros(3, 16, 16)
    assert float(D.add_haze(dark, _g()).min()) > 0
    with pytest.raises(HairError, match="depth must be"):
        D.add_haze(dark, _g(), depth=torch.ones(8, 8))


def _blur_reference(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """out[y, x] = sum_ij k[i, j] * in[y - (i - r), x - (j - r)] with edge replication, in float64."""
    c, h, w = image.shape
    r = kernel.shape[0] // 2
    img = image.double()
    out = torch.zeros_like(img)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            ys = (torch.arange(h) - (i - r)).clamp(0, h - 1)
            xs = (torch.arange(w) - (j - r)).clamp(0, w - 1)
            out += float(kernel[i, j]) * img[:, ys][:, :, xs]
    return out


def test_motion_blur_is_a_true_convolution_with_replicate_edges() -> None:
    img = torch.rand(3, 11, 13, generator=_g(3))
    kernel = D.random_motion_kernel(_g(4), length=6.0, curvature=0.2)
    torch.testing.assert_close(
        D.motion_blur(img, kernel).double(), _blur_reference(img, kernel), atol=1e-5, rtol=0
    )
    asym = torch.zeros(3, 3)
    asym[1, 2] = 1.0  # true convolution: a tap right of centre moves content one pixel right
    shifted = D.motion_blur(img, asym)
    torch.testing.assert_close(shifted[:, :, 1:], img[:, :, :-1])


@pytest.mark.parametrize("seed", range(5))
def test_motion_kernels_are_normalised_and_fit_the_grid(seed: int) -> None:
    k = D.random_motion_kernel(_g(seed))
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert float(k.min()) >= 0 and abs(float(k.sum()) - 1) < 1e-5
    # the path is longer than one pixel: several taps are used
    assert int((k > 1e-3).sum()) >= 4


def test_rain_streak_kernel_orientation() -> None:
    k = D.rain_streak_kernel(9, 0.0, 0.5)
    c = k.shape[0] // 2
    assert float(k[c - 4, c]) > 0.9 and float(k[c + 4, c]) > 0.9  # vertical streak
    assert float(k[c, c - 4]) < 1e-3
    k45 = D.rain_streak_kernel(9, 45.0, 0.5)
    assert float(k45[c + 3, c + 3]) > 0.9 and float(k45[c - 3, c + 3]) < 1e-3


def test_rain_is_additive_and_white() -> None:
    img = torch.rand(3, 30, 30, generator=_g(7)) * 0.5
    out = D.add_rain(img, _g(8), density=0.02)
    assert bool((out >= img - 1e-7).all()) and float((out - img).max()) > 0.2
    diff = out - img
    torch.testing.assert_close(diff[0], diff[1])
    torch.testing.assert_close(diff[1], diff[2])


def test_low_light_tone_curve_and_noise() -> None:
    img = torch.rand(3, 20, 20, generator=_g(9))
    clean_dark = D.low_light(img, _g(), gamma=2.2, gain=0.3, shot=0.0, read=0.0)
    torch.testing.assert_close(clean_dark.double(), 0.3 * img.double() ** 2.2, atol=1e-6, rtol=0)
    noisy = D.low_light(img, _g(), gamma=2.2, gain=0.3, shot=0.0, read=0.01)
    assert 0.007 < float((noisy - clean_dark).std()) < 0.013
    assert float(D.low_light(img, _g(1)).mean()) < 0.5 * float(img.mean())


def test_parameter_ranges_are_sampled_and_validated() -> None:
    draws = {round(D._draw((1.0, 2.0), _g(s), "x"), 6) for s in range(20)}
    assert len(draws) == 20 and min(draws) >= 1.0 and max(draws) <= 2.0
    assert D._draw(3.5, _g(), "x") == 3.5
    with pytest.raises(HairError, match="beta must be"):
        D.add_haze(torch.rand(3, 8, 8), _g(), beta=(2.0, 1.0))


def test_errors() -> None:
    with pytest.raises(HairError, match="unknown task"):
        D.degrade(_clean(), "desnow", _g())
    with pytest.raises(HairError, match="only sigma"):
        D.degrade(_clean(), "denoise", _g(), beta=1.0)
    with pytest.raises(HairError, match=r"one \(C, H, W\) image"):
        D.add_rain(torch.rand(2, 3, 8, 8), _g())
    with pytest.raises(TypeError, match="float image"):
        D.add_rain(_clean(), _g())
    with pytest.raises(HairError, match="sigma must be >= 0"):
        D.add_gaussian_noise(_clean(), -1, _g())
    with pytest.raises(HairError, match="odd size"):
        D.motion_blur(torch.rand(3, 8, 8), torch.ones(4, 4) / 16)
    with pytest.raises(HairError, match="unknown task label"):
        task_family("desnow")


def test_sigma_reaches_the_label_and_the_noise() -> None:
    flat = torch.full((3, 64, 64), 128, dtype=torch.uint8)
    for sigma in (15, 50):
        out, label = D.degrade(flat, "denoise", _g(), sigma=sigma)
        assert label == f"denoise_{sigma}"
        assert math.isclose(float((out * 255 - 128).std()), sigma, rel_tol=0.05)
