"""Synthetic degradations for the built-in benchmark, and the paper's noise protocol.

All functions are pure PyTorch, take one ``(C, H, W)`` image and an explicit ``torch.Generator``
(CPU), and are deterministic given the generator's state: the same seed gives bit-identical output.
Random numbers are always drawn on the CPU and then moved to the image's device, so CPU and GPU
runs draw the same degradations.

A parameter written as a pair ``(lo, hi)`` is drawn uniformly from that range for every call; a
single number fixes it. The defaults are the ranges the built-in benchmark uses:

============  ==============================================================================
noise         ``clip(clean + N(0, σ²), 0, 255)`` truncated to uint8 (the paper's protocol)
rain          additive streaks ``O = clip(B + R, 0, 1)``; seeds of density 0.2–0.8 %, streak
              length 8–24 px, angle ±25° from vertical, width σ 0.5–1.0 px, brightness 0.4–0.8
haze          atmospheric scattering ``I = J·t + A·(1 − t)``, ``t = exp(−β·d)``; β 0.6–1.6,
              airlight A 0.7–0.95 (grey), depth proxy ``d`` ∈ [0.2, 1] (see :func:`haze_depth`)
blur          convolution with a random camera-shake trajectory kernel, length 5–17 px,
              curvature 0–0.3 rad/px, replicate padding
low light     ``y = gain · J^γ`` with γ 1.5–2.5, gain 0.2–0.5, then signal-dependent noise
              ``N(0, shot·y + read²)``, shot 1e-4–1e-3, read 0.002–0.01
============  ==============================================================================

:func:`degrade` applies one of them by task name and rounds the result to uint8 levels, as a
degraded image stored as PNG would be.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import HairError
from .tasks import TASKS, denoise_label

__all__ = [
    "Range",
    "add_gaussian_noise",
    "add_rain",
    "rain_streak_kernel",
    "add_haze",
    "haze_depth",
    "motion_blur",
    "random_motion_kernel",
    "add_motion_blur",
    "low_light",
    "quantize_uint8",
    "degrade",
]

Range = float | tuple[float, float]
"""A fixed value or a ``(lo, hi)`` range drawn uniformly per call."""


def _draw(value: Range, generator: torch.Generator, name: str) -> float:
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or value[0] > value[1]:
            raise HairError(f"{name} must be a number or a (lo, hi) pair with lo <= hi, got {value!r}")
        lo, hi = float(value[0]), float(value[1])
        return lo + (hi - lo) * float(torch.rand((), generator=generator, dtype=torch.float64))
    return float(value)


def _check_image(image: torch.Tensor, name: str) -> None:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name}: image must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() != 3:
        raise HairError(f"{name}: expected one (C, H, W) image, got shape {tuple(image.shape)}")


def _check_float(image: torch.Tensor, name: str) -> None:
    _check_image(image, name)
    if not image.is_floating_point():
        raise TypeError(f"{name}: expected a float image in [0, 1], got {image.dtype}")


def quantize_uint8(image: torch.Tensor) -> torch.Tensor:
    """Round a float image in ``[0, 1]`` to the nearest of the 256 uint8 levels (still float).

    Example:
        >>> import torch
        >>> (quantize_uint8(torch.tensor([0.0, 0.5, 1.2])) * 255).tolist()
        [0.0, 128.0, 255.0]
    """
    return image.clamp(0.0, 1.0).mul(255.0).round_().div_(255.0)


def add_gaussian_noise(clean: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """The paper's noise protocol: ``clip(clean + N(0, σ²), 0, 255)`` truncated to uint8.

    Noise is drawn in float64 on the uint8 scale. Truncation (not rounding) to uint8 follows the
    reference code (``numpy``'s ``astype(uint8)``), which biases the noisy image by about −0.5 levels.

    Args:
        clean: ``(C, H, W)`` ``uint8`` image, or float in ``[0, 1]`` (then rounded to uint8 first).
        sigma: standard deviation on the 0–255 scale (the paper uses 15, 25 and 50).
        generator: random source.

    Returns:
        The noisy image, ``uint8`` for ``uint8`` input, else float32 on uint8 levels in ``[0, 1]``.

    Example:
        >>> import torch
        >>> clean = torch.full((3, 4, 4), 128, dtype=torch.uint8)
        >>> noisy = add_gaussian_noise(clean, 25, torch.Generator().manual_seed(0))
        >>> noisy.dtype, noisy.shape
        (torch.uint8, torch.Size([3, 4, 4]))
    """
    _check_image(clean, "add_gaussian_noise")
    if sigma < 0:
        raise HairError(f"add_gaussian_noise: sigma must be >= 0, got {sigma}")
    as_uint8 = clean.dtype == torch.uint8
    base = clean if as_uint8 else clean.clamp(0, 1).mul(255).round()
    noise = torch.randn(clean.shape, generator=generator, dtype=torch.float64).to(clean.device)
    noisy = (base.double() + noise * sigma).clamp_(0.0, 255.0).to(torch.uint8)
    return noisy if as_uint8 else noisy.float().div_(255.0)


def rain_streak_kernel(length: float, angle_deg: float, width: float) -> torch.Tensor:
    """A streak: a segment of ``length`` px at ``angle_deg`` from vertical, Gaussian profile ``width``.

    The peak is 1, so a seed of intensity ``v`` becomes a streak of brightness ``v``.

    Returns:
        ``(K, K)`` float32 kernel, ``K`` odd.

    Example:
        >>> k = rain_streak_kernel(10, 0, 0.7)
        >>> k.shape, float(k.max())
        (torch.Size([15, 15]), 1.0)
    """
    if length <= 0 or width <= 0:
        raise HairError(f"rain streak length and width must be > 0, got {length}, {width}")
    half = int(math.ceil(length / 2 + 2 * width))
    coords = torch.arange(-half, half + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    theta = math.radians(angle_deg)
    dy, dx = math.cos(theta), math.sin(theta)
    # distance from each pixel centre to the segment [-L/2, L/2] along (dy, dx)
    along = (yy * dy + xx * dx).clamp(-length / 2, length / 2)
    dist2 = (yy - along * dy) ** 2 + (xx - along * dx) ** 2
    kernel = torch.exp(-dist2 / (2 * width**2))
    return (kernel / kernel.max()).float()


def add_rain(
    image: torch.Tensor,
    generator: torch.Generator,
    *,
    density: Range = (0.002, 0.008),
    length: Range = (8.0, 24.0),
    angle: Range = (-25.0, 25.0),
    width: Range = (0.5, 1.0),
    brightness: Range = (0.4, 0.8),
) -> torch.Tensor:
    """Additive rain streaks ``O = clip(B + R, 0, 1)`` (the Rain100L image model).

    ``R`` is a sparse map of random seeds (fraction ``density`` of the pixels, intensities uniform
    in ``[0.5, 1]``) convolved with one :func:`rain_streak_kernel`, scaled by ``brightness`` and
    shared by all channels (white rain).

    Args:
        image: ``(C, H, W)`` float in ``[0, 1]``.
        generator: random source.
        density, length, angle, width, brightness: see the module table (degrees for ``angle``).

    Returns:
        Float32 image, same shape, in ``[0, 1]``.

    Example:
        >>> import torch
        >>> out = add_rain(torch.zeros(3, 32, 32), torch.Generator().manual_seed(0))
        >>> out.shape, bool(out.max() > 0), bool((out[0] == out[1]).all())
        (torch.Size([3, 32, 32]), True, True)
    """
    _check_float(image, "add_rain")
    dens = _draw(density, generator, "density")
    kernel = rain_streak_kernel(
        _draw(length, generator, "length"), _draw(angle, generator, "angle"), _draw(width, generator, "width")
    )
    bright = _draw(brightness, generator, "brightness")
    h, w = image.shape[-2:]
    u = torch.rand(2, h, w, generator=generator)
    seeds = (u[0] < dens).float() * (0.5 + 0.5 * u[1])
    k = kernel.shape[-1]
    streaks = F.conv2d(seeds[None, None], kernel[None, None], padding=k // 2)[0, 0].clamp_(0, 1)
    streaks = (bright * streaks).to(device=image.device, dtype=image.dtype)
    return (image + streaks).clamp_(0.0, 1.0).float()


def haze_depth(height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """A smooth depth proxy in ``[0.2, 1]`` for images without depth maps.

    Far at the top, near at the bottom (a tilted linear ramp, tilt ±30°) plus a low-frequency random
    field (a 4×4 random grid upsampled bicubically), mixed 0.6 : 0.4 and rescaled to ``[0.2, 1]``.

    Returns:
        ``(height, width)`` float32.

    Example:
        >>> import torch
        >>> d = haze_depth(16, 20, torch.Generator().manual_seed(0))
        >>> d.shape, 0.2 <= float(d.min()) <= float(d.max()) <= 1.0
        (torch.Size([16, 20]), True)
    """
    tilt = math.radians(_draw((-30.0, 30.0), generator, "tilt"))
    ys = torch.linspace(1.0, 0.0, height).view(-1, 1)  # 1 = top = far
    xs = torch.linspace(-0.5, 0.5, width).view(1, -1)
    ramp = ys * math.cos(tilt) + xs * math.sin(tilt)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min()).clamp_min(1e-6)
    grid = torch.rand(1, 1, 4, 4, generator=generator)
    field = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=True)[0, 0]
    field = (field - field.min()) / (field.max() - field.min()).clamp_min(1e-6)
    return 0.2 + 0.8 * (0.6 * ramp + 0.4 * field)


def add_haze(
    image: torch.Tensor,
    generator: torch.Generator,
    *,
    beta: Range = (0.6, 1.6),
    airlight: Range = (0.7, 0.95),
    depth: torch.Tensor | None = None,
) -> torch.Tensor:
    """Atmospheric scattering ``I = J·t + A·(1 − t)`` with transmission ``t = exp(−β·d)``.

    Args:
        image: clear image ``J``, ``(C, H, W)`` float in ``[0, 1]``.
        generator: random source.
        beta: scattering coefficient β.
        airlight: global atmospheric light ``A`` (the same for every channel).
        depth: ``(H, W)`` depth map; default :func:`haze_depth`.

    Returns:
        Float32 hazy image, same shape, in ``[0, 1]``.

    Example:
        >>> import torch
        >>> j = torch.zeros(3, 8, 8)
        >>> d = torch.ones(8, 8)
        >>> out = add_haze(j, torch.Generator(), beta=1.0, airlight=0.9, depth=d)
        >>> round(float(out[0, 0, 0]), 4) == round(0.9 * (1 - math.exp(-1.0)), 4)
        True
    """
    _check_float(image, "add_haze")
    h, w = image.shape[-2:]
    b = _draw(beta, generator, "beta")
    a = _draw(airlight, generator, "airlight")
    if depth is None:
        depth = haze_depth(h, w, generator)
    elif depth.shape != (h, w):
        raise HairError(f"add_haze: depth must be ({h}, {w}) like the image, got {tuple(depth.shape)}")
    t = torch.exp(-b * depth.to(device=image.device, dtype=image.dtype))
    return (image * t + a * (1.0 - t)).clamp_(0.0, 1.0).float()


def random_motion_kernel(
    generator: torch.Generator, *, length: Range = (5.0, 17.0), curvature: Range = (0.0, 0.3)
) -> torch.Tensor:
    """A random camera-shake kernel: a curved trajectory of ``length`` px, normalised to sum 1.

    The path starts in a random direction and turns by ``N(0, curvature²)`` radians every 0.25 px
    step; points are splatted bilinearly onto an odd square grid centred on the path's centroid.

    Returns:
        ``(K, K)`` float32 kernel with ``K = 2·ceil(length/2) + 3``.

    Example:
        >>> import torch
        >>> k = random_motion_kernel(torch.Generator().manual_seed(0), length=9.0)
        >>> k.shape, round(float(k.sum()), 5)
        (torch.Size([13, 13]), 1.0)
    """
    length_px = _draw(length, generator, "length")
    curv = _draw(curvature, generator, "curvature")
    if length_px <= 0:
        raise HairError(f"motion blur length must be > 0, got {length_px}")
    step = 0.25
    n = max(2, int(round(length_px / step)) + 1)
    start = 2 * math.pi * float(torch.rand((), generator=generator, dtype=torch.float64))
    turns = torch.randn(n - 1, generator=generator, dtype=torch.float64) * curv * step
    angles = start + torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(turns, 0)])
    ys = torch.cumsum(torch.sin(angles) * step, 0)
    xs = torch.cumsum(torch.cos(angles) * step, 0)
    # a curved path is shorter end-to-end than its length; clamp keeps it on the grid either way
    half = int(math.ceil(length_px / 2)) + 1
    size = 2 * half + 1
    ys = (ys - ys.mean()).clamp(-half + 1e-6, half - 1 - 1e-6) + half
    xs = (xs - xs.mean()).clamp(-half + 1e-6, half - 1 - 1e-6) + half
    y0, x0 = ys.floor(), xs.floor()
    fy, fx = ys - y0, xs - x0
    kernel = torch.zeros(size * size, dtype=torch.float64)
    for dy, dx, wgt in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        kernel.index_add_(0, ((y0 + dy) * size + (x0 + dx)).long(), wgt)
    kernel = kernel.view(size, size)
    return (kernel / kernel.sum()).float()


def motion_blur(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every channel with ``kernel`` (true convolution, replicate padding, same size).

    Example:
        >>> import torch
        >>> img = torch.rand(3, 10, 10)
        >>> delta = torch.zeros(3, 3); delta[1, 1] = 1
        >>> torch.equal(motion_blur(img, delta), img)
        True
    """
    _check_float(image, "motion_blur")
    if kernel.dim() != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[0] != kernel.shape[1]:
        raise HairError(f"motion_blur: kernel must be square with odd size, got {tuple(kernel.shape)}")
    c = image.shape[0]
    r = kernel.shape[0] // 2
    weight = kernel.flip(0, 1).to(device=image.device, dtype=image.dtype).expand(c, 1, -1, -1)
    padded = F.pad(image[None], (r, r, r, r), mode="replicate")
    return F.conv2d(padded, weight, groups=c)[0].clamp_(0.0, 1.0).float()


def add_motion_blur(
    image: torch.Tensor,
    generator: torch.Generator,
    *,
    length: Range = (5.0, 17.0),
    curvature: Range = (0.0, 0.3),
) -> torch.Tensor:
    """:func:`motion_blur` with a :func:`random_motion_kernel`.

    Example:
        >>> import torch
        >>> add_motion_blur(torch.rand(3, 24, 24), torch.Generator().manual_seed(0)).shape
        torch.Size([3, 24, 24])
    """
    _check_float(image, "add_motion_blur")
    return motion_blur(image, random_motion_kernel(generator, length=length, curvature=curvature))


def low_light(
    image: torch.Tensor,
    generator: torch.Generator,
    *,
    gamma: Range = (1.5, 2.5),
    gain: Range = (0.2, 0.5),
    shot: Range = (1e-4, 1e-3),
    read: Range = (0.002, 0.01),
) -> torch.Tensor:
    """Under-exposure: ``y = gain · J^γ`` plus sensor noise ``N(0, shot·y + read²)`` per pixel/channel.

    Args:
        image: ``(C, H, W)`` float in ``[0, 1]``.
        generator: random source.
        gamma, gain: tone curve (γ > 1 darkens mid-tones more than highlights).
        shot, read: shot-noise gain and read-noise standard deviation, on the ``[0, 1]`` scale.

    Returns:
        Float32 dark image, same shape, in ``[0, 1]``.

    Example:
        >>> import torch
        >>> img = torch.full((3, 8, 8), 0.5)
        >>> dark = low_light(img, torch.Generator().manual_seed(0), shot=0.0, read=0.0, gamma=2.0, gain=0.4)
        >>> round(float(dark.mean()), 4)
        0.1
    """
    _check_float(image, "low_light")
    g = _draw(gamma, generator, "gamma")
    k = _draw(gain, generator, "gain")
    s = _draw(shot, generator, "shot")
    r = _draw(read, generator, "read")
    y = k * image.clamp(0.0, 1.0).double().pow(g)
    noise = torch.randn(image.shape, generator=generator, dtype=torch.float64).to(image.device)
    return (y + noise * torch.sqrt(s * y + r * r)).clamp_(0.0, 1.0).float()


_FLOAT_DEGRADATIONS = {
    "derain": add_rain,
    "dehaze": add_haze,
    "deblur": add_motion_blur,
    "enhance": low_light,
}


def degrade(
    clean: torch.Tensor,
    task: str,
    generator: torch.Generator,
    *,
    sigma: float = 25,
    **params: object,
) -> tuple[torch.Tensor, str]:
    """Apply the degradation of ``task`` to a clean image; returns it on uint8 levels, plus its label.

    Args:
        clean: ``(C, H, W)`` ``uint8`` or float image in ``[0, 1]``.
        task: one of :data:`~hairlayers.data.tasks.TASKS`.
        generator: random source.
        sigma: noise level for ``"denoise"`` (ignored otherwise).
        **params: keyword parameters of the task's function (e.g. ``beta=1.0`` for haze).

    Returns:
        ``(degraded, label)``: float32 ``(C, H, W)`` in ``[0, 1]`` rounded to multiples of 1/255, and
        the item label (``"denoise_25"``, ``"derain"``, ...).

    Example:
        >>> import torch
        >>> img = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
        >>> out, label = degrade(img, "dehaze", torch.Generator().manual_seed(0))
        >>> out.dtype, label
        (torch.float32, 'dehaze')
    """
    _check_image(clean, "degrade")
    if task == "denoise":
        if params:
            raise HairError(f"degrade: 'denoise' takes only sigma, got extra parameters {sorted(params)}")
        noisy = add_gaussian_noise(clean, sigma, generator)
        if noisy.dtype == torch.uint8:
            noisy = noisy.float().div_(255.0)
        return noisy, denoise_label(sigma)
    if task not in _FLOAT_DEGRADATIONS:
        raise HairError(f"degrade: unknown task {task!r}; expected one of {TASKS}")
    image = clean.float().div(255.0) if clean.dtype == torch.uint8 else clean.float()
    return quantize_uint8(_FLOAT_DEGRADATIONS[task](image, generator, **params)), task
