"""Data for all-in-one restoration: readers for the standard layout and a built-in benchmark.

Every dataset returns ``(degraded, clean, label)``: two float32 ``(3, H, W)`` tensors in ``[0, 1]``
and a label string (``"denoise_25"``, ``"derain"``, ``"dehaze"``, ``"deblur"``, ``"enhance"``).

* :class:`AllInOneTrainDataset` / :class:`AllInOneTestDataset`: the PromptIR / HAIR folder
  layout, the paper's noise protocol and epoch mix (:data:`PAPER_REPEATS`).
* :class:`BuiltinTrainDataset` / :class:`BuiltinTestDataset`: five synthetic degradations of
  photographs shipped with scikit-image (or your own folder), no download.
* :mod:`~hairlayers.data.degradations`: the degradations as plain functions.

Importing this package needs only torch; Pillow (file images) and scikit-image (built-in images)
are imported when used (``pip install hairlayers[examples]``).
"""

from __future__ import annotations

from .allinone import PAPER_REPEATS, AllInOneTestDataset, AllInOneTrainDataset, test_report, train_reports
from .builtin import TEST_IMAGES, TRAIN_IMAGES, BuiltinTestDataset, BuiltinTrainDataset, builtin_images
from .degradations import (
    add_gaussian_noise,
    add_haze,
    add_motion_blur,
    add_rain,
    degrade,
    low_light,
    motion_blur,
    random_motion_kernel,
)
from .io import IMAGE_EXTENSIONS, ImageReadError, list_images, load_image, load_image_uint8
from .pairing import PairingError, PairingReport, pair_folders
from .tasks import PAPER_SIGMAS, TASKS, THREE_TASKS, denoise_label, task_family
from .transforms import center_crop_multiple

__all__ = [
    "TASKS",
    "THREE_TASKS",
    "PAPER_SIGMAS",
    "PAPER_REPEATS",
    "task_family",
    "denoise_label",
    "AllInOneTrainDataset",
    "AllInOneTestDataset",
    "train_reports",
    "test_report",
    "BuiltinTrainDataset",
    "BuiltinTestDataset",
    "builtin_images",
    "TRAIN_IMAGES",
    "TEST_IMAGES",
    "add_gaussian_noise",
    "add_rain",
    "add_haze",
    "add_motion_blur",
    "motion_blur",
    "random_motion_kernel",
    "low_light",
    "degrade",
    "center_crop_multiple",
    "load_image",
    "load_image_uint8",
    "list_images",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "pair_folders",
    "PairingReport",
    "PairingError",
]
