"""Reading images from disk with Pillow into torch tensors (no numpy needed).

Every failure names the file: a missing or corrupt image raises :class:`ImageReadError`, so a bad
file in a dataset of thousands is found at once instead of surfacing as a shape error later.

Bit depth: 8-bit images are read as they are. 16-bit images (greyscale PNG/TIFF, which Pillow
opens as mode ``I;16`` or ``I``, and 16-bit RGB/RGBA) are reduced to 8 bits by their high byte,
``v >> 8``, the rule Pillow itself applies to 16-bit colour images, so a greyscale and an RGB copy of
one 16-bit image decode to the same values. (Pillow's own greyscale conversion clips 16-bit values
at 255 instead: a typical 16-bit photograph came out 99.6 % white.) 32-bit integer images with
values above 65535 and floating-point images (mode ``F``) raise :class:`ImageReadError`: their range
cannot be known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    "image_size",
    "scan_folder",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""File suffixes (case-insensitive) treated as images when globbing folders."""


class ImageReadError(HairError):
    """An image file is missing, unreadable or corrupt; the message names the file."""


def scan_folder(folder: str | Path, recursive: bool = False) -> tuple[list[Path], list[Path], list[tuple[Path, str]]]:
    """Everything in ``folder``, sorted into images, other files and entries skipped with a reason.

    Args:
        folder: directory to glob.
        recursive: also descend into sub-folders.

    Returns:
        ``(images, non_images, skipped)``: sorted image files (by :data:`IMAGE_EXTENSIONS`), sorted
        files with another suffix, and ``(path, why)`` for hidden files and folders, sub-folders
        that are not searched, folders named like an image and broken links.

    Raises:
        HairError: ``folder`` does not exist or is not a directory.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "a.png").mkdir(); _ = (root / ".b.png").write_bytes(b"")
        >>> images, others, skipped = scan_folder(root)
        >>> images, others, [(p.name, why) for p, why in skipped]
        ([], [], [('.b.png', 'hidden file'), ('a.png', 'a folder named like an image')])
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HairError(f"image folder not found: {folder}")
    images: list[Path] = []
    others: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for p in sorted(folder.glob("**/*" if recursive else "*")):
        parts = p.relative_to(folder).parts
        if any(part.startswith(".") for part in parts[:-1]):
            continue  # inside a hidden folder: the folder itself is listed once
        image_suffix = p.suffix.lower() in IMAGE_EXTENSIONS
        if p.name.startswith("."):
            skipped.append((p, "hidden folder" if p.is_dir() else "hidden file"))
        elif p.is_dir():
            if image_suffix:
                skipped.append((p, "a folder named like an image"))
            elif not recursive:
                skipped.append((p, "a sub-folder (this folder is not searched recursively)"))
        elif not p.is_file():
            skipped.append((p, "broken link" if p.is_symlink() else "not a regular file"))
        elif image_suffix:
            images.append(p)
        else:
            others.append(p)
    return images, others, skipped


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (sorted), selected by :data:`IMAGE_EXTENSIONS`.

    Args:
        folder: directory to glob.
        recursive: also descend into sub-folders.

    Returns:
        Sorted paths; hidden files and everything in hidden folders are skipped (see
        :func:`scan_folder` for what was skipped and why).

    Raises:
        HairError: ``folder`` does not exist or is not a directory.

    Example:
        >>> import tempfile
        >>> list_images(tempfile.mkdtemp())
        []
    """
    return scan_folder(folder, recursive)[0]


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


_WIDE_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # integer greyscale modes wider than 8 bits


def _rgb8(im: Any, path: str | Path) -> Any:
    """``im`` fully decoded as an 8-bit RGB Pillow image (see the module docs for 16-bit images)."""
    if im.mode == "F":
        raise ImageReadError(
            f"cannot read image {path}: floating-point pixels (mode F) have no known range; save it "
            "as an 8- or 16-bit image"
        )
    if im.mode in _WIDE_GREY:
        wide = im.convert("I")  # 32-bit signed integers, whatever the stored byte order
        low, high = wide.getextrema()
        if low < 0 or high > 65535:
            raise ImageReadError(
                f"cannot read image {path}: integer pixels in [{low}, {high}] are not 16-bit; save it "
                "as an 8- or 16-bit image"
            )
        im = wide.point(lambda v: v / 256).convert("L")  # v >> 8, as Pillow reduces 16-bit colour
    return im.convert("RGB")


def image_size(path: str | Path) -> tuple[int, int]:
    """Decode ``path`` completely, as :func:`load_image_uint8` does, and return ``(height, width)``.

    Finds what a header check misses: a truncated body, pixel formats the loader refuses. Raises
    :class:`ImageReadError` naming the file, as the loader does.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "wide.png"
        >>> Image.new("RGB", (5, 4)).save(path)
        >>> image_size(path)
        (4, 5)
    """
    return tuple(_decode(path, lambda im: (im.size[1], im.size[0])))  # type: ignore[return-value]


def _decode(path: str | Path, take: Any) -> Any:
    """Open ``path``, decode it to 8-bit RGB and return ``take(rgb_image)``; errors name the file."""
    image_mod = require("PIL.Image", "reading image files")
    try:
        with image_mod.open(path) as im:
            return take(_rgb8(im, path))
    except FileNotFoundError as err:
        raise ImageReadError(f"image file not found: {path}") from err
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError, image_mod.DecompressionBombError) as err:
        raise ImageReadError(f"cannot read image {path}: {type(err).__name__}: {err}") from err


def load_image_uint8(path: str | Path) -> torch.Tensor:
    """Decode an image file to an RGB ``uint8`` tensor.

    Greyscale, palette and alpha images are converted to RGB (alpha dropped). 16-bit images are
    reduced to 8 bits by their high byte (module docs); floating-point images are refused.

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
    w, h, data = _decode(path, lambda im: (*im.size, bytearray(im.tobytes())))
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
