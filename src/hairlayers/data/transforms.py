"""Cropping and flipping applied identically to a degraded image and its ground truth."""

from __future__ import annotations

import torch

from ..errors import HairError

__all__ = ["random_crop", "random_flip", "center_crop_multiple", "to_float"]


def _hw(t: torch.Tensor) -> tuple[int, int]:
    if t.dim() != 3:
        raise HairError(f"expected a (C, H, W) image, got shape {tuple(t.shape)}")
    return t.shape[-2], t.shape[-1]


def random_crop(
    images: tuple[torch.Tensor, ...], size: int, generator: torch.Generator, where: str = "image"
) -> tuple[torch.Tensor, ...]:
    """Cut the same random ``size``×``size`` window out of every image of ``images``.

    Args:
        images: ``(C, H, W)`` tensors with equal ``H, W``.
        size: patch side.
        generator: source of the window position.
        where: what the images are (file names), for error messages.

    Returns:
        The patches, in the order given.

    Raises:
        HairError: sizes differ, or an image is smaller than ``size``.

    Example:
        >>> import torch
        >>> a = torch.arange(16.0).view(1, 4, 4)
        >>> p, q = random_crop((a, a + 1), 2, torch.Generator().manual_seed(0))
        >>> p.shape, bool((q - p == 1).all())
        (torch.Size([1, 2, 2]), True)
    """
    h, w = _hw(images[0])
    for t in images[1:]:
        if _hw(t) != (h, w):
            raise HairError(f"{where}: paired images differ in size: {[tuple(x.shape) for x in images]}")
    if h < size or w < size:
        raise HairError(f"{where}: image of {h}x{w} is smaller than the {size}x{size} training patch")
    top = int(torch.randint(0, h - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - size + 1, (1,), generator=generator))
    return tuple(t[:, top : top + size, left : left + size] for t in images)


def random_flip(images: tuple[torch.Tensor, ...], generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Flip all images together, horizontally and vertically, each with probability 1/2.

    Example:
        >>> import torch
        >>> a = torch.arange(4.0).view(1, 2, 2)
        >>> out = random_flip((a,), torch.Generator().manual_seed(1))[0]
        >>> sorted(out.flatten().tolist())
        [0.0, 1.0, 2.0, 3.0]
    """
    flip_h, flip_v = (torch.rand(2, generator=generator) < 0.5).tolist()
    dims = [d for d, on in ((-1, flip_h), (-2, flip_v)) if on]
    if not dims:
        return tuple(images)
    return tuple(t.flip(dims) for t in images)


def center_crop_multiple(image: torch.Tensor, multiple: int = 16) -> torch.Tensor:
    """Centre-crop ``image`` so that height and width are multiples of ``multiple`` (test protocol).

    When the excess is odd the extra row/column is removed at the bottom/right.

    Example:
        >>> import torch
        >>> center_crop_multiple(torch.zeros(3, 481, 321)).shape
        torch.Size([3, 480, 320])
    """
    h, w = _hw(image)
    if multiple < 1:
        raise HairError(f"multiple must be >= 1, got {multiple}")
    nh, nw = h - h % multiple, w - w % multiple
    if nh == 0 or nw == 0:
        raise HairError(f"image of {h}x{w} is smaller than one {multiple}x{multiple} block")
    top, left = (h - nh) // 2, (w - nw) // 2
    return image[:, top : top + nh, left : left + nw]


def to_float(image: torch.Tensor) -> torch.Tensor:
    """``uint8`` → float32 in ``[0, 1]``; float tensors are returned as float32 unchanged.

    Example:
        >>> import torch
        >>> to_float(torch.tensor([0, 255], dtype=torch.uint8)).tolist()
        [0.0, 1.0]
    """
    if image.dtype == torch.uint8:
        return image.float().div_(255.0)
    return image.float()
