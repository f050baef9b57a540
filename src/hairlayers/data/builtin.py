"""A built-in, download-free all-in-one benchmark: five synthetic degradations of local photographs.

The clean images are photographs scikit-image ships inside its wheel (nothing is downloaded).
Training and test sets use disjoint images:

* train: astronaut, rocket, stereo_motorcycle (left view), hubble_deep_field,
  immunohistochemistry, retina, colorwheel, and the greyscale moon, grass, gravel, coins, clock
  (greyscale images are repeated to RGB);
* test: coffee, chelsea, and the greyscale camera and brick.

``image_folder=path`` replaces them with every image found (recursively) in a folder of your own
photographs; give the train and test sets different folders.

This is a synthetic stand-in to check that a model learns all five tasks and to compare models
with each other on a CPU. Its numbers are *not* comparable with the paper's tables (different
images, synthetic degradations, small crops). Each degradation is described in
:mod:`hairlayers.data.degradations`.

Decoded source images are cached once per process, so building datasets repeatedly is cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..errors import HairError
from ._optional import require
from .._rng import generator
from .degradations import degrade
from .io import list_images, load_image_uint8
from .tasks import PAPER_SIGMAS, TASKS, check_tasks
from .transforms import random_crop, random_flip, to_float

__all__ = ["TRAIN_IMAGES", "TEST_IMAGES", "builtin_images", "BuiltinTrainDataset", "BuiltinTestDataset"]

TRAIN_IMAGES: tuple[str, ...] = (
    "astronaut", "rocket", "stereo_motorcycle", "hubble_deep_field", "immunohistochemistry",
    "retina", "colorwheel", "moon", "grass", "gravel", "coins", "clock",
)  # fmt: skip
"""scikit-image images used for training (all load offline)."""

TEST_IMAGES: tuple[str, ...] = ("coffee", "chelsea", "camera", "brick")
"""scikit-image images used for testing, disjoint from :data:`TRAIN_IMAGES`."""


@functools.lru_cache(maxsize=None)
def _skimage_image(name: str) -> torch.Tensor:
    data = require("skimage.data", "the built-in benchmark")
    array = getattr(data, name)()
    if isinstance(array, tuple):  # stereo_motorcycle returns (left, right, disparity)
        array = array[0]
    t = torch.as_tensor(array)
    if t.dtype != torch.uint8:
        raise HairError(f"skimage.data.{name}() is {t.dtype}, expected a uint8 photograph")
    if t.dim() == 2:
        t = t.unsqueeze(-1).expand(-1, -1, 3)
    return t[..., :3].permute(2, 0, 1).contiguous()


@functools.lru_cache(maxsize=None)
def _folder_image(path: str, mtime_ns: int) -> torch.Tensor:
    del mtime_ns  # part of the cache key only: an edited file is decoded again
    return load_image_uint8(path)


def builtin_images(split: str = "train", image_folder: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The clean source images of a split, decoded once per process.

    Args:
        split: ``"train"`` or ``"test"``.
        image_folder: use every image under this folder (recursively) instead of scikit-image's.

    Returns:
        Name → ``(3, H, W)`` ``uint8`` tensor (names are file paths for ``image_folder``).

    Example:
        >>> imgs = builtin_images("test")
        >>> list(imgs), imgs["camera"].shape
        (['coffee', 'chelsea', 'camera', 'brick'], torch.Size([3, 512, 512]))
    """
    if image_folder is not None:
        files = list_images(image_folder, recursive=True)
        if not files:
            raise HairError(
                f"image_folder {image_folder} contains no images (looked for common suffixes, recursively)"
            )
        return {str(p): _folder_image(str(p), p.stat().st_mtime_ns) for p in files}
    if split not in ("train", "test"):
        raise HairError(f"split must be 'train' or 'test', got {split!r}")
    names = TRAIN_IMAGES if split == "train" else TEST_IMAGES
    return {n: _skimage_image(n) for n in names}


def _check_sizes(images: Mapping[str, torch.Tensor], size: int) -> None:
    small = [f"{n} ({t.shape[1]}x{t.shape[2]})" for n, t in images.items() if min(t.shape[1:]) < size]
    if small:
        raise HairError(f"images smaller than the {size}x{size} crop: {', '.join(small)}")


def _schedule(weights: Mapping[str, int]) -> list[str]:
    """One cycle in which task ``t`` appears ``weights[t]`` times, spread evenly."""
    slots = [((j + 0.5) / w, i, t) for i, (t, w) in enumerate(weights.items()) for j in range(w)]
    return [t for _, _, t in sorted(slots)]


class BuiltinTrainDataset(Dataset):
    """Random patches of the built-in training images with random degradations of the five tasks.

    Item ``i`` of epoch ``e`` uses a generator seeded by ``(seed, e, i)``: the source image, crop,
    flips and degradation parameters are drawn from it, so the same seed gives bit-identical data
    regardless of worker count. Tasks follow a fixed cycle in which task ``t`` takes ``repeats[t]``
    slots (balanced by default); the noise level of a denoising item is drawn from ``sigmas``.

    Args:
        patch_size: side of the square patches.
        length: items per epoch.
        tasks: tasks to include.
        repeats: task → relative frequency (positive int); default 1 each.
        sigmas: noise levels for denoising (uint8 scale).
        flips: random horizontal and vertical flips.
        seed: base seed.
        image_folder: use your own photographs instead of scikit-image's.
        params: task → keyword parameters of its degradation (see
            :mod:`hairlayers.data.degradations`), e.g. ``{"dehaze": {"beta": (1.0, 2.0)}}``.

    Shape:
        Items: ``(degraded (3, P, P), clean (3, P, P), label)``, float32 in ``[0, 1]``.

    Example:
        >>> ds = BuiltinTrainDataset(patch_size=32, length=10, seed=0)
        >>> degraded, clean, label = ds[1]
        >>> degraded.shape, label
        (torch.Size([3, 32, 32]), 'derain')
        >>> torch.equal(ds[1][0], BuiltinTrainDataset(patch_size=32, length=10, seed=0)[1][0])
        True
    """

    def __init__(
        self,
        patch_size: int = 64,
        length: int = 1000,
        *,
        tasks: Sequence[str] = TASKS,
        repeats: Mapping[str, int] | None = None,
        sigmas: Sequence[float] = PAPER_SIGMAS,
        flips: bool = True,
        seed: int = 0,
        image_folder: str | Path | None = None,
        params: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        self.tasks = check_tasks(tasks)
        weights = {t: 1 for t in self.tasks}
        for k, v in (repeats or {}).items():
            if k not in self.tasks or not isinstance(v, int) or v < 1:
                raise HairError(
                    f"repeats must map selected tasks {self.tasks} to ints >= 1, got {k!r}: {v!r}"
                )
            weights[k] = v
        if length < 1 or patch_size < 1:
            raise HairError(f"length and patch_size must be >= 1, got {length}, {patch_size}")
        if "denoise" in self.tasks and not sigmas:
            raise HairError("sigmas must not be empty when 'denoise' is among the tasks")
        bad = sorted(set(params or {}) - set(TASKS))
        if bad:
            raise HairError(f"params keys must be task names in {TASKS}, got {bad}")
        self.patch_size = patch_size
        self.length = length
        self.sigmas = tuple(sigmas)
        self.flips = flips
        self.seed = seed
        self.epoch = 0
        self.params = {t: dict(p) for t, p in (params or {}).items()}
        self.schedule = _schedule(weights)
        self.images = builtin_images("train", image_folder)
        self._sources = list(self.images.values())
        _check_sizes(self.images, patch_size)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws the items use.

        Args:
            epoch: epoch number (items of different epochs draw from different seeds).
        """
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        g = generator(self.seed, self.epoch, index)
        task = self.schedule[index % len(self.schedule)]
        src = self._sources[int(torch.randint(len(self._sources), (1,), generator=g))]
        (clean,) = random_crop((src,), self.patch_size, g)
        if self.flips:
            (clean,) = random_flip((clean,), g)
        clean = clean.contiguous()
        sigma = (
            self.sigmas[int(torch.randint(len(self.sigmas), (1,), generator=g))] if task == "denoise" else 25
        )
        degraded, label = degrade(clean, task, g, sigma=sigma, **self.params.get(task, {}))
        return degraded, to_float(clean), label


class BuiltinTestDataset(Dataset):
    """A fixed built-in test set: ``crops_per_task`` deterministic crops for each task.

    Crop ``k`` comes from test image ``k mod n_images`` at a position drawn from ``(seed, k)``; the
    same clean crops are used for every task, so per-task numbers are measured on the same content.
    Degradations are drawn from ``(seed, task, k)``; denoising uses ``sigma`` (25 by default). All
    items are computed once at construction.

    Args:
        crop_size: side of the square crops (a multiple of 16 keeps the protocol's constraint).
        crops_per_task: number of crops per task.
        tasks: tasks to include.
        sigma: noise level for denoising.
        seed: seed of crops and degradations.
        image_folder: use your own photographs instead of scikit-image's test images.
        params: per-task degradation parameters, as in :class:`BuiltinTrainDataset`.

    Shape:
        Items: ``(degraded (3, S, S), clean (3, S, S), label)``, float32 in ``[0, 1]``.

    Example:
        >>> ds = BuiltinTestDataset(crop_size=32, crops_per_task=2, tasks=["denoise", "dehaze"])
        >>> len(ds), [label for _, _, label in ds]
        (4, ['denoise_25', 'denoise_25', 'dehaze', 'dehaze'])
    """

    def __init__(
        self,
        crop_size: int = 128,
        crops_per_task: int = 8,
        *,
        tasks: Sequence[str] = TASKS,
        sigma: float = 25,
        seed: int = 0,
        image_folder: str | Path | None = None,
        params: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        self.tasks = check_tasks(tasks)
        if crops_per_task < 1 or crop_size < 1:
            raise HairError(f"crops_per_task and crop_size must be >= 1, got {crops_per_task}, {crop_size}")
        self.images = builtin_images("test", image_folder)
        _check_sizes(self.images, crop_size)
        sources = list(self.images.values())
        names = list(self.images)
        crops, self.crop_sources = [], []
        for k in range(crops_per_task):
            (crop,) = random_crop((sources[k % len(sources)],), crop_size, generator(seed, k))
            crops.append(crop.contiguous())
            self.crop_sources.append(names[k % len(names)])
        self._items: list[tuple[torch.Tensor, torch.Tensor, str]] = []
        for task in self.tasks:
            t_id = TASKS.index(task)
            extra = dict((params or {}).get(task, {}))
            for k, crop in enumerate(crops):
                degraded, label = degrade(crop, task, generator(seed, 1 + t_id, k), sigma=sigma, **extra)
                self._items.append((degraded, to_float(crop), label))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        degraded, clean, label = self._items[index]
        return degraded.clone(), clean.clone(), label
