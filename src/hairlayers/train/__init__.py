"""Training and evaluation: the paper's recipe for every model of the zoo.

* :func:`train` with a :class:`TrainConfig`: L1 loss (or the model's ``training_loss`` hook),
  AdamW, the two-phase learning rate, seeding, checkpoints that resume bit-exactly, AMP and
  ``torchrun`` data parallelism.
* :func:`evaluate`: PSNR/SSIM per task on whole test images; :func:`format_results` and
  :func:`save_results` print and store them.
* :func:`paired_difference`, :func:`mean_std`: comparing models over seeds (the significance rule
  of the benchmark tables).

See ``docs/training.md``.
"""

from __future__ import annotations

from .._amp import autocast_dtype
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .compare import PairedDifference, mean_std, paired_difference
from .distributed import DistInfo, dist_info, init_distributed
from .evaluate import evaluate, format_results, save_results
from .rng import get_rng_state, seed_everything, set_rng_state
from .sampler import EpochBatches
from .schedule import decay_start, make_scheduler, paper_lr
from .trainer import TrainConfig, TrainResult, config_from_dict, loss_of, resolve_device, train

__all__ = [
    "autocast_dtype",
    "DistInfo",
    "EpochBatches",
    "PairedDifference",
    "TrainConfig",
    "TrainResult",
    "config_from_dict",
    "decay_start",
    "dist_info",
    "evaluate",
    "format_results",
    "get_rng_state",
    "init_distributed",
    "latest_checkpoint",
    "load_checkpoint",
    "loss_of",
    "make_scheduler",
    "mean_std",
    "paired_difference",
    "paper_lr",
    "resolve_device",
    "save_checkpoint",
    "save_results",
    "seed_everything",
    "set_rng_state",
    "train",
]
