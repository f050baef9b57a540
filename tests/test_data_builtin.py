"""The built-in benchmark: offline images, disjoint splits, determinism, task mix, own folders."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

import skimage  # noqa: E402,F401  (the built-in images)
from PIL import Image  # noqa: E402

from hairlayers.data import TASKS, BuiltinTestDataset, BuiltinTrainDataset, builtin_images  # noqa: E402
from hairlayers.data.builtin import TEST_IMAGES, TRAIN_IMAGES, _schedule  # noqa: E402
from hairlayers.errors import HairError  # noqa: E402


def test_images_load_offline_and_splits_are_disjoint() -> None:
    train, test = builtin_images("train"), builtin_images("test")
    assert list(train) == list(TRAIN_IMAGES) and list(test) == list(TEST_IMAGES)
    assert not set(train) & set(test)
    for t in [*train.values(), *test.values()]:
        assert t.dtype == torch.uint8 and t.dim() == 3 and t.shape[0] == 3 and min(t.shape[1:]) >= 256
    # different names could still be the same picture (skimage's cat is chelsea): compare content
    sig = lambda t: (tuple(t.shape), int(t.long().sum()))  # noqa: E731
    assert not {sig(t) for t in train.values()} & {sig(t) for t in test.values()}
    assert builtin_images("test")["coffee"] is test["coffee"]  # decoded once per process


def test_train_items_deterministic_and_seed_dependent() -> None:
    a = BuiltinTrainDataset(patch_size=32, length=10, seed=4)
    b = BuiltinTrainDataset(patch_size=32, length=10, seed=4)
    c = BuiltinTrainDataset(patch_size=32, length=10, seed=5)
    for i in range(5):
        da, ca, la = a[i]
        db, cb, lb = b[i]
        assert torch.equal(da, db) and torch.equal(ca, cb) and la == lb
        assert da.shape == ca.shape == (3, 32, 32) and da.dtype == torch.float32
    assert any(not torch.equal(a[i][1], c[i][1]) for i in range(5))
    first = a[0][1]
    a.set_epoch(1)
    assert not torch.equal(first, a[0][1])


def test_balanced_and_weighted_task_mix() -> None:
    ds = BuiltinTrainDataset(patch_size=16, length=10)
    labels = [ds[i][2].split("_")[0] for i in range(10)]
    assert Counter(labels) == {t: 2 for t in TASKS}
    assert _schedule({"denoise": 3, "derain": 1}) == ["denoise", "denoise", "derain", "denoise"]
    weighted = BuiltinTrainDataset(
        patch_size=16, length=12, tasks=["derain", "dehaze"], repeats={"derain": 2}
    )
    assert Counter(weighted.schedule) == {"derain": 2, "dehaze": 1}
    with pytest.raises(HairError, match="repeats"):
        BuiltinTrainDataset(tasks=["derain"], repeats={"dehaze": 2})


def test_denoise_sigmas_and_params_override() -> None:
    ds = BuiltinTrainDataset(patch_size=16, length=40, tasks=["denoise"], sigmas=[15, 50])
    assert {ds[i][2] for i in range(40)} == {"denoise_15", "denoise_50"}
    # beta = 0 means no haze: the degraded patch is the clean patch exactly
    clear = BuiltinTrainDataset(patch_size=16, length=3, tasks=["dehaze"], params={"dehaze": {"beta": 0.0}})
    for i in range(3):
        degraded, clean, _ = clear[i]
        assert torch.equal(degraded, clean)
    with pytest.raises(HairError, match="params keys"):
        BuiltinTrainDataset(params={"desnow": {}})


def test_test_set_fixed_crops_shared_across_tasks() -> None:
    ds = BuiltinTestDataset(crop_size=48, crops_per_task=3, tasks=["denoise", "deblur"])
    assert len(ds) == 6
    assert [ds[i][2] for i in range(6)] == ["denoise_25"] * 3 + ["deblur"] * 3
    for k in range(3):
        assert torch.equal(ds[k][1], ds[3 + k][1])
    assert ds.crop_sources == ["coffee", "chelsea", "camera"]
    again = BuiltinTestDataset(crop_size=48, crops_per_task=3, tasks=["denoise", "deblur"])
    assert all(torch.equal(ds[i][0], again[i][0]) for i in range(6))
    other = BuiltinTestDataset(crop_size=48, crops_per_task=3, tasks=["denoise", "deblur"], seed=1)
    assert not torch.equal(ds[0][1], other[0][1])
    ds[0][0].zero_()  # items are copies: the cached set cannot be modified by a caller
    assert float(ds[0][0].sum()) > 0


def test_dataloader_batches() -> None:
    loader = DataLoader(BuiltinTrainDataset(patch_size=16, length=6), batch_size=3)
    degraded, clean, labels = next(iter(loader))
    assert degraded.shape == clean.shape == (3, 3, 16, 16)
    labels = list(labels)  # default_collate gives a sequence of str
    assert len(labels) == 3 and labels[1:] == ["derain", "dehaze"] and labels[0].startswith("denoise_")


def _write(path: Path, h: int, w: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = torch.randint(0, 256, (h, w, 3), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    Image.frombytes("RGB", (w, h), t.numpy().tobytes()).save(path)


def test_image_folder_option(tmp_path: Path) -> None:
    _write(tmp_path / "mine/a.png", 40, 50, 0)
    _write(tmp_path / "mine/sub/b.jpg", 36, 36, 1)
    ds = BuiltinTrainDataset(patch_size=32, length=4, image_folder=tmp_path / "mine")
    assert sorted(Path(k).name for k in ds.images) == ["a.png", "b.jpg"]
    assert ds[0][0].shape == (3, 32, 32)
    # every clean patch is a (possibly flipped) window of one of the folder's images
    sources = list(ds.images.values())
    for i in range(4):
        u8 = (ds[i][1] * 255).round().to(torch.uint8)
        variants = [u8, u8.flip(-1), u8.flip(-2), u8.flip(-1, -2)]
        hit = any(
            bool((img.unfold(1, 32, 1).unfold(2, 32, 1) == v[:, None, None]).flatten(3).all(-1).all(0).any())
            for img in sources for v in variants
        )  # fmt: skip
        assert hit, f"patch {i} is not a window of the source images"
    test = BuiltinTestDataset(
        crop_size=32, crops_per_task=2, tasks=["enhance"], image_folder=tmp_path / "mine"
    )
    assert len(test) == 2
    with pytest.raises(HairError, match=r"b\.jpg \(36x36\)"):
        BuiltinTrainDataset(patch_size=40, image_folder=tmp_path / "mine")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HairError, match="contains no images"):
        BuiltinTrainDataset(image_folder=tmp_path / "empty")
    with pytest.raises(HairError, match="image folder not found"):
        BuiltinTrainDataset(image_folder=tmp_path / "nowhere")
