"""Issue 11, data: 16-bit images are scaled, and every pair is verified when a dataset is built."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import pytest
import torch

from hairlayers.data import (
    AllInOneTestDataset,
    AllInOneTrainDataset,
    ImageReadError,
    PairingError,
    builtin_images,
    load_image,
    load_image_uint8,
    pair_folders,
)
from hairlayers.data import pairing as pairing_mod
from hairlayers.data.io import check_image, image_size, scan_folder

from PIL import Image  # noqa: E402  (a test dependency)

# 16-bit values covering the whole range, including the edges of the high-byte rule (255, 256, 511)
VALUES = [0, 255, 256, 511, 1000, 12345, 32768, 40000, 65280, 65535, 7, 60000]


def _png16(path: Path, rows: list[list[int]], channels: int) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour)."""
    height, width = len(rows), len(rows[0]) // channels
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + struct.pack(f">{len(r)}H", *r) for r in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def _expected(values: list[int]) -> torch.Tensor:
    return torch.tensor([v >> 8 for v in values], dtype=torch.uint8)


def test_16bit_greyscale_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "g16.png"
    _png16(path, [VALUES, VALUES[::-1]], channels=1)
    with Image.open(path) as im:
        assert im.mode == "I;16"  # the mode Pillow's RGB conversion clipped at 255
    t = load_image_uint8(path)
    assert t.shape == (3, 2, 12)
    assert torch.equal(t[0, 0], _expected(VALUES)) and torch.equal(t[1], t[0]) and torch.equal(t[2], t[0])
    assert (t == 255).float().mean() < 0.2
    torch.testing.assert_close(load_image(path), t.float() / 255)


def test_16bit_rgb_and_grey_copies_decode_alike(tmp_path: Path) -> None:
    grey, rgb = tmp_path / "g.png", tmp_path / "rgb.png"
    _png16(grey, [VALUES], channels=1)
    _png16(rgb, [[v for v in VALUES for _ in range(3)]], channels=3)
    _png16(tmp_path / "rgba.png", [[v for v in VALUES for _ in range(4)]], channels=4)
    assert torch.equal(load_image_uint8(grey), load_image_uint8(rgb))
    assert torch.equal(load_image_uint8(rgb), load_image_uint8(tmp_path / "rgba.png"))


def test_16bit_and_32bit_tiff_and_float_images(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    tifffile = pytest.importorskip("tifffile")
    values = np.array([VALUES, VALUES], dtype=np.uint16)
    tifffile.imwrite(tmp_path / "g16.tif", values)
    tifffile.imwrite(tmp_path / "i32.tif", values.astype(np.int32))
    for name in ("g16.tif", "i32.tif"):
        assert torch.equal(load_image_uint8(tmp_path / name)[0, 0], _expected(VALUES)), name
    tifffile.imwrite(tmp_path / "big.tif", (values.astype(np.int32) * 4))
    with pytest.raises(ImageReadError, match=r"big.tif.*not 16-bit"):
        load_image_uint8(tmp_path / "big.tif")
    tifffile.imwrite(tmp_path / "f.tif", values.astype(np.float32) / 65535)
    with pytest.raises(ImageReadError, match=r"f.tif.*mode F"):
        load_image_uint8(tmp_path / "f.tif")


def test_16bit_images_in_an_image_folder(tmp_path: Path) -> None:
    _png16(tmp_path / "g16.png", [VALUES] * 4, channels=1)
    images = builtin_images(image_folder=tmp_path)
    assert torch.equal(images[str(tmp_path / "g16.png")][0, 0], _expected(VALUES))


# ----------------------------------------------------------------------------- verification


def _save(path: Path, h: int, w: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (h, w, 3), generator=g, dtype=torch.uint8)
    Image.frombytes("RGB", (w, h), pixels.numpy().tobytes()).save(path)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture()
def deblur_root(tmp_path: Path) -> Path:
    blur, sharp = tmp_path / "Train/Deblur/blur", tmp_path / "Train/Deblur/sharp"
    for name in ("good1", "good2", "trunc", "small", "mismatch"):
        _save(blur / f"{name}.png", 40, 40, seed=1)
        _save(sharp / f"{name}.png", 40, 40, seed=2)
    _truncate(blur / "trunc.png")
    _save(blur / "small.png", 20, 40)
    _save(sharp / "small.png", 20, 40)
    _save(sharp / "mismatch.png", 40, 36)
    return tmp_path


def test_every_problem_is_listed_with_its_path_before_training(deblur_root: Path) -> None:
    blur = deblur_root / "Train/Deblur/blur"
    assert check_image(blur / "trunc.png") is None  # the header alone looks fine
    with pytest.raises(PairingError) as info:
        AllInOneTrainDataset(deblur_root, ["deblur"], patch_size=32)
    message = str(info.value)
    assert f"unreadable: {blur / 'trunc.png'}" in message and "truncated" in message
    assert f"too small: {blur / 'small.png'} is 20x40, smaller than 32x32" in message
    assert f"pair differs in size: {blur / 'mismatch.png'} is 40x40" in message
    report = info.value.report
    assert sorted(i.name for i, _ in report.pairs) == ["good1.png", "good2.png"]
    assert report.verified and report.seconds > 0
    assert "decoded and size-checked every image in" in report.summary()


def test_lenient_mode_keeps_only_loadable_pairs(deblur_root: Path) -> None:
    with pytest.warns(UserWarning, match="too small"):
        ds = AllInOneTrainDataset(deblur_root, ["deblur"], patch_size=32, repeats={"deblur": 1}, allow_unpaired=True)
    assert len(ds) == 2
    for i in range(len(ds)):  # every item loads and crops (training died in a worker after step 1)
        degraded, clean, _ = ds[i]
        assert degraded.shape == clean.shape == (3, 32, 32)


def test_test_images_smaller_than_one_block_are_found(tmp_path: Path) -> None:
    for sub in ("input", "target"):
        _save(tmp_path / "test/deblur/gopro" / sub / "ok.png", 20, 24)
        _save(tmp_path / "test/deblur/gopro" / sub / "tiny.png", 12, 40)
    with pytest.raises(PairingError, match=r"too small: .*input/tiny.png is 12x40, smaller than 16x16"):
        AllInOneTestDataset(tmp_path, "deblur")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = AllInOneTestDataset(tmp_path, "deblur", allow_unpaired=True)
    assert [p.name for p in ds.files] == ["ok.png"] and ds[0][0].shape == (3, 16, 16)


def test_skipped_entries_are_named(tmp_path: Path) -> None:
    inp, gt = tmp_path / "in", tmp_path / "gt"
    _save(inp / "a.png", 8, 8)
    _save(gt / "a.png", 8, 8)
    _save(inp / ".hidden.png", 8, 8)
    _save(inp / ".ipynb_checkpoints" / "a-checkpoint.png", 8, 8)
    (inp / "folder.png").mkdir()
    _save(inp / "sub" / "b.png", 8, 8)
    (inp / "link.png").symlink_to(tmp_path / "nowhere.png")
    report = pair_folders(inp, gt, "deblur")
    skipped = {p.name: why for p, why in report.skipped}
    assert skipped == {
        ".hidden.png": "hidden file",
        ".ipynb_checkpoints": "hidden folder",
        "folder.png": "a folder named like an image",
        "link.png": "broken link",
        "sub": "a sub-folder (this folder is not searched recursively)",
    }
    assert [i.name for i, _ in report.pairs] == ["a.png"] and report.problems == []
    summary = report.summary()
    for name in skipped:
        assert str(inp / name) in summary
    assert scan_folder(inp, recursive=True)[0] == [inp / "a.png", inp / "sub" / "b.png"]


def test_files_are_decoded_in_a_thread_pool(tmp_path: Path, monkeypatch) -> None:
    for i in range(6):
        _save(tmp_path / "in" / f"{i}.png", 8, 8, seed=i)
        _save(tmp_path / "gt" / f"{i}.png", 8, 8, seed=i)
    used = []
    real = pairing_mod.ThreadPoolExecutor

    def recording(max_workers: int):
        used.append(max_workers)
        return real(max_workers=max_workers)

    monkeypatch.setattr(pairing_mod, "ThreadPoolExecutor", recording)
    report = pair_folders(tmp_path / "in", tmp_path / "gt", "deblur", workers=3)
    assert used == [3] and len(report.pairs) == 6
    assert image_size(tmp_path / "in" / "0.png") == (8, 8)
    with pytest.raises(Exception, match="workers"):
        pair_folders(tmp_path / "in", tmp_path / "gt", "deblur", workers=0)
