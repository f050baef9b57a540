"""Readers for the all-in-one folder layout, on tiny fixture folders written with Pillow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hairlayers.data import (
    PAPER_REPEATS,
    AllInOneTestDataset,
    AllInOneTrainDataset,
    ImageReadError,
    PairingError,
    PairingReport,
    add_gaussian_noise,
    center_crop_multiple,
    load_image_uint8,
    pair_folders,
    train_reports,
)
from hairlayers.errors import HairError

from PIL import Image  # noqa: E402  (a test dependency)


def _img(seed: int, h: int, w: int) -> torch.Tensor:
    return torch.randint(0, 256, (3, h, w), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _save(path: Path, t: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.frombytes("RGB", (t.shape[2], t.shape[1]), t.permute(1, 2, 0).contiguous().numpy().tobytes()).save(
        path
    )


def _pair(inp: Path, tgt: Path, seed: int, h: int = 24, w: int = 20) -> None:
    """Degraded = 255 - clean, so a pair that stays aligned through crops/flips sums to exactly 1."""
    clean = _img(seed, h, w)
    _save(tgt, clean)
    _save(inp, 255 - clean)


@pytest.fixture()
def train_root(tmp_path: Path) -> Path:
    t = tmp_path / "Train"
    for i in range(2):
        _save(t / "Denoise" / f"img{i}.png", _img(i, 24, 22))
    _save(t / "Denoise" / "wed" / "sub.png", _img(9, 20, 20))  # nested: globbed recursively
    for i in (1, 2):
        _pair(t / "Derain/rainy" / f"rain-{i}.png", t / "Derain/gt" / f"norain-{i}.png", 10 + i)
    _pair(t / "Dehaze/synthetic/part1/0001_0.8_0.2.png", t / "Dehaze/original/0001.png", 20)
    clean = load_image_uint8(t / "Dehaze/original/0001.png")
    _save(t / "Dehaze/synthetic/part2/0001_0.9_0.1.png", 255 - clean)  # second haze level, same gt
    _pair(t / "Deblur/blur/a.png", t / "Deblur/sharp/a.png", 30)
    _pair(t / "Enhance/low/5.png", t / "Enhance/gt/5.png", 40)
    return tmp_path


@pytest.fixture()
def test_root(tmp_path: Path) -> Path:
    t = tmp_path / "test"
    _save(t / "denoise/bsd68/x.png", _img(1, 37, 50))
    _save(t / "denoise/urban100/y.png", _img(2, 40, 33))
    _pair(t / "derain/Rain100L/input/rain-001.png", t / "derain/Rain100L/target/norain-001.png", 3, 35, 40)
    _pair(t / "derain/Rain100L/input/2.png", t / "derain/Rain100L/target/2.png", 4, 20, 20)
    _pair(t / "dehaze/input/0042_0.9_0.16.png", t / "dehaze/target/0042.png", 5, 33, 17)
    _pair(t / "deblur/gopro/input/a.png", t / "deblur/gopro/target/a.png", 6)
    _pair(t / "enhance/lol/input/1.png", t / "enhance/lol/target/1.png", 7)
    return tmp_path


FIVE = ("denoise", "derain", "dehaze", "deblur", "enhance")


def test_epoch_mix_counts_and_labels(train_root: Path) -> None:
    ds = AllInOneTrainDataset(train_root, FIVE, patch_size=16)
    assert ds.counts == {
        "denoise_15": 3 * 3, "denoise_25": 3 * 3, "denoise_50": 3 * 3,
        "derain": 120 * 2, "dehaze": 1 * 2, "deblur": 5, "enhance": 20,
    }  # fmt: skip
    assert len(ds) == sum(ds.counts.values())
    ds2 = AllInOneTrainDataset(train_root, ["derain", "deblur"], repeats={"derain": 2}, patch_size=16)
    assert ds2.counts == {"derain": 4, "deblur": PAPER_REPEATS["deblur"]}


def test_items_are_aligned_patches(train_root: Path) -> None:
    ds = AllInOneTrainDataset(train_root, FIVE, patch_size=16, seed=3)
    seen = set()
    for i in range(0, len(ds), 13):
        degraded, clean, label = ds[i]
        seen.add(label)
        assert degraded.shape == clean.shape == (3, 16, 16)
        assert degraded.dtype == clean.dtype == torch.float32
        assert 0 <= float(degraded.min()) and float(degraded.max()) <= 1
        if not label.startswith("denoise"):
            # pairing and identical crop/flip of both images: 255 - x + x == 255
            torch.testing.assert_close(degraded + clean, torch.ones_like(clean), atol=1e-6, rtol=0)
    assert seen >= {"derain", "denoise_15"}


def test_flips_happen_and_keep_alignment(train_root: Path) -> None:
    ds = AllInOneTrainDataset(train_root, ["deblur"], patch_size=20, seed=0)
    full = load_image_uint8(train_root / "Train/Deblur/sharp/a.png").float() / 255  # 24x20
    kinds = set()
    for e in range(12):
        ds.set_epoch(e)
        _, clean, _ = ds[0]
        found = [
            (r, tuple(d)) for r in range(5) for d in ([], [-1], [-2], [-1, -2])
            if torch.equal(clean, full[:, r : r + 20].flip(d) if d else full[:, r : r + 20])
        ]  # fmt: skip
        assert found, "patch is not a crop of the ground truth"
        kinds.add(found[0][1])
    assert len(kinds) >= 3  # no flip, horizontal, vertical, both all occur


def test_determinism_and_epochs(train_root: Path) -> None:
    a = AllInOneTrainDataset(train_root, FIVE, patch_size=16, seed=1)
    b = AllInOneTrainDataset(train_root, FIVE, patch_size=16, seed=1)
    c = AllInOneTrainDataset(train_root, FIVE, patch_size=16, seed=2)
    idx = [0, 5, 30, len(a) - 1]
    for i in idx:
        assert torch.equal(a[i][0], b[i][0]) and torch.equal(a[i][1], b[i][1])
    assert any(not torch.equal(a[i][0], c[i][0]) for i in idx)
    first = a[0][0]
    a.set_epoch(1)
    assert not torch.equal(first, a[0][0])


def test_noise_protocol_matches_numpy_reference() -> None:
    clean = _img(0, 9, 11)
    for sigma in (15, 25, 50):
        noisy = add_gaussian_noise(clean, sigma, torch.Generator().manual_seed(sigma))
        noise = torch.randn(
            clean.shape, generator=torch.Generator().manual_seed(sigma), dtype=torch.float64
        ).numpy()
        ref = np.clip(clean.numpy().astype(np.float64) + noise * sigma, 0, 255).astype(np.uint8)
        assert noisy.dtype == torch.uint8
        np.testing.assert_array_equal(noisy.numpy(), ref)
        as_float = add_gaussian_noise(clean.float() / 255, sigma, torch.Generator().manual_seed(sigma))
        torch.testing.assert_close(as_float, noisy.float() / 255)


def test_denoise_items_have_the_protocol_statistics(tmp_path: Path) -> None:
    _save(tmp_path / "Train/Denoise/grey.png", torch.full((3, 70, 70), 128, dtype=torch.uint8))
    ds = AllInOneTrainDataset(tmp_path, ["denoise"], patch_size=64, sigmas=[25], repeats={"denoise": 1})
    degraded, clean, label = ds[0]
    assert label == "denoise_25"
    diff = (degraded - clean) * 255
    assert torch.allclose(diff, diff.round(), atol=1e-3)  # uint8 levels
    assert abs(float(diff.std()) - 25) < 1.0
    assert abs(float(diff.mean()) + 0.5) < 0.6  # truncation biases by about -0.5 level


def test_unpaired_is_refused_then_allowed_with_a_warning(train_root: Path) -> None:
    _save(train_root / "Train/Derain/rainy/rain-9.png", _img(0, 24, 20))
    _save(train_root / "Train/Deblur/sharp/orphan.png", _img(0, 24, 20))
    with pytest.raises(PairingError) as info:
        AllInOneTrainDataset(train_root, FIVE, patch_size=16)
    assert "rain-9.png" in str(info.value) and "allow_unpaired=True" in str(info.value)
    with pytest.warns(UserWarning, match="rain-9.png"):
        ds = AllInOneTrainDataset(train_root, ["derain"], patch_size=16, allow_unpaired=True)
    assert ds.counts["derain"] == 2 * 120
    with pytest.raises(PairingError, match="orphan.png"):
        AllInOneTrainDataset(train_root, ["deblur"], patch_size=16)


def test_unused_dehaze_ground_truth_is_reported_but_allowed(train_root: Path) -> None:
    _save(train_root / "Train/Dehaze/original/0002.png", _img(0, 24, 20))
    rep = train_reports(train_root, ["dehaze"])["dehaze"]
    assert [p.name for p in rep.unpaired_targets] == ["0002.png"] and rep.problems == []
    assert "0002" not in AllInOneTrainDataset(train_root, ["dehaze"], patch_size=16).counts


def test_unreadable_and_empty_and_missing(train_root: Path) -> None:
    (train_root / "Train/Denoise/bad.png").write_bytes(b"not a png")
    with pytest.raises(PairingError, match=r"unreadable: .*bad\.png"):
        AllInOneTrainDataset(train_root, ["denoise"], patch_size=16)
    ds = AllInOneTrainDataset(train_root, ["denoise"], patch_size=16, check_files=False)
    bad = next(i for i, e in enumerate(ds._entries) if e.target.name == "bad.png")
    with pytest.raises(ImageReadError, match="bad.png"):
        ds[bad]
    for p in (train_root / "Train/Enhance/low").iterdir():
        p.unlink()
    with pytest.raises(PairingError, match="no usable images"):
        AllInOneTrainDataset(train_root, ["enhance"], patch_size=16, allow_unpaired=True)
    with pytest.raises(PairingError, match="missing folder: .*Train/Enhance/low"):
        import shutil

        shutil.rmtree(train_root / "Train/Enhance/low")
        AllInOneTrainDataset(train_root, ["enhance"], patch_size=16)


def test_bad_sizes_name_the_files(train_root: Path, tmp_path: Path) -> None:
    # Found when the dataset is built (issue 11) ...
    with pytest.raises(PairingError, match=r"too small: .*img0.png is 24x22, smaller than 32x32"):
        AllInOneTrainDataset(train_root, ["denoise"], patch_size=32)
    _save(train_root / "Train/Deblur/blur/a.png", _img(0, 30, 20))
    with pytest.raises(PairingError, match=r"pair differs in size: .*blur/a.png is 30x20, .*sharp/a.png is 24x20"):
        AllInOneTrainDataset(train_root, ["deblur"], patch_size=16)
    # ... and, without the check, when the item is loaded.
    with pytest.raises(HairError, match=r"img0.png: image of 24x22 is smaller than the 32x32"):
        AllInOneTrainDataset(train_root, ["denoise"], patch_size=32, check_files=False)[0]
    with pytest.raises(HairError, match="a.png.*differ in size"):
        AllInOneTrainDataset(train_root, ["deblur"], patch_size=16, check_files=False)[0]


def test_report_summary_lists_then_counts() -> None:
    r = PairingReport("derain", unpaired_inputs=[Path(f"f{i}.png") for i in range(60)])
    s = r.summary()
    assert "f49.png" in s and "f50.png" not in s and "... and 10 more" in s
    assert len(r.problems) == 60


def test_pair_folders_rules(tmp_path: Path) -> None:
    _save(tmp_path / "in/rain-3.png", _img(0, 4, 4))
    _save(tmp_path / "gt/norain-3.jpg", _img(0, 4, 4))  # extension may differ
    r = pair_folders(tmp_path / "in", tmp_path / "gt", "derain", rule="derain")
    assert [(i.name, t.name) for i, t in r.pairs] == [("rain-3.png", "norain-3.jpg")]
    _save(tmp_path / "gt/norain-3.png", _img(0, 4, 4))
    r = pair_folders(tmp_path / "in", tmp_path / "gt", "derain", rule="derain")
    assert [p.name for p in r.ambiguous] == ["norain-3.png"] and r.problems
    with pytest.raises(HairError, match="unknown pairing rule"):
        pair_folders(tmp_path / "in", tmp_path / "gt", "x", rule="nope")


@pytest.mark.parametrize("task", FIVE)
def test_test_sets(test_root: Path, task: str) -> None:
    ds = AllInOneTestDataset(test_root, task)
    assert len(ds) == (2 if task == "derain" else 1)
    for i in range(len(ds)):
        degraded, clean, label = ds[i]
        assert label == ("denoise_25" if task == "denoise" else task)
        assert degraded.shape == clean.shape and clean.shape[1] % 16 == 0 and clean.shape[2] % 16 == 0
        full = load_image_uint8(ds.report.pairs[i][1]).float() / 255
        torch.testing.assert_close(clean, center_crop_multiple(full, 16))
        if task != "denoise":
            torch.testing.assert_close(degraded + clean, torch.ones_like(clean), atol=1e-6, rtol=0)
    again = AllInOneTestDataset(test_root, task)
    assert torch.equal(again[0][0], ds[0][0])  # deterministic noise


def test_denoise_test_options(test_root: Path) -> None:
    a = AllInOneTestDataset(test_root, "denoise", denoise_set="urban100", sigma=50)
    degraded, clean, label = a[0]
    assert label == "denoise_50" and clean.shape == (3, 32, 32) and a.files[0].name == "y.png"
    assert not torch.equal(
        degraded, AllInOneTestDataset(test_root, "denoise", denoise_set="urban100", sigma=50, seed=1)[0][0]
    )
    with pytest.raises(HairError, match="denoise_set"):
        AllInOneTestDataset(test_root, "denoise", denoise_set="kodak")


def test_center_crop_multiple_is_centred() -> None:
    x = torch.arange(3 * 37 * 50).view(3, 37, 50)
    out = center_crop_multiple(x, 16)
    assert out.shape == (3, 32, 48)
    assert torch.equal(out, x[:, 2:34, 1:49])


def test_corrupt_file_error_names_it(tmp_path: Path) -> None:
    p = tmp_path / "broken.jpg"
    p.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        load_image_uint8(p)
    with pytest.raises(ImageReadError, match="not found: .*nothere.png"):
        load_image_uint8(tmp_path / "nothere.png")


def test_import_needs_only_torch() -> None:
    code = (
        "import sys\n"
        "for m in ('numpy', 'PIL', 'skimage', 'matplotlib', 'scipy'): sys.modules[m] = None\n"
        "import hairlayers.data, hairlayers.metrics, torch\n"
        "x = torch.rand(2, 3, 8, 8)\n"
        "print(float(hairlayers.metrics.ssim(x, x)))\n"
        "try:\n"
        "    hairlayers.data.load_image('x.png')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": src}, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "1.0" in out.stdout and "pip install hairlayers[examples]" in out.stdout


def test_non_images_listed_and_root_slip_caught(train_root: Path) -> None:
    (train_root / "Train/Denoise/list.txt").write_text("img0.png\n")
    rep = train_reports(train_root, ["denoise"])["denoise"]
    assert [p.name for p in rep.ignored] == ["list.txt"] and rep.problems == []
    assert "ignored 1 non-image files: list.txt" in rep.summary()
    with pytest.raises(HairError, match="not Train/ itself"):
        AllInOneTrainDataset(train_root / "Train", ["denoise"])
