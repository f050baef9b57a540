"""PSNR and SSIM with the all-in-one restoration protocol, in pure PyTorch.

The field (PromptIR, HAIR, ...) reports scikit-image's ``peak_signal_noise_ratio`` and
``structural_similarity`` on full RGB float images in ``[0, 1]``: no uint8 quantisation, no Y
channel, no border crop, SSIM with scikit-image's defaults (uniform 7×7 window, sample covariance,
``K1=0.01``, ``K2=0.03``, ``data_range=1``, channels averaged), one value per image, then averaged
over the test set. :func:`psnr` and :func:`ssim` compute exactly these numbers (equal to
scikit-image to ~1e-15 in float64) for whole batches on any device, so training and evaluation need
no scikit-image.

Two switches, both off by default because the protocol does not use them:

* ``y_channel=True``: measure on the ITU-R BT.601 luma of an RGB image in ``[0, 1]``,
  ``Y = (16 + 65.481·R + 128.553·G + 24.966·B) / 255`` (the MATLAB ``rgb2ycbcr`` convention most
  restoration papers use; ``Y`` lies in ``[16/255, 235/255]``), with ``data_range`` still 1.
* ``crop_border=k``: drop ``k`` pixels on every side before measuring.

Values outside ``[0, 1]`` (or NaN) raise :class:`~hairlayers.errors.HairError` instead of being
clipped silently: clamp network outputs yourself (``out.clamp(0, 1)``), as the reference evaluation
scripts do, or pass ``check_range=False`` to measure the raw values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import HairError

__all__ = ["psnr", "ssim", "rgb_to_y"]

_SSIM_WIN = 7  # scikit-image's default window size
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03


def rgb_to_y(image: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of RGB images in ``[0, 1]`` (MATLAB ``rgb2ycbcr`` convention).

    ``Y = (16 + 65.481·R + 128.553·G + 24.966·B) / 255``, so ``Y ∈ [16/255, 235/255]``.

    Args:
        image: RGB images, channel dimension at ``-3``.

    Returns:
        The luma with a channel dimension of size 1 kept.

    Shape:
        ``(..., 3, H, W)`` → ``(..., 1, H, W)``.

    Example:
        >>> import torch
        >>> round(rgb_to_y(torch.ones(1, 3, 2, 2)).flatten()[0].item() * 255, 3)
        235.0
    """
    if image.dim() < 3 or image.shape[-3] != 3:
        raise HairError(f"rgb_to_y expects (..., 3, H, W) RGB images, got shape {tuple(image.shape)}")
    coeffs = torch.tensor([65.481, 128.553, 24.966], dtype=image.dtype, device=image.device)
    y = torch.einsum("...chw,c->...hw", image, coeffs)
    return ((y + 16.0) / 255.0).unsqueeze(-3)


def _prepare(
    pred: torch.Tensor,
    target: torch.Tensor,
    y_channel: bool,
    crop_border: int,
    check_range: bool,
    name: str,
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validate a pair and bring it to ``(B, C, H, W)``; returns whether the input was 3-D."""
    for arg, t in (("pred", pred), ("target", target)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: {arg} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(
                f"{name}: {arg} must be a floating-point tensor with values in [0, 1], got {t.dtype}"
                " (convert uint8 images with .float() / 255)"
            )
        if t.dim() not in (3, 4):
            raise HairError(
                f"{name}: {arg} must be (C, H, W) or (B, C, H, W), got {t.dim()}-D shape {tuple(t.shape)}"
            )
    if pred.shape != target.shape:
        raise HairError(
            f"{name}: pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}"
        )
    if pred.dtype != target.dtype:
        raise TypeError(f"{name}: pred and target dtypes differ: {pred.dtype} vs {target.dtype}")
    if pred.numel() == 0:
        raise HairError(f"{name}: pred and target are empty (shape {tuple(pred.shape)}): nothing to measure")
    if isinstance(crop_border, bool) or not isinstance(crop_border, int):
        raise TypeError(f"{name}: crop_border must be an int number of pixels, got {crop_border!r}")
    if check_range:
        for arg, t in (("pred", pred), ("target", target)):
            lo, hi = t.aminmax()
            if bool(torch.isnan(t).any()) or lo.item() < 0.0 or hi.item() > 1.0:
                raise HairError(
                    f"{name}: {arg} has values outside [0, 1] (min {lo.item():.4g}, max {hi.item():.4g},"
                    f" NaN {bool(torch.isnan(t).any())}); clamp it first (x.clamp(0, 1)) or pass"
                    " check_range=False"
                )
    unbatched = pred.dim() == 3
    if unbatched:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    if crop_border < 0:
        raise HairError(f"{name}: crop_border must be >= 0, got {crop_border}")
    if crop_border:
        h, w = pred.shape[-2:]
        if 2 * crop_border >= min(h, w):
            raise HairError(f"{name}: crop_border={crop_border} leaves nothing of a {h}x{w} image")
        sl = (..., slice(crop_border, h - crop_border), slice(crop_border, w - crop_border))
        pred, target = pred[sl], target[sl]
    if y_channel:
        if pred.shape[1] != 3:
            raise HairError(f"{name}: y_channel=True needs 3-channel RGB input, got {pred.shape[1]} channels")
        pred, target = rgb_to_y(pred), rgb_to_y(target)
    return pred, target, unbatched


def _reduce(values: torch.Tensor, reduction: str, unbatched: bool) -> torch.Tensor:
    if unbatched:
        return values[0]
    if reduction == "mean":
        return values.mean()
    if reduction == "none":
        return values
    raise HairError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def psnr(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    y_channel: bool = False,
    crop_border: int = 0,
    check_range: bool = True,
) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10·log10(1 / MSE)`` over all pixels and channels.

    Equals ``skimage.metrics.peak_signal_noise_ratio(target, pred, data_range=1)`` for each image;
    identical images give ``inf``, as in scikit-image.

    Args:
        pred: restored images, float in ``[0, 1]``.
        target: ground truth, same shape and dtype.
        reduction: ``"mean"`` (average of per-image values) or ``"none"`` (one value per image).
            Ignored for a single 3-D image.
        y_channel: measure on BT.601 luma (see module docs); needs 3 channels.
        crop_border: pixels dropped on every side first.
        check_range: raise if a value is outside ``[0, 1]`` or NaN.

    Returns:
        A scalar, or ``(B,)`` with ``reduction="none"``, in dB, in the input dtype.

    Shape:
        ``(B, C, H, W)`` or ``(C, H, W)`` for both inputs.

    Example:
        >>> import torch
        >>> x = torch.full((2, 3, 8, 8), 0.5)
        >>> round(psnr(x + 0.1, x).item(), 3)
        20.0
    """
    pred, target, unbatched = _prepare(pred, target, y_channel, crop_border, check_range, "psnr")
    mse = (pred - target).pow(2).flatten(1).mean(dim=1)
    return _reduce(10.0 * torch.log10(1.0 / mse), reduction, unbatched)


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    y_channel: bool = False,
    crop_border: int = 0,
    check_range: bool = True,
) -> torch.Tensor:
    """Structural similarity per image with scikit-image's defaults.

    Uniform 7×7 window, sample covariance (``NP / (NP - 1)``), ``K1=0.01``, ``K2=0.03``,
    ``data_range=1``; the SSIM map is averaged over the valid region (3 pixels from every border
    dropped, as scikit-image does) and over channels. Equals
    ``skimage.metrics.structural_similarity(target, pred, data_range=1, channel_axis=-1)`` for
    each HWC image.

    Args:
        pred: restored images, float in ``[0, 1]``; height and width at least 7 (after cropping).
        target: ground truth, same shape and dtype.
        reduction: ``"mean"`` or ``"none"``, as in :func:`psnr`.
        y_channel: measure on BT.601 luma; needs 3 channels.
        crop_border: pixels dropped on every side first.
        check_range: raise if a value is outside ``[0, 1]`` or NaN.

    Returns:
        A scalar, or ``(B,)`` with ``reduction="none"``, in the input dtype.

    Shape:
        ``(B, C, H, W)`` or ``(C, H, W)`` for both inputs.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.rand(2, 3, 16, 16, generator=g)
        >>> ssim(x, x).item()
        1.0
    """
    pred, target, unbatched = _prepare(pred, target, y_channel, crop_border, check_range, "ssim")
    b, c, h, w = pred.shape
    if h < _SSIM_WIN or w < _SSIM_WIN:
        raise HairError(f"ssim needs images of at least {_SSIM_WIN}x{_SSIM_WIN}, got {h}x{w}")
    # A 7x7 box filter without padding yields exactly the region scikit-image keeps after cropping
    # its reflect-padded filter output by 3 pixels, so no padding mode needs to be emulated.
    x = pred.reshape(b * c, 1, h, w)
    y = target.reshape(b * c, 1, h, w)
    stats = F.avg_pool2d(torch.cat([x, y, x * x, y * y, x * y], dim=1), _SSIM_WIN, stride=1)
    ux, uy, uxx, uyy, uxy = stats.unbind(dim=1)
    n = _SSIM_WIN * _SSIM_WIN
    cov_norm = n / (n - 1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1, c2 = _SSIM_K1**2, _SSIM_K2**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    per_image = s.reshape(b, -1).mean(dim=1)  # every channel keeps the same number of pixels
    return _reduce(per_image, reduction, unbatched)
