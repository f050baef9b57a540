"""Tiled inference for images larger than memory allows, with ONE GIV per image.

The authors' demo recomputes the GIV for every tile, so neighbouring tiles can get different
kernels and the seams show. :func:`restore` computes the GIV once from the whole image (downscaled
when it is large) and gives that same vector to every tile.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import describe, positive_int
from .errors import HairError
from .giv import is_hair_model

MIN_GIV_SIZE = 16
"""Smallest ``giv_size`` :func:`restore` accepts: one 16×16 block, the protocol's crop unit."""


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step))
    return starts + [size - tile]


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool, like: torch.Tensor) -> torch.Tensor:
    """Blend weights along one axis: linear ramps across overlaps, flat at image borders."""
    weight = torch.ones(length, dtype=like.dtype, device=like.device)
    if overlap > 0:
        ramp = torch.linspace(0, 1, overlap + 2, dtype=like.dtype, device=like.device)[1:-1]
        if not at_start:
            weight[:overlap] = ramp
        if not at_end:
            weight[-overlap:] = ramp.flip(0)
    return weight


def _run(model: nn.Module, x: torch.Tensor, giv: torch.Tensor | None) -> torch.Tensor:
    if giv is None:
        return model(x)
    with model.using_giv(giv):
        return model(x)


def global_giv(model: nn.Module, image: torch.Tensor, giv_size: int = 512) -> torch.Tensor:
    """The GIV of whole images, computed on a copy downscaled to at most ``giv_size`` pixels a side."""
    height, width = image.shape[-2:]
    scale = giv_size / max(height, width)
    if scale < 1:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        image = F.interpolate(image, size=size, mode="area")
    return model.giv(image)


@torch.no_grad()
def restore(
    model: nn.Module,
    image: torch.Tensor,
    tile: int = 512,
    overlap: int = 32,
    giv_size: int = 512,
) -> torch.Tensor:
    """Restore ``image`` tile by tile, blending overlaps; HAIR models use one GIV per image.

    Args:
        model: any zoo model (put it in ``eval()`` mode first).
        image: ``(3, H, W)`` or ``(B, 3, H, W)`` in ``[0, 1]``.
        tile: tile side in pixels; images that fit in one tile run whole.
        overlap: pixels shared by neighbouring tiles, blended with linear ramps.
        giv_size: for HAIR models, the GIV is computed on the whole image downscaled to at most
            this many pixels a side (an int >= 16), then given to every tile.

    Raises:
        HairError: an image that is not ``(C, H, W)`` / ``(B, C, H, W)``, a ``tile`` or
            ``giv_size`` that is not a positive int (``giv_size`` < 16 is refused too: the GIV
            of a handful of pixels says nothing about the image), or ``overlap`` outside
            ``[0, tile)``.

    Returns:
        The restored image, same shape as ``image``.

    Example:
        >>> import torch
        >>> from hairlayers.models import create_model
        >>> net = create_model("res_hair", preset="tiny").eval()
        >>> restore(net, torch.rand(3, 80, 72), tile=48, overlap=16).shape
        torch.Size([3, 80, 72])
    """
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
        raise HairError(f"restore expects an image (C, H, W) or a batch (B, C, H, W), got {describe(image)}")
    positive_int("tile", tile)
    if isinstance(overlap, bool) or not isinstance(overlap, int):
        raise HairError(f"overlap must be an int number of pixels, got {overlap!r}")
    if not 0 <= overlap < tile:
        raise HairError(f"need 0 <= overlap < tile, got overlap={overlap}, tile={tile}")
    if positive_int("giv_size", giv_size) < MIN_GIV_SIZE:
        raise HairError(
            f"giv_size must be at least {MIN_GIV_SIZE} (pixels a side of the image the GIV is computed"
            f" from), got {giv_size}"
        )
    single = image.dim() == 3
    batch = image.unsqueeze(0) if single else image
    giv = global_giv(model, batch, giv_size) if is_hair_model(model) else None
    height, width = batch.shape[-2:]
    if height <= tile and width <= tile:
        out = _run(model, batch, giv)
        return out[0] if single else out

    rows, cols = _tile_starts(height, tile, overlap), _tile_starts(width, tile, overlap)
    total = torch.zeros_like(batch)
    weight = torch.zeros((1, 1, height, width), dtype=batch.dtype, device=batch.device)
    for top in rows:
        for left in cols:
            piece = batch[..., top : top + tile, left : left + tile]
            out = _run(model, piece, giv)
            h, w = piece.shape[-2:]
            wy = _ramp(h, overlap, top == 0, top + h == height, batch)
            wx = _ramp(w, overlap, left == 0, left + w == width, batch)
            mask = (wy[:, None] * wx[None, :])[None, None]
            total[..., top : top + h, left : left + w] += out * mask
            weight[..., top : top + h, left : left + w] += mask
    out = total / weight
    return out[0] if single else out
