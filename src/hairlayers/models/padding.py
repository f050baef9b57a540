"""Pad an image batch to a multiple of the network's stride, and crop the result back.

Encoder–decoder restorers downsample several times, so their input height and width must be
multiples of ``2**levels``. Every zoo model pads internally with :func:`pad_to_multiple` so that
users can feed any size and get the same size back.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import HairError

__all__ = ["pad_to_multiple"]

_MODES = ("reflect", "replicate", "constant")


def _pad_one_side(x: torch.Tensor, dim: int, amount: int, mode: str) -> torch.Tensor:
    """Pad the end of spatial ``dim`` (-1 = width, -2 = height) by ``amount`` pixels."""
    while amount > 0:
        size = x.shape[dim]
        if mode == "reflect":
            # A reflection can add at most size-1 pixels; repeat it for tiny inputs, and replicate
            # where there is nothing to reflect (a 1-pixel-wide image).
            step = min(amount, size - 1)
            step_mode = "reflect" if step > 0 else "replicate"
            step = step if step > 0 else amount
        else:
            step, step_mode = amount, mode
        pad = (0, step, 0, 0) if dim == -1 else (0, 0, 0, step)
        x = F.pad(x, pad, mode=step_mode)
        amount -= step
    return x


def pad_to_multiple(
    x: torch.Tensor, multiple: int, *, mode: str = "reflect"
) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """Pad the bottom and right of ``x`` so that height and width are multiples of ``multiple``.

    Reflection padding is the convention of the Restormer family's test scripts. Inputs smaller
    than the padding are reflected repeatedly (and replicated when one pixel wide), so any size
    works.

    Args:
        x: image batch.
        multiple: required divisor of height and width (``8`` for three ×2 downsamples).
        mode: ``"reflect"`` (default), ``"replicate"`` or ``"constant"`` (zeros).

    Returns:
        ``(padded, crop)``: the padded batch and a function that crops a tensor of the padded
        spatial size (any channel count) back to the original height and width.

    Shape:
        - x: :math:`(B, C, H, W)`
        - padded: :math:`(B, C, \\lceil H/m \\rceil m, \\lceil W/m \\rceil m)`

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3, 37, 45)
        >>> padded, crop = pad_to_multiple(x, 8)
        >>> padded.shape, crop(padded).shape
        (torch.Size([2, 3, 40, 48]), torch.Size([2, 3, 37, 45]))
        >>> torch.equal(crop(padded), x)
        True
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise HairError(f"expected a (B, C, H, W) batch, got shape {tuple(x.shape)}")
    if not isinstance(multiple, int) or multiple < 1:
        raise HairError(f"multiple must be a positive int, got {multiple!r}")
    if mode not in _MODES:
        raise HairError(f"mode must be one of {_MODES}, got {mode!r}")
    height, width = x.shape[-2:]
    if height == 0 or width == 0:
        raise HairError(f"cannot pad an empty image of size {height}x{width}")
    pad_h = -height % multiple
    pad_w = -width % multiple
    padded = _pad_one_side(_pad_one_side(x, -2, pad_h, mode), -1, pad_w, mode)

    def crop(y: torch.Tensor) -> torch.Tensor:
        if y.shape[-2:] != padded.shape[-2:]:
            raise HairError(
                f"crop expects spatial size {tuple(padded.shape[-2:])}, got {tuple(y.shape[-2:])}"
            )
        return y[..., :height, :width]

    return padded, crop
