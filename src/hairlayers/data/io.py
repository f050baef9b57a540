"""Reading images from disk with Pillow into torch tensors (no numpy needed).

Every failure names the file: a missing or corrupt image raises :class:`ImageReadError`, so a bad
file in a dataset of thousands is found at once instead of surfacing as a shape error later.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import HairError
from ._optional import require

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "list_images",
    "load_image",
    "load_image_uint8",
    "check_image",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""File suffixes (case-insensitive) treated as images when globbing folders."""


class ImageReadError(HairError):
    """An image file is missing, unreadable or corrupt; the message names the file."""


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (sorted), selected by :data:`IMAGE_EXTENSIONS`.

    Args:
        folder: directory to glob.
        recursive: also descend into sub-folders.

    Returns:
        Sorted paths; hidden files (``.name``) are skipped.

    Raises:
        HairError: ``folder`` does not exist or is not a directory.

    Example:
        >>> import tempfile
        >>> list_images(tempfile.mkdtemp())
        []
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HairError(f"image folder not found: {folder}")
    pattern = "**/*" if recursive else "*"
    return sorted(
        p
        for p in folder.glob(pattern)
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def check_image(path: str | Path) -> str | None:
    """Cheap readability check (header only): ``None`` if Pillow can open ``path``, else the reason.

    Args:
        path: image file.

    Returns:
        ``None`` when readable, otherwise ``"ExceptionType: message"``.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "bad.png")
        >>> _ = open(p, "wb").write(b"not an image")
        >>> check_image(p).split(":")[0]
        'UnidentifiedImageError'
    """
    image_mod = require("PIL.Image", "reading image files")
    try:
        with image_mod.open(path) as im:
            im.size  # noqa: B018 - forces the header to be parsed
    except (OSError, ValueError, image_mod.DecompressionBombError) as err:
        return f"{type(err).__name__}: {err}"
    return None


def load_image_uint8(path: str | Path) -> torch.Tensor:
    """Decode an image file to an RGB ``uint8`` tensor.

    Greyscale, palette and alpha images are converted to RGB (alpha dropped). 16-bit images are
    reduced by Pillow's RGB conversion.

    Args:
        path: image file.

    Returns:
        ``(3, H, W)`` ``torch.uint8``.

    Raises:
        ImageReadError: the file is missing or cannot be decoded (message names the file).

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> p = os.path.join(tempfile.mkdtemp(), "a.png")
        >>> Image.new("L", (5, 4), 200).save(p)
        >>> t = load_image_uint8(p)
        >>> t.shape, t.dtype, int(t.max())
        (torch.Size([3, 4, 5]), torch.uint8, 200)
    """
    image_mod = require("PIL.Image", "reading image files")
    try:
        with image_mod.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            data = bytearray(im.tobytes())
    except FileNotFoundError as err:
        raise ImageReadError(f"image file not found: {path}") from err
    except (OSError, ValueError, SyntaxError, image_mod.DecompressionBombError) as err:
        raise ImageReadError(f"cannot read image {path}: {type(err).__name__}: {err}") from err
    return torch.frombuffer(data, dtype=torch.uint8).view(h, w, 3).permute(2, 0, 1).contiguous()


def load_image(path: str | Path) -> torch.Tensor:
    """Decode an image file to RGB float32 in ``[0, 1]``, shape ``(3, H, W)``.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> p = os.path.join(tempfile.mkdtemp(), "a.png")
        >>> Image.new("RGB", (2, 2), (255, 0, 0)).save(p)
        >>> load_image(p)[:, 0, 0].tolist()
        [1.0, 0.0, 0.0]
    """
    return load_image_uint8(path).float().div_(255.0)
