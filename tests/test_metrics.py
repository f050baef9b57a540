"""PSNR / SSIM in torch against scikit-image, the protocol's reference implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hairlayers.errors import HairError
from hairlayers.metrics import psnr, rgb_to_y, ssim

import skimage.metrics as skm  # noqa: E402


def _pair(seed: int, b: int, c: int, h: int, w: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, c, h, w, generator=g, dtype=torch.float64)
    pred = (target + noise * torch.randn(b, c, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)
    return pred, target


def _sk_per_image(pred: torch.Tensor, target: torch.Tensor) -> tuple[list[float], list[float]]:
    """scikit-image on each HWC image separately: the protocol, written the obvious way."""
    ps, ss = [], []
    for p, t in zip(pred, target, strict=True):
        p_np = p.permute(1, 2, 0).numpy()
        t_np = t.permute(1, 2, 0).numpy()
        ps.append(skm.peak_signal_noise_ratio(t_np, p_np, data_range=1))
        if p_np.shape[-1] == 1:
            ss.append(skm.structural_similarity(t_np[..., 0], p_np[..., 0], data_range=1))
        else:
            ss.append(skm.structural_similarity(t_np, p_np, data_range=1, channel_axis=-1))
    return ps, ss


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    b=st.integers(2, 3),
    c=st.sampled_from([1, 3]),
    h=st.integers(7, 29),
    w=st.integers(7, 29),
    noise=st.sampled_from([0.01, 0.1, 0.5]),
)
def test_equal_to_skimage_float64(seed: int, b: int, c: int, h: int, w: int, noise: float) -> None:
    pred, target = _pair(seed, b, c, h, w, noise)
    sk_p, sk_s = _sk_per_image(pred, target)
    torch.testing.assert_close(
        psnr(pred, target, reduction="none"), torch.tensor(sk_p, dtype=torch.float64), rtol=0, atol=1e-6
    )
    torch.testing.assert_close(
        ssim(pred, target, reduction="none"), torch.tensor(sk_s, dtype=torch.float64), rtol=0, atol=1e-6
    )
    assert abs(psnr(pred, target).item() - float(np.mean(sk_p))) < 1e-6
    assert abs(ssim(pred, target).item() - float(np.mean(sk_s))) < 1e-6


def test_float32_close_to_skimage() -> None:
    pred, target = _pair(3, 2, 3, 40, 33, 0.1)
    sk_p, sk_s = _sk_per_image(pred, target)
    assert torch.allclose(
        psnr(pred.float(), target.float(), reduction="none").double(),
        torch.tensor(sk_p, dtype=torch.float64),
        atol=1e-4,
    )
    assert torch.allclose(
        ssim(pred.float(), target.float(), reduction="none").double(),
        torch.tensor(sk_s, dtype=torch.float64),
        atol=1e-4,
    )


def test_unbatched_equals_batch_entry() -> None:
    pred, target = _pair(1, 2, 3, 12, 15, 0.1)
    batch = ssim(pred, target, reduction="none")
    assert ssim(pred[1], target[1]).shape == ()
    assert ssim(pred[1], target[1]).item() == pytest.approx(batch[1].item(), abs=1e-12)
    assert psnr(pred[0], target[0]).item() == pytest.approx(
        psnr(pred, target, reduction="none")[0].item(), abs=1e-12
    )


def test_y_channel_formula_and_skimage() -> None:
    pred, target = _pair(5, 2, 3, 16, 18, 0.05)
    y = rgb_to_y(pred)
    manual = (16 + 65.481 * pred[:, 0] + 128.553 * pred[:, 1] + 24.966 * pred[:, 2]) / 255
    torch.testing.assert_close(y[:, 0], manual)
    ty = rgb_to_y(target)
    sk_p, sk_s = _sk_per_image(y, ty)
    torch.testing.assert_close(
        psnr(pred, target, y_channel=True, reduction="none"), torch.tensor(sk_p, dtype=torch.float64)
    )
    torch.testing.assert_close(
        ssim(pred, target, y_channel=True, reduction="none"), torch.tensor(sk_s, dtype=torch.float64)
    )


def test_crop_border_matches_cropping_by_hand() -> None:
    pred, target = _pair(7, 2, 3, 20, 21, 0.1)
    k = 3
    hand = pred[..., k:-k, k:-k], target[..., k:-k, k:-k]
    assert psnr(pred, target, crop_border=k).item() == psnr(*hand).item()
    assert ssim(pred, target, crop_border=k).item() == ssim(*hand).item()
    assert psnr(pred, target, crop_border=k).item() != psnr(pred, target).item()


def test_known_values() -> None:
    x = torch.full((2, 3, 8, 8), 0.5, dtype=torch.float64)
    assert psnr(x + 0.1, x).item() == pytest.approx(20.0, abs=1e-9)
    assert math.isinf(psnr(x, x).item())
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-12)


def test_gradients_flow() -> None:
    pred, target = _pair(2, 2, 3, 10, 10, 0.1)
    pred.requires_grad_(True)
    (ssim(pred, target) + psnr(pred, target)).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


@pytest.mark.parametrize(
    "pred,target,exc,words",
    [
        (torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 9), HairError, "shapes differ"),
        (torch.rand(3, 8), torch.rand(3, 8), HairError, "2-D"),
        (torch.rand(1, 2, 3, 8, 8), torch.rand(1, 2, 3, 8, 8), HairError, "5-D"),
        (torch.rand(2, 3, 8, 8) + 1.5, torch.rand(2, 3, 8, 8), HairError, "outside [0, 1]"),
        (torch.full((2, 3, 8, 8), float("nan")), torch.rand(2, 3, 8, 8), HairError, "NaN True"),
        (
            torch.randint(0, 255, (2, 3, 8, 8), dtype=torch.uint8),
            torch.rand(2, 3, 8, 8),
            TypeError,
            "floating-point",
        ),
        (torch.rand(2, 3, 8, 8, dtype=torch.float64), torch.rand(2, 3, 8, 8), TypeError, "dtypes differ"),
        (torch.rand(2, 3, 6, 8), torch.rand(2, 3, 6, 8), HairError, "at least 7x7"),
    ],
)
def test_errors(pred: torch.Tensor, target: torch.Tensor, exc: type, words: str) -> None:
    with pytest.raises(exc, match=None) as info:
        ssim(pred, target)
    assert words in str(info.value)


def test_check_range_off_and_other_errors() -> None:
    x = torch.rand(2, 3, 8, 8) + 0.5
    assert torch.isfinite(psnr(x, x * 0.9, check_range=False))
    with pytest.raises(HairError, match="3-channel"):
        psnr(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), y_channel=True)
    with pytest.raises(HairError, match="leaves nothing"):
        psnr(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), crop_border=4)
    with pytest.raises(HairError, match="reduction"):
        psnr(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), reduction="sum")


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_empty_batch_and_non_int_crop_border_are_clear_errors(metric) -> None:
    """Issue 11: an empty batch gave a torch error from aminmax, crop_border=1.5 one from slicing."""
    with pytest.raises(HairError, match="empty"):
        metric(torch.rand(0, 3, 8, 8), torch.rand(0, 3, 8, 8))
    with pytest.raises(HairError, match="empty"):
        metric(torch.rand(0, 3, 8, 8), torch.rand(0, 3, 8, 8), check_range=False)
    for bad in (1.5, "1", True):
        with pytest.raises(TypeError, match="crop_border must be an int"):
            metric(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), crop_border=bad)
