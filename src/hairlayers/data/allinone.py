"""Readers for the standard all-in-one restoration layout (PromptIR / HAIR data folders).

Training root (the folder that contains ``Train/``)::

    Train/Denoise/**                          clean images only (BSD400 + WED); noise added on the fly
    Train/Derain/rainy/rain-N.png             with Train/Derain/gt/norain-N.png
    Train/Dehaze/synthetic/part1..4/ID_*.jpg  with Train/Dehaze/original/ID.*  (id = name up to "_")
    Train/Deblur/{blur,sharp}/NAME            identical names (GoPro)
    Train/Enhance/{low,gt}/NAME               identical names (LOLv1)

Test root (the folder that contains ``test/``)::

    test/denoise/{bsd68,urban100}/**          clean; noise added deterministically
    test/derain/Rain100L/{input,target}       rain-N ↔ norain-N, or identical names
    test/dehaze/{input,target}                SOTS: ID_*.jpg ↔ ID.*
    test/deblur/gopro/{input,target}          identical names
    test/enhance/lol/{input,target}           identical names

Items are ``(degraded, clean, label)``: float32 ``(3, H, W)`` tensors in ``[0, 1]`` and a label
string (see :mod:`hairlayers.data.tasks`). Training items are ``patch_size``² random crops with random
flips; test items are whole images centre-cropped to a multiple of 16 (sizes differ, so evaluate
with ``batch_size=1``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .._checks import positive_int
from ..errors import HairError
from .._rng import generator
from .degradations import add_gaussian_noise
from .io import load_image_uint8
from .pairing import PairingReport, list_clean, pair_folders
from .tasks import PAPER_SIGMAS, TASKS, THREE_TASKS, check_tasks, denoise_label
from .transforms import center_crop_multiple, random_crop, random_flip, to_float

__all__ = ["PAPER_REPEATS", "AllInOneTrainDataset", "AllInOneTestDataset", "train_reports", "test_report"]

PAPER_REPEATS: dict[str, int] = {"denoise": 3, "derain": 120, "dehaze": 1, "deblur": 5, "enhance": 20}
"""Per-task repeat factors of one training epoch (PromptIR's mix, HAIR's five-task extension).

Denoising is repeated 3 times *for each* noise level, i.e. 9 noisy copies of every clean image per
epoch with the default three sigmas.
"""

# task -> (input folder, target folder, pairing rule, recursive inputs); None input = clean only
_TRAIN = {
    "denoise": (None, "Train/Denoise", "same", True),
    "derain": ("Train/Derain/rainy", "Train/Derain/gt", "derain", False),
    "dehaze": ("Train/Dehaze/synthetic", "Train/Dehaze/original", "dehaze", True),
    "deblur": ("Train/Deblur/blur", "Train/Deblur/sharp", "same", False),
    "enhance": ("Train/Enhance/low", "Train/Enhance/gt", "same", False),
}
_TEST = {
    "derain": ("test/derain/Rain100L/input", "test/derain/Rain100L/target", "derain"),
    "dehaze": ("test/dehaze/input", "test/dehaze/target", "dehaze"),
    "deblur": ("test/deblur/gopro/input", "test/deblur/gopro/target", "same"),
    "enhance": ("test/enhance/lol/input", "test/enhance/lol/target", "same"),
}
DENOISE_TEST_SETS = ("bsd68", "urban100")


def _check_root(root: Path, sub: str) -> None:
    """Catch the common slip of passing ``.../Train`` itself instead of the folder above it."""
    if not (root / sub).is_dir() and root.name.lower() == sub.lower() and root.is_dir():
        raise HairError(f"pass the folder that contains {sub}/, not {sub}/ itself: use {root.parent}")


def train_reports(
    root: str | Path,
    tasks: Sequence[str] = THREE_TASKS,
    *,
    check_files: bool = True,
    min_size: int = 1,
    workers: int | None = None,
) -> dict[str, PairingReport]:
    """Pair the training folders of ``tasks`` under ``root`` (which contains ``Train/``).

    Useful to inspect a download before training: ``print(r.summary())`` for each report.

    Args:
        root: folder containing ``Train/``.
        tasks: task names.
        check_files: decode every image and report unreadable ones, images smaller than
            ``min_size`` and pairs of different sizes (see :func:`~hairlayers.data.pair_folders`).
        min_size: smallest height and width accepted (the training patch size).
        workers: threads decoding the images.

    Returns:
        Task name → :class:`~hairlayers.data.PairingReport`.

    Example:
        >>> import tempfile
        >>> reports = train_reports(tempfile.mkdtemp(), ["derain"])
        >>> [str(p.relative_to(p.parents[2])) for p in reports["derain"].missing_folders]
        ['Train/Derain/rainy', 'Train/Derain/gt']
    """
    root = Path(root)
    _check_root(root, "Train")
    out = {}
    for task in check_tasks(tasks):
        inp, tgt, rule, rec = _TRAIN[task]
        if inp is None:
            out[task] = list_clean(root / tgt, task, check_files=check_files, min_size=min_size, workers=workers)
        else:
            out[task] = pair_folders(
                root / inp, root / tgt, task, rule=rule, recursive_inputs=rec, check_files=check_files,
                min_size=min_size, workers=workers,
            )
    return out


def test_report(
    root: str | Path,
    task: str,
    *,
    denoise_set: str = "bsd68",
    check_files: bool = True,
    min_size: int = 16,
    workers: int | None = None,
) -> PairingReport:
    """Pair the test folders of one task under ``root`` (which contains ``test/``).

    Args:
        root: folder containing ``test/``.
        task: task name.
        denoise_set: ``"bsd68"`` or ``"urban100"`` (denoising only).
        check_files: decode every image and report unreadable ones, images smaller than
            ``min_size`` and pairs of different sizes.
        min_size: smallest height and width accepted (default one 16×16 block of the protocol's
            centre crop).
        workers: threads decoding the images.

    Returns:
        The task's :class:`~hairlayers.data.PairingReport`.

    Example:
        >>> import tempfile
        >>> r = test_report(tempfile.mkdtemp(), "denoise", denoise_set="urban100")
        >>> r.missing_folders[0].parts[-2:], r.pairs
        (('denoise', 'urban100'), [])
    """
    root = Path(root)
    _check_root(root, "test")
    check_tasks([task])
    if task == "denoise":
        if denoise_set not in DENOISE_TEST_SETS:
            raise HairError(f"denoise_set must be one of {DENOISE_TEST_SETS}, got {denoise_set!r}")
        return list_clean(
            root / "test" / "denoise" / denoise_set, task, check_files=check_files, min_size=min_size,
            workers=workers,
        )
    inp, tgt, rule = _TEST[task]
    return pair_folders(
        root / inp, root / tgt, task, rule=rule, check_files=check_files, min_size=min_size, workers=workers
    )


@dataclasses.dataclass(frozen=True)
class _Entry:
    label: str
    input: Path | None
    target: Path
    sigma: float | None


class AllInOneTrainDataset(Dataset):
    """Training patches from the all-in-one layout, with the paper's epoch mix.

    Every epoch lists each training pair ``repeats[task]`` times (denoising: ``repeats["denoise"]``
    times per sigma). Item ``i`` is cropped, flipped and (for denoising) noised with a generator
    seeded by ``(seed, epoch, i)``: results do not depend on the number of workers, and
    :meth:`set_epoch` gives fresh crops every epoch.

    Args:
        root: folder containing ``Train/``.
        tasks: tasks to include (default the paper's three; use :data:`~hairlayers.data.TASKS`
            for five).
        repeats: per-task repeat factors, merged over :data:`PAPER_REPEATS`.
        sigmas: noise levels for denoising (uint8 scale).
        patch_size: side of the square random crop.
        flips: random horizontal and vertical flips.
        seed: base seed.
        allow_unpaired: train on the good pairs even if some files did not pair, cannot be
            decoded, are smaller than ``patch_size`` or differ in size from their partner (a
            warning lists them); by default that raises :class:`~hairlayers.data.PairingError`
            here, before any training starts.
        check_files: decode every image while indexing (in a thread pool; the report says how
            long it took) so that every item the dataset lists can be loaded and cropped.

    Shape:
        Items: ``(degraded (3, P, P), clean (3, P, P), label)`` with ``P = patch_size``.

    Attributes:
        reports: the :class:`~hairlayers.data.PairingReport` of each task.
        counts: number of items per label in one epoch.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "Train/Denoise").mkdir(parents=True)
        >>> Image.new("RGB", (40, 40), (90, 120, 200)).save(root / "Train/Denoise/a.png")
        >>> ds = AllInOneTrainDataset(root, tasks=["denoise"], patch_size=32)
        >>> len(ds), ds.counts["denoise_25"]
        (9, 3)
        >>> degraded, clean, label = ds[0]
        >>> degraded.shape, label
        (torch.Size([3, 32, 32]), 'denoise_15')
    """

    def __init__(
        self,
        root: str | Path,
        tasks: Sequence[str] = THREE_TASKS,
        *,
        repeats: Mapping[str, int] | None = None,
        sigmas: Sequence[float] = PAPER_SIGMAS,
        patch_size: int = 128,
        flips: bool = True,
        seed: int = 0,
        allow_unpaired: bool = False,
        check_files: bool = True,
    ) -> None:
        tasks = check_tasks(tasks)
        rep = dict(PAPER_REPEATS)
        for k, v in (repeats or {}).items():
            if k not in TASKS or not isinstance(v, int) or v < 0:
                raise HairError(f"repeats must map task names in {TASKS} to ints >= 0, got {k!r}: {v!r}")
            rep[k] = v
        positive_int("patch_size", patch_size)
        if "denoise" in tasks and not sigmas:
            raise HairError("sigmas must not be empty when 'denoise' is among the tasks")
        self.root = Path(root)
        self.tasks = tasks
        self.repeats = {t: rep[t] for t in tasks}
        self.sigmas = tuple(sigmas)
        self.patch_size = patch_size
        self.flips = flips
        self.seed = seed
        self.epoch = 0
        self.reports = train_reports(self.root, tasks, check_files=check_files, min_size=patch_size)
        entries: list[_Entry] = []
        for task in tasks:
            report = self.reports[task]
            report.enforce(allow_unpaired)
            if task == "denoise":
                for sigma in self.sigmas:
                    for _ in range(self.repeats[task]):
                        entries += [
                            _Entry(denoise_label(sigma), None, t, float(sigma)) for _, t in report.pairs
                        ]
            else:
                for _ in range(self.repeats[task]):
                    entries += [_Entry(task, i, t, None) for i, t in report.pairs]
        if not entries:
            raise HairError(f"all repeat factors are 0 for tasks {tasks}: the epoch would be empty")
        self._entries = entries
        self.counts = Counter(e.label for e in entries)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random crops, flips and noise the items use.

        Args:
            epoch: epoch number (items of different epochs draw from different seeds).
        """
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        if not 0 <= index < len(self._entries):
            raise IndexError(f"index {index} out of range for {len(self._entries)} items")
        e = self._entries[index]
        g = generator(self.seed, self.epoch, index)
        clean = load_image_uint8(e.target)
        if e.input is None:
            (clean,) = random_crop((clean,), self.patch_size, g, where=str(e.target))
            images = (clean,)
        else:
            images = random_crop(
                (load_image_uint8(e.input), clean), self.patch_size, g, where=f"{e.input} / {e.target}"
            )
        if self.flips:
            images = random_flip(images, g)
        if e.input is None:
            degraded = add_gaussian_noise(images[0].contiguous(), e.sigma, g)
            clean = images[0]
        else:
            degraded, clean = images
        return to_float(degraded).contiguous(), to_float(clean).contiguous(), e.label


class AllInOneTestDataset(Dataset):
    """Whole test images of one task, centre-cropped to a multiple of ``crop_multiple``.

    For denoising, noise of level ``sigma`` is added with a generator seeded by
    ``(seed, sigma, index)``: the same noisy images on every run and machine.

    Args:
        root: folder containing ``test/``.
        task: one of :data:`~hairlayers.data.TASKS`.
        denoise_set: ``"bsd68"`` or ``"urban100"`` (denoising only).
        sigma: noise level for denoising.
        crop_multiple: centre-crop height and width to a multiple of this (16 in the protocol).
        seed: noise seed.
        allow_unpaired: evaluate on the good pairs even if some files did not pair, cannot be
            decoded, are smaller than one ``crop_multiple`` block or differ in size from their
            partner (a warning lists them); by default that raises
            :class:`~hairlayers.data.PairingError`.
        check_files: decode every image while indexing (see :class:`AllInOneTrainDataset`).

    Shape:
        Items: ``(degraded (3, H, W), clean (3, H, W), label)``, sizes vary between images.

    Attributes:
        files: the degraded file (or clean file for denoising) of each item, for per-image reports.
        report: the :class:`~hairlayers.data.PairingReport`.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for sub in ("input", "target"):
        ...     (root / "test/deblur/gopro" / sub).mkdir(parents=True)
        ...     Image.new("RGB", (37, 50)).save(root / "test/deblur/gopro" / sub / "x.png")
        >>> degraded, clean, label = AllInOneTestDataset(root, "deblur")[0]
        >>> degraded.shape, label
        (torch.Size([3, 48, 32]), 'deblur')
    """

    def __init__(
        self,
        root: str | Path,
        task: str,
        *,
        denoise_set: str = "bsd68",
        sigma: float = 25,
        crop_multiple: int = 16,
        seed: int = 0,
        allow_unpaired: bool = False,
        check_files: bool = True,
    ) -> None:
        positive_int("crop_multiple", crop_multiple)
        self.report = test_report(
            root, task, denoise_set=denoise_set, check_files=check_files, min_size=crop_multiple
        )
        self.report.enforce(allow_unpaired)
        self.task = task
        self.sigma = float(sigma)
        self.label = denoise_label(sigma) if task == "denoise" else task
        self.crop_multiple = crop_multiple
        self.seed = seed
        self._pairs = list(self.report.pairs)
        self.files = [i if i is not None else t for i, t in self._pairs]

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        if not 0 <= index < len(self._pairs):
            raise IndexError(f"index {index} out of range for {len(self._pairs)} items")
        inp, tgt = self._pairs[index]
        clean = load_image_uint8(tgt)
        if inp is None:
            clean = center_crop_multiple(clean, self.crop_multiple).contiguous()
            # noise after cropping, so the noise field does not depend on the image border
            g = generator(self.seed, int(round(self.sigma * 1000)), index)
            degraded = add_gaussian_noise(clean, self.sigma, g)
        else:
            degraded = load_image_uint8(inp)
            if degraded.shape != clean.shape:
                raise HairError(
                    f"test pair differs in size: {inp} is {tuple(degraded.shape[1:])},"
                    f" {tgt} is {tuple(clean.shape[1:])}"
                )
            degraded = center_crop_multiple(degraded, self.crop_multiple)
            clean = center_crop_multiple(clean, self.crop_multiple)
        return to_float(degraded).contiguous(), to_float(clean).contiguous(), self.label
