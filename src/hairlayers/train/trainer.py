"""One training loop for every model of the zoo, following the paper's recipe (§4.1).

L1 loss, AdamW with β = (0.9, 0.999), a constant learning rate that drops tenfold for the last
1/16 of the steps, random crops and flips done by the dataset. On top of the recipe the loop adds
what long runs need: deterministic seeding, checkpoints that resume bit-exactly, optional mixed
precision and data-parallel training under ``torchrun``.

**Loss hook.** A model may define ``training_loss(degraded, clean) -> (loss, logs)``; the trainer
then calls it instead of computing ``L1(model(degraded), clean)``. ``loss`` is a scalar tensor to
minimise, ``logs`` a ``dict[str, float | Tensor]`` of extra numbers to show and record. A result
object with a scalar tensor attribute ``total`` is accepted too (AirNet's ``AirNetLoss``, which adds
the contrastive term): ``total`` is minimised and its other scalar tensor attributes are logged.

**Data.** ``dataset[i]`` returns ``(degraded, clean, ...)`` with ``(C, H, W)`` float tensors (extra
fields such as the task label are ignored). Each item is built with torch, NumPy and ``random``
seeded from ``(seed, epoch, i)``, so what it draws from them does not depend on the worker that
loads it or on where a run was resumed; datasets with a ``set_epoch(epoch)`` method are also told
the epoch. A dataset that draws from its own generator (the built-in ones:
``generator(dataset.seed, epoch, i)``) decides its own data: its seed wins over ``TrainConfig.seed``.

**Structure.** :func:`train` is the recipe; a private run object holds the run's position, history
and log window and does the resuming, logging and saving (so a checkpoint's contents are listed
once).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .._amp import autocast_dtype
from .._rng import get_rng_state, isolated_rng, mix_seed, seed_everything, set_rng_state
from .._checks import positive_int
from ..errors import HairError
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import barrier, gather_objects, init_distributed, mean_over_ranks
from .progress import Progress
from .sampler import EpochBatches
from .schedule import make_scheduler

__all__ = ["RESUME_IGNORES", "TrainConfig", "TrainResult", "config_changes", "config_from_dict", "resolve_device", "train"]


@dataclass
class TrainConfig:
    """Settings of a training run; the defaults are the paper's where the paper gives one.

    Attributes:
        steps: optimiser steps in the whole run. Give ``steps`` or ``epochs``, not both.
        epochs: passes over the dataset (``steps = epochs × batches per epoch``); the paper trains
            160 epochs (150 + 10).
        batch_size: items per process per step (paper: 32 all-in-one, 8 single task).
        lr: learning rate of the first phase (paper 2e-4).
        final_lr: rate of the last ``final_fraction`` of the steps (paper 2e-5).
        final_fraction: share of the low-rate phase (paper 10 of 160 epochs = 1/16).
        betas: AdamW betas (paper (0.9, 0.999)).
        weight_decay: AdamW weight decay (torch's default 0.01; the paper does not state one).
        grad_clip: clip the gradient norm to this value; ``None`` = no clipping (the paper's).
        seed: seeds model-independent randomness: data order, dropout, and what items draw
            from the global generators (a dataset's own seed decides its crops). Seed (e.g. with
            :func:`~hairlayers.train.seed_everything`) before building the model to fix its init.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA if available); under
            ``torchrun`` with CUDA each process uses GPU ``LOCAL_RANK``.
        amp: mixed precision: autocast to :func:`~hairlayers.train.autocast_dtype` (bfloat16 on
            CPU; float16 on CUDA, with a ``GradScaler``).
        num_workers: ``DataLoader`` worker processes.
        checkpoint_dir: folder for checkpoints; ``None`` writes none.
        checkpoint_every: also save every this many steps (``0``: only at the end).
        keep_last: keep only this many newest checkpoints (``0``: keep all).
        resume: checkpoint file or folder (its newest file that loads) to continue from. The
            checkpoint's config must equal this one in every field but those that only say where
            and how the run executes (:data:`RESUME_IGNORES`); a difference raises, naming each
            field, unless the field is listed in ``resume_overrides``.
        resume_overrides: fields allowed to differ from the checkpoint's config on resume, e.g.
            ``("lr",)``; the new values apply from the resumed step on (the learning rate and
            AdamW's betas and weight decay are set on the restored optimiser). The run length
            (``steps`` / ``epochs`` × batches) cannot change: the schedule depends on it.
        progress: ``"auto"`` (tqdm if installed, else log lines), ``"tqdm"``, ``"lines"``, ``"off"``.
        log_every: record (and, without tqdm, print) the mean loss every this many steps.
        find_unused_parameters: passed to ``DistributedDataParallel``; needed by models whose
            forward leaves some parameters unused.
    """

    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 8
    lr: float = 2e-4
    final_lr: float = 2e-5
    final_fraction: float = 1 / 16
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    grad_clip: float | None = None
    seed: int = 0
    device: str = "cpu"
    amp: bool = False
    num_workers: int = 0
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    keep_last: int = 0
    resume: str | None = None
    progress: str = "auto"
    log_every: int = 10
    find_unused_parameters: bool = False
    resume_overrides: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise HairError(f"give exactly one of steps or epochs, got steps={self.steps}, epochs={self.epochs}")
        for name in ("steps", "epochs"):
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name))
        positive_int("batch_size", self.batch_size)
        positive_int("log_every", self.log_every)
        for name in ("checkpoint_every", "keep_last", "num_workers"):
            if getattr(self, name) != 0:  # 0 is allowed: off / keep all / load in this process
                positive_int(name, getattr(self, name))
        if self.checkpoint_every and self.checkpoint_dir is None:
            raise HairError(f"checkpoint_every={self.checkpoint_every} needs checkpoint_dir (where to write them)")
        self.betas = tuple(self.betas)  # type: ignore[assignment]  # JSON/YAML give lists
        if isinstance(self.resume_overrides, str):
            raise HairError(f"resume_overrides must be a sequence of field names, got the str {self.resume_overrides!r}")
        self.resume_overrides = tuple(self.resume_overrides)
        unknown = sorted(set(self.resume_overrides) - set(TrainConfig.__dataclass_fields__))
        if unknown:
            raise HairError(f"resume_overrides names unknown TrainConfig field(s) {unknown}")


RESUME_IGNORES: frozenset[str] = frozenset({
    "resume", "resume_overrides", "checkpoint_dir", "checkpoint_every", "keep_last", "progress",
    "num_workers", "device", "find_unused_parameters",
})
"""TrainConfig fields a resumed run may change freely: where the run executes and saves, how it
reports. ``num_workers`` does not change the data (items are seeded per index)."""


def config_changes(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """Fields in which ``config`` differs from a checkpoint's ``saved`` config (those in
    :data:`RESUME_IGNORES` and ``config.resume_overrides`` aside), as ``"name: saved -> now"``.

    Example:
        >>> from dataclasses import asdict
        >>> old = asdict(TrainConfig(steps=10))
        >>> config_changes(old, TrainConfig(steps=10, lr=1e-3, seed=1, progress="off"))
        ['lr: 0.0002 -> 0.001', 'seed: 0 -> 1']
    """
    now = asdict(config)
    changes = []
    for name, value in now.items():
        if name in RESUME_IGNORES or name in config.resume_overrides:
            continue
        before = saved.get(name, "<absent>")
        if before != value:
            changes.append(f"{name}: {before!r} -> {value!r}")
    return changes


@dataclass
class TrainResult:
    """What a run did.

    Attributes:
        steps: optimiser steps completed (total, including those before a resume).
        seconds: wall time of this call.
        images_per_second: training throughput of this call, all processes together.
        history: one record every ``log_every`` steps: ``step``, ``epoch``, ``loss`` (mean since
            the previous record, averaged over processes), ``lr``, ``images_per_s`` and the
            model's extra ``logs``; records from before a resume are kept.
        checkpoint: the last checkpoint written, or ``None``.
    """

    steps: int
    seconds: float
    images_per_second: float
    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: str | None = None

    @property
    def final_loss(self) -> float:
        """Loss of the last record (``nan`` if nothing was recorded)."""
        return self.history[-1]["loss"] if self.history else math.nan


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` → CUDA if available else CPU; otherwise ``torch.device(device)``, checked.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise HairError(f"device {device!r} requested but CUDA is not available in this torch build/machine")
    return dev


def _apply_hyperparameters(
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR, config: TrainConfig
) -> None:
    """Put ``config``'s rate, betas and weight decay on a restored optimiser and scheduler.

    Without overrides the values equal the restored ones and nothing changes (the rate is
    recomputed by the scheduler's own formula, bit for bit); with ``resume_overrides`` this is
    what makes the new values apply from the resumed step on.
    """
    scheduler.base_lrs = [config.lr] * len(optimizer.param_groups)
    for group, rate in zip(optimizer.param_groups, scheduler.lr_lambdas):
        group["initial_lr"] = config.lr
        group["lr"] = config.lr * rate(scheduler.last_epoch)
        group["betas"] = config.betas
        group["weight_decay"] = config.weight_decay
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]


class _LossModule(nn.Module):
    """Wraps the model so that the loss is computed inside ``forward`` (DDP syncs gradients there)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, degraded: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        return loss_of(self.model, degraded, clean)


def loss_of(model: nn.Module, degraded: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
    """The training loss of one batch: the model's ``training_loss`` hook if it has one, else L1.

    Returns ``(loss, logs)``: a scalar to minimise and a dict of scalar parts to log.
    """
    custom = getattr(model, "training_loss", None)
    if callable(custom):
        return _hook_result(custom(degraded, clean), type(model).__name__)
    restored = model(degraded)
    if restored.shape != clean.shape:
        raise HairError(
            f"{type(model).__name__} returned shape {tuple(restored.shape)} for a target of"
            f" shape {tuple(clean.shape)}"
        )
    return F.l1_loss(restored.float(), clean.float()), {}


def _hook_result(out: Any, model_name: str) -> tuple[torch.Tensor, dict[str, Any]]:
    """Normalise what ``training_loss`` returned to ``(loss, logs)``."""
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        return out
    total = getattr(out, "total", None)
    if isinstance(total, torch.Tensor) and total.dim() == 0:  # a result object, e.g. AirNetLoss
        logs = {
            k: v for k, v in vars(out).items()
            if k != "total" and isinstance(v, torch.Tensor) and v.dim() == 0
        }
        return total, logs
    raise HairError(
        f"{model_name}.training_loss must return (loss, logs_dict) or an object with a scalar"
        f" tensor attribute 'total', got {type(out).__name__}"
    )


class _SeededItems(Dataset):
    """Builds every item under RNGs seeded from ``(seed, epoch, index)``."""

    def __init__(self, dataset: Sequence, seed: int, epoch: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, seed, epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        with isolated_rng(mix_seed(self.seed, self.epoch, index)):
            return self.dataset[index]


def _unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (list, tuple)) or len(batch) < 2:
        raise HairError(
            "dataset items must be (degraded, clean, ...) tuples; got a batch of type"
            f" {type(batch).__name__}"
        )
    degraded, clean = batch[0], batch[1]
    if not (isinstance(degraded, torch.Tensor) and isinstance(clean, torch.Tensor)):
        raise HairError(f"degraded and clean must be tensors, got {type(degraded).__name__}, {type(clean).__name__}")
    return degraded, clean


def _to_float(value: Any) -> float:
    return float(value.detach().float().mean().item()) if isinstance(value, torch.Tensor) else float(value)


class _Run:
    """One run's position, log and checkpoints: what :func:`train` resumes, advances, logs and saves.

    Everything a checkpoint holds besides the model's, optimiser's and scheduler's own states lives
    here (position, history, the open log window), and :meth:`state` lists the checkpoint once.
    """

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
        scaler: torch.amp.GradScaler, config: TrainConfig, info: Any, device: torch.device,
        total: int, per_epoch: int,
    ) -> None:
        self.model, self.optimizer, self.scheduler, self.scaler = model, optimizer, scheduler, scaler
        self.config, self.info, self.device = config, info, device
        self.total, self.per_epoch = total, per_epoch
        self.global_batch = config.batch_size * info.world_size
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.history: list[dict[str, float]] = []
        self.window: dict[str, float] = {}  # sums since the last record; saved, so a resume continues it
        self.window_steps = 0
        self.last_checkpoint: str | None = None
        self.begin()

    def resume(self, path: str) -> None:
        """Continue from the checkpoint at ``path``, refusing one of another run."""
        # RNG states must stay CPU tensors; model and optimiser states are copied to the device.
        state = load_checkpoint(path, map_location="cpu")
        if state["total_steps"] != self.total:
            raise HairError(
                f"checkpoint {state['path']} belongs to a run of {state['total_steps']} steps, this"
                f" config asks for {self.total}; the learning-rate schedule would differ"
            )
        changes = config_changes(state["config"], self.config)
        if changes:
            raise HairError(
                f"checkpoint {state['path']} was written with another config; resuming would follow"
                " neither run:\n  " + "\n  ".join(changes)
                + "\nuse the checkpoint's settings, or list the fields you mean to change in"
                " TrainConfig(resume_overrides=(...))"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        _apply_hyperparameters(self.optimizer, self.scheduler, self.config)
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.history = list(state["history"])
        rng_states, rank = state["rng"], self.info.rank
        if len(rng_states) != self.info.world_size or len(state["window"]) != self.info.world_size:
            raise HairError(
                f"checkpoint {state['path']} was written by {len(rng_states)} process(es), this run has"
                f" {self.info.world_size}; resume with the same number of processes"
            )
        set_rng_state(rng_states[rank])
        self.window = dict(state["window"][rank]["sums"])
        self.window_steps = int(state["window"][rank]["steps"])

    def begin(self) -> None:
        """Start the clocks: throughput and wall time count this call's steps only."""
        self.start_step, self.run_start = self.step, time.perf_counter()
        self.timed_steps, self.window_start = 0, self.run_start

    def advance(self) -> int:
        """Count one optimiser step; returns the epoch it belonged to (checkpoints written after
        an epoch's last batch point at the next epoch's start)."""
        self.step += 1
        step_epoch = self.epoch
        self.batch_in_epoch += 1
        if self.batch_in_epoch == self.per_epoch:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        return step_epoch

    def observe(self, stats: dict[str, float]) -> float:
        """Add one step's numbers to the open window; returns images/s since the last record."""
        for key, value in stats.items():
            self.window[key] = self.window.get(key, 0.0) + value
        self.window_steps += 1
        self.timed_steps += 1
        elapsed = time.perf_counter() - self.window_start
        return self.global_batch * self.timed_steps / max(elapsed, 1e-9)

    def log(self, step_epoch: int, lr: float, throughput: float) -> None:
        """Every ``log_every`` steps and at the end: close the window into a history record."""
        if self.step % self.config.log_every and self.step != self.total:
            return
        record: dict[str, float] = {"step": self.step, "epoch": step_epoch}
        for key, value in self.window.items():
            record[key] = mean_over_ranks(value / self.window_steps, self.device)
        record["lr"] = lr
        record["images_per_s"] = throughput
        self.history.append(record)
        self.window, self.window_steps = {}, 0
        self.timed_steps, self.window_start = 0, time.perf_counter()

    def save_due(self) -> bool:
        every = self.config.checkpoint_every
        return self.config.checkpoint_dir is not None and (
            self.step == self.total or bool(every and self.step % every == 0)
        )

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds (every rank takes part: RNG states and windows are gathered)."""
        return {
            "step": self.step,
            "total_steps": self.total,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": gather_objects(get_rng_state()),
            "config": asdict(self.config),
            "history": self.history,
            "window": gather_objects({"sums": dict(self.window), "steps": self.window_steps}),
        }

    def save(self) -> None:
        state = self.state()
        if self.info.is_main:
            written = save_checkpoint(state, self.config.checkpoint_dir, self.config.keep_last)  # type: ignore[arg-type]
            self.last_checkpoint = str(written)
        barrier()

    def result(self) -> TrainResult:
        seconds = time.perf_counter() - self.run_start
        done = self.step - self.start_step
        return TrainResult(
            steps=self.step,
            seconds=seconds,
            images_per_second=self.global_batch * done / seconds if done else 0.0,
            history=self.history,
            checkpoint=self.last_checkpoint,
        )


def _placement(config: TrainConfig) -> tuple[torch.device, Any]:
    """The run's device and process group (under ``torchrun`` with CUDA: GPU ``LOCAL_RANK``)."""
    device = resolve_device(config.device)
    info = init_distributed(device)
    if device.type == "cuda" and info.active and config.device in ("auto", "cuda"):
        device = torch.device("cuda", info.local_rank)
    return device, info


def _parallel(module: nn.Module, info: Any, device: torch.device, config: TrainConfig) -> nn.Module:
    """``module`` in ``DistributedDataParallel`` when the run has several processes."""
    if not info.active:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        module,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=config.find_unused_parameters,
    )


def _epoch_loader(
    dataset: Sequence, batches: EpochBatches, config: TrainConfig, epoch: int, start: int, device: torch.device
) -> DataLoader:
    """The rest of ``epoch``'s batches from batch ``start`` on, every item seeded by index."""
    set_epoch = getattr(dataset, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)
    return DataLoader(
        _SeededItems(dataset, config.seed, epoch),
        batch_sampler=batches.batches(epoch, start=start),
        num_workers=config.num_workers,
        # An explicit generator keeps DataLoader from drawing from the global RNG.
        generator=torch.Generator().manual_seed(mix_seed(config.seed, epoch, start)),
        pin_memory=device.type == "cuda",
    )


def _optimizer_step(
    loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
    scaler: torch.amp.GradScaler, grad_clip: float | None,
) -> None:
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()


def _step_stats(loss: torch.Tensor, lr: float, logs: dict[str, Any], step: int) -> dict[str, float]:
    """The numbers of one step (loss, rate, the model's logs); a non-finite loss stops the run."""
    loss_value = float(loss.detach().float().item())
    if not math.isfinite(loss_value):
        raise HairError(
            f"training loss became {loss_value} at step {step} (lr {lr:.3g}); lower the"
            " learning rate, enable grad_clip, or check the data for NaN"
        )
    return {"loss": loss_value, "lr": lr, **{k: _to_float(v) for k, v in logs.items()}}


def train(
    model: nn.Module,
    dataset: Sequence,
    config: TrainConfig,
    *,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``dataset`` with the paper's recipe.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) each process calls this with the
    same arguments; the model is wrapped in ``DistributedDataParallel`` and every process trains
    on its share of each global batch of ``batch_size × world_size`` items.

    Args:
        model: any module mapping ``(B, C, H, W)`` degraded images to restored ones, or one with a
            ``training_loss`` hook (see the module docs). Moved to the device; trained in place.
        dataset: indexable, ``len()``-able, items ``(degraded, clean, ...)``.
        config: the run's settings.
        on_step: called as ``on_step(step, stats)`` after every step (``step`` counts from 1,
            ``stats`` holds ``loss``, ``lr`` and the model's logs); exceptions propagate, which
            stops the run where it is (the last checkpoint stays valid).

    Returns:
        A :class:`TrainResult`.

    Example:
        >>> import torch
        >>> data = [(torch.rand(3, 8, 8), torch.rand(3, 8, 8), "denoise_25") for _ in range(4)]
        >>> net = torch.nn.Conv2d(3, 3, 3, padding=1)
        >>> result = train(net, data, TrainConfig(steps=4, batch_size=2, progress="off", log_every=2))
        >>> result.steps, [r["step"] for r in result.history]
        (4, [2, 4])
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    device, info = _placement(config)
    batches = EpochBatches(len(dataset), config.batch_size, config.seed, info.rank, info.world_size)
    per_epoch = batches.batches_per_epoch
    total = config.steps if config.steps is not None else config.epochs * per_epoch  # type: ignore[operator]

    model.to(device)
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )
    scheduler = make_scheduler(optimizer, total, config.lr, config.final_lr, config.final_fraction)
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp and device.type == "cuda")
    run = _Run(model, optimizer, scheduler, scaler, config, info, device, total, per_epoch)
    if config.resume is not None:
        run.resume(config.resume)
    else:
        seed_everything(mix_seed(config.seed, info.rank) % 2**31)
    # Wrapped after resuming: DDP broadcasts rank 0's parameters here.
    loss_module = _parallel(_LossModule(model), info, device, config)

    progress = Progress(
        total, initial=run.step, mode=config.progress if info.is_main else "off", log_every=config.log_every
    )
    if info.is_main and run.step > 0:
        progress.write(f"resumed from step {run.step} (epoch {run.epoch}, batch {run.batch_in_epoch})")
    run.begin()
    try:
        while run.step < total:
            for batch in _epoch_loader(dataset, batches, config, run.epoch, run.batch_in_epoch, device):
                degraded, clean = (t.to(device, non_blocking=True) for t in _unpack(batch))
                lr = optimizer.param_groups[0]["lr"]
                with torch.autocast(device.type, dtype=autocast_dtype(device), enabled=config.amp):
                    loss, logs = loss_module(degraded, clean)
                _optimizer_step(loss, model, optimizer, scheduler, scaler, config.grad_clip)
                step_epoch = run.advance()
                stats = _step_stats(loss, lr, logs, run.step)
                throughput = run.observe(stats)
                progress.update(run.step, {**stats, "img/s": throughput})
                if on_step is not None:
                    on_step(run.step, stats)
                run.log(step_epoch, lr, throughput)
                if run.save_due():
                    run.save()
                if run.step >= total:
                    break
    finally:
        progress.close()
    return run.result()


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a plain dict (e.g. a checkpoint's ``config``), checking keys.

    Example:
        >>> config_from_dict({"steps": 3}).steps
        3
    """
    known = set(TrainConfig.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise HairError(f"unknown TrainConfig field(s) {unknown}; known: {sorted(known)}")
    return TrainConfig(**values)

