"""Shared machinery of the Table-6 examples: train a baseline, its PromptIR and HAIR variants, compare.

Used by ``restormer_hair.py`` (and the AirNet / TransWeather examples): each picks its default
baseline and calls :func:`main`. What one run does:

1. check that every model it needs is registered (a missing one stops the run before any work,
   naming the model — no row is ever skipped silently);
2. resolve the command line and the run preset into one :class:`RunSettings`; print the machine,
   the settings and the plan (budgeted presets: step times measured on this machine and the number
   of steps that fits the per-seed budget, the same for every model);
3. for each seed and model: seed, build, train with :func:`hairlayers.train.train`, evaluate with
   :func:`hairlayers.train.evaluate`; for a hyper model also measure, at step 0 and after training,
   whether its selection specialises per task (:func:`hairlayers.diagnostics.specialisation_report`);
4. print the results in Table 6's layout beside the paper's rows, HAIR's differences to the
   baseline and to PromptIR paired by seed with a significance marker (|mean| > 2 standard errors,
   :func:`hairlayers.train.paired_difference`), the specialisation measures, and write
   ``results.json``, ``table6.txt`` and ``table6.png`` to ``--out``.

Numbers measured on the built-in benchmark are *not* comparable with the paper's: different images,
synthetic degradations, small models, minutes of CPU training. The table says so in its labels.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hairlayers.errors import HairError
from hairlayers.machine import machine_info
from hairlayers.models import create_model, list_models, paper_table6
from hairlayers.diagnostics import selecting_nets, specialisation_report
from hairlayers.train import (
    PairedDifference,
    TrainConfig,
    autocast_dtype,
    evaluate,
    loss_of,
    mean_std,
    paired_difference,
    save_results,
    seed_everything,
    train,
)

# Table 6's columns in its order: column name -> label the datasets give that task.
COLUMNS: dict[str, str] = {
    "SOTS": "dehaze",
    "Rain100L": "derain",
    "BSD68 σ25": "denoise_25",
    "GoPro": "deblur",
    "LOLv1": "enhance",
}
TASK_OF_COLUMN = {"SOTS": "dehaze", "Rain100L": "derain", "BSD68 σ25": "denoise", "GoPro": "deblur", "LOLv1": "enhance"}

# baseline -> (display name, registry name) for the three rows of its block in Table 6.
BASELINES: dict[str, tuple[tuple[str, str], ...]] = {
    "restormer": (("Restormer", "restormer"), ("Restormer+PromptIR", "promptir"), ("Restormer+HAIR", "res_hair")),
    "airnet": (("AirNet", "airnet"), ("AirNet+PromptIR", "airnet_promptir"), ("AirNet+HAIR", "airnet_hair")),
    "transweather": (
        ("Transweather", "transweather"),
        ("Transweather+PromptIR", "transweather_promptir"),
        ("Transweather+HAIR", "transweather_hair"),
    ),
}

# The paper's Table 6 (HAIR, §4.4), read from the model registry: params, then (PSNR, SSIM) per
# column and the average, under the row's display name.
PAPER_TABLE6: dict[str, dict[str, Any]] = {
    display: paper_table6(name) for rows in BASELINES.values() for display, name in rows
}

PAPER_LABEL = "paper, real data, full size"
INPUT_ROW = "degraded input (no model)"


@dataclass(frozen=True)
class RunPreset:
    """One kind of run (``--preset``): model size, patch and batch, run length, seeds, device.

    Not to be confused with a *model* preset (``create_model(name, preset="mini")``), which only
    sizes a network: a run preset names the model preset it trains. Command-line flags override
    every field they name.
    """

    model_preset: str  # passed to create_model(name, preset=...)
    patch_size: int
    batch_size: int
    steps: int | None  # None: budgeted from measured step times, or ``epochs``
    epochs: int | None
    test_crop: int  # built-in benchmark: side of the test crops
    crops_per_task: int
    seeds: int
    budget_minutes: float | None  # per seed: training and evaluation of every model
    lr: float  # first-phase learning rate (the last 1/16 of the run uses lr / 10)
    device: str
    amp: bool
    log_every: int
    note: str  # appended to the "measured, ..." label


PRESETS: dict[str, RunPreset] = {
    "smoke": RunPreset("tiny", 32, 2, 3, None, 32, 1, 1, None, 2e-4, "cpu", False, 1,
                       " (smoke test: a few steps, the numbers mean nothing)"),
    # 1e-3, not the paper's 2e-4: in 600 steps a tiny Restormer reaches 22.8 dB with it, 20.9 dB
    # with 2e-4 (docs/reproduce.md); a run of minutes needs the larger step
    "mini": RunPreset("tiny", 32, 8, None, None, 64, 12, 3, 5.0, 1e-3, "cpu", False, 100, ""),
    "gpu": RunPreset("mini", 128, 16, None, None, 128, 12, 3, 3.0, 5e-4, "cuda", True, 200, " (GPU preset)"),
    "paper": RunPreset("paper", 128, 32, None, 160, 0, 0, 1, None, 2e-4, "auto", False, 100, " (paper protocol)"),
}  # fmt: skip

#: crops per task (64x64, from images the test set does not use) on which the specialisation of a
#: hyper model is measured at step 0 and after training
DIAGNOSTIC_CROPS = 12


@dataclass(frozen=True)
class RunSettings:
    """Everything one run needs, resolved once from the command line and the run preset."""

    preset: str
    model_preset: str
    baselines: tuple[str, ...]
    data_root: Path | None
    seeds: int
    steps: int | None  # explicit --steps, or the preset's
    epochs: int | None
    budget_minutes: float | None  # per seed
    batch_size: int
    patch_size: int
    test_crop: int
    crops_per_task: int
    lr: float
    device: torch.device
    amp: bool
    num_workers: int
    checkpoint_every: int
    resume: bool
    diagnostics: bool
    out: Path
    progress: str
    log_every: int
    measured_label: str


def measured_label(preset: RunPreset, real_data: bool) -> str:
    """How the measured rows are labelled: what data, what model size — never more than that."""
    size = {"tiny": "tiny", "mini": "mini", "paper": "full"}.get(preset.model_preset, preset.model_preset)
    data = "real data" if real_data else "built-in synthetic benchmark"
    return f"measured, {data}, {size} size{preset.note}"


# ----------------------------------------------------------------------------------------- setup


def parse_args(argv: Sequence[str] | None, default_baselines: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Reproduce a block of the HAIR paper's Table 6: a baseline, +PromptIR and +HAIR.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="mini",
                        help="smoke: tiny models, seconds; mini: tiny models on the built-in benchmark, 3 seeds,"
                        " ~15 min on 2 CPU cores; gpu: mini models, 128² patches, AMP, 3 seeds, ~10 min on one GPU;"
                        " paper: the paper's protocol at full size on real data (--data-root, GPU)")
    parser.add_argument("--baselines", nargs="+", choices=sorted(BASELINES), default=list(default_baselines),
                        help="which blocks of Table 6 to run")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder with Train/ and test/ in the PromptIR layout (required by --preset paper)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="train every model with seeds 0..N-1; report mean ± std (preset's by default: 3 for mini, gpu)")
    parser.add_argument("--quick", action="store_true", help="one seed (a third of the time; no significance claims)")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps per model (overrides the budget/epochs)")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="per seed: wall-clock budget for training and evaluating every model (mini: 5, gpu: 3)")
    parser.add_argument("--batch-size", type=int, default=None, help="per-process batch size (preset's by default)")
    parser.add_argument("--patch-size", type=int, default=None, help="training patch side (preset's by default)")
    parser.add_argument("--lr", type=float, default=None,
                        help="first-phase learning rate, /10 for the last 1/16 (paper 2e-4; preset's by default)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (preset's by default)")
    amp = parser.add_mutually_exclusive_group()
    amp.add_argument("--amp", action="store_true", default=None,
                     help="mixed precision (bf16 on CPU, fp16 + GradScaler on CUDA; on by default for --preset gpu)")
    amp.add_argument("--no-amp", dest="amp", action="store_false", help="full fp32 even where the preset uses AMP")
    parser.add_argument("--no-diagnostics", dest="diagnostics", action="store_false",
                        help="skip measuring whether the hyper models' selection specialises (step 0 and trained)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--checkpoint-every", type=int, default=0, help="save a checkpoint every N steps (0: only at the end for --preset paper)")
    parser.add_argument("--resume", action="store_true", help="continue each model from its newest checkpoint in --out")
    parser.add_argument("--out", type=Path, default=Path("runs/table6"), help="folder for results.json, table6.txt, table6.png")
    parser.add_argument("--progress", choices=["auto", "tqdm", "lines", "off"], default="auto")
    args = parser.parse_args(argv)
    if args.preset == "paper" and args.data_root is None:
        parser.error("--preset paper trains on real data: give --data-root PATH (the PromptIR folder layout)")
    if args.quick and args.seeds not in (None, 1):
        parser.error(f"--quick means one seed, but --seeds {args.seeds} was given: drop one of them")
    for flag in ("seeds", "steps", "batch_size", "patch_size"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    for flag in ("budget_minutes", "lr"):
        value = getattr(args, flag)
        if value is not None and not value > 0:
            parser.error(f"--{flag.replace('_', '-')} must be > 0, got {value}")
    return args


def resolve_settings(args: argparse.Namespace) -> RunSettings:
    """The run preset, overridden by whatever the command line names."""
    from hairlayers.train import resolve_device

    preset = PRESETS[args.preset]
    return RunSettings(
        preset=args.preset,
        model_preset=preset.model_preset,
        baselines=tuple(args.baselines),
        data_root=args.data_root,
        seeds=1 if args.quick else (args.seeds or preset.seeds),
        steps=args.steps or preset.steps,
        epochs=None if args.steps else preset.epochs,
        budget_minutes=args.budget_minutes or preset.budget_minutes,
        batch_size=args.batch_size or preset.batch_size,
        patch_size=args.patch_size or preset.patch_size,
        test_crop=preset.test_crop,
        crops_per_task=preset.crops_per_task,
        lr=args.lr or preset.lr,
        device=resolve_device(args.device or preset.device),
        amp=preset.amp if args.amp is None else args.amp,
        num_workers=args.num_workers,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        diagnostics=args.diagnostics,
        out=args.out,
        progress=args.progress,
        log_every=preset.log_every,
        measured_label=measured_label(preset, real_data=args.data_root is not None),
    )


def model_rows(baselines: Sequence[str]) -> list[tuple[str, str]]:
    """``(display name, registry name)`` of every model to run, in Table 6's order."""
    return [row for b in baselines for row in BASELINES[b]]


def missing_models(rows: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    known = set(list_models())
    return [(display, name) for display, name in rows if name not in known]


class _Subset:
    """Items of a dataset whose label equals ``label``."""

    def __init__(self, dataset: Any, label: str) -> None:
        self.dataset = dataset
        self.indices = [i for i in range(len(dataset)) if dataset[i][2] == label]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[self.indices[i]]


def build_data(settings: RunSettings, seed: int, length: int) -> tuple[Any, dict[str, Any]]:
    """Training set and ``{column: test set}`` for one seed."""
    from hairlayers import data

    if settings.data_root is None:
        train_set = data.BuiltinTrainDataset(patch_size=settings.patch_size, length=length, seed=seed)
        test_all = data.BuiltinTestDataset(
            crop_size=settings.test_crop, crops_per_task=settings.crops_per_task, sigma=25, seed=0
        )
        test_sets = {col: _Subset(test_all, label) for col, label in COLUMNS.items()}
    else:
        train_set = data.AllInOneTrainDataset(settings.data_root, data.TASKS, patch_size=settings.patch_size, seed=seed)
        test_sets = {col: data.AllInOneTestDataset(settings.data_root, task, sigma=25) for col, task in TASK_OF_COLUMN.items()}
    for col, ts in test_sets.items():
        if len(ts) == 0:
            raise HairError(f"the {col} test set is empty")
    return train_set, test_sets


def diagnostic_images(settings: RunSettings, test_sets: dict[str, Any]) -> tuple[torch.Tensor, list[str]]:
    """Labelled crops (64×64) on which a hyper model's specialisation is measured.

    Built-in benchmark: crops of the held-out images with another seed than the test set's; real
    data: the centre crops of the first test images of every column (smaller, if an image is).
    """
    from hairlayers import data

    if settings.data_root is None:
        crops = data.BuiltinTestDataset(crop_size=64, crops_per_task=DIAGNOSTIC_CROPS, sigma=25, seed=1)
        column_of = {label: col for col, label in COLUMNS.items()}
        items = [crops[i] for i in range(len(crops))]
        return torch.stack([x for x, _, _ in items]), [column_of[label] for _, _, label in items]
    chosen = [(col, ts[i][0]) for col, ts in test_sets.items() for i in range(min(DIAGNOSTIC_CROPS, len(ts)))]
    side = min([64, *(min(x.shape[1:]) for _, x in chosen)])  # one crop size, so the crops stack
    images, labels = [], []
    for col, x in chosen:
        top, left = (x.shape[1] - side) // 2, (x.shape[2] - side) // 2
        images.append(x[:, top : top + side, left : left + side])
        labels.append(col)
    return torch.stack(images), labels


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def measure_step_seconds(name: str, model_preset: str, batch: int, patch: int, device: torch.device, amp: bool) -> float:
    """Median wall time of three training steps (after one warm-up step) on random data."""
    model = create_model(name, preset=model_preset).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4)
    x = torch.rand(batch, 3, patch, patch, device=device)
    y = torch.rand(batch, 3, patch, patch, device=device)
    times = []
    for _ in range(4):
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=autocast_dtype(device), enabled=amp):
            loss, _ = loss_of(model, x, y)  # the trainer's loss: L1, or the model's own hook (AirNet)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def measure_eval_seconds(name: str, model_preset: str, size: int, images: int, device: torch.device) -> float:
    model = create_model(name, preset=model_preset).to(device).eval()
    x = torch.rand(1, 3, size, size, device=device)
    with torch.no_grad():
        model(x)
        start = time.perf_counter()
        model(x)
    return (time.perf_counter() - start) * images


def plan_length(settings: RunSettings, rows: Sequence[tuple[str, str]]) -> tuple[int | None, int | None, dict[str, Any]]:
    """``(steps, epochs, plan)``: ``--steps``/the preset's length, else what fits the per-seed budget.

    The budget is split by step and evaluation times measured on this machine; every model gets
    the same number of steps, so the comparison is per step, as the paper's is per epoch.
    """
    if settings.steps is not None:
        return settings.steps, None, {}
    if settings.epochs is not None:
        return None, settings.epochs, {}
    if settings.budget_minutes is None:
        raise HairError(f"preset {settings.preset!r} has neither steps, epochs nor a budget: give --steps")
    budget = 60.0 * settings.budget_minutes
    batch, patch = settings.batch_size, settings.patch_size
    print(f"plan: measuring step times (batch {batch}, {patch}x{patch}) to fit {settings.budget_minutes:.1f} minutes"
          f" per seed × {settings.seeds} seed(s) ...")
    step_s = {name: measure_step_seconds(name, settings.model_preset, batch, patch, settings.device, settings.amp)
              for _, name in rows}
    n_test = len(COLUMNS) * settings.crops_per_task
    eval_s = {name: measure_eval_seconds(name, settings.model_preset, settings.test_crop, n_test, settings.device)
              for _, name in rows}
    setup = 0.04 * budget  # data building, model construction, diagnostics, writing results
    steps = max(20, int((budget - setup - sum(eval_s.values())) / sum(step_s.values())))
    for display, name in rows:
        print(f"  {display:<22} {step_s[name]:.3f} s/step, eval ≈{eval_s[name]:.0f} s"
              f" → {steps} steps ≈ {steps * step_s[name] / 60:.1f} min per seed")
    per_seed = sum(steps * step_s[n] + eval_s[n] for _, n in rows)
    total = settings.seeds * per_seed
    print(f"  total ≈ {total / 60:.1f} min for {len(rows)} models × {settings.seeds} seed(s)"
          + (" (over budget: the minimum is 20 steps)" if per_seed > budget else ""))
    return steps, None, {"budget_s_per_seed": budget, "step_seconds": step_s, "eval_seconds": eval_s,
                         "steps": steps, "estimated_s": total}


# ----------------------------------------------------------------------------------------- report


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and std over seeds of every column and the average."""
    out = {}
    for col in [*COLUMNS, "avg"]:
        cell = {}
        for metric in ("psnr", "ssim"):
            vals = [(r["eval"]["average"] if col == "avg" else r["eval"]["tasks"][col])[metric] for r in runs]
            cell[metric], cell[f"{metric}_std"] = mean_std(vals)
        out[col] = cell
    return out


def _scores(runs: list[dict[str, Any]], col: str, metric: str) -> list[float]:
    return [(r["eval"]["average"] if col == "avg" else r["eval"]["tasks"][col])[metric] for r in runs]


def compare_to_hair(runs: dict[str, list[dict[str, Any]]], baselines: Sequence[str]) -> dict[str, Any]:
    """``{"<HAIR> − <other>": {column: {metric: PairedDifference dict}}}`` for the baseline and PromptIR.

    Runs are paired by seed (same training data order, same test images), so the seed-to-seed
    spread that every model shares cancels out of the difference.
    """
    out: dict[str, Any] = {}
    for b in baselines:
        (base, _), (prompt, _), (hair, _) = BASELINES[b]
        for other in (base, prompt):
            out[f"{hair} − {other}"] = {
                col: {m: paired_difference(_scores(runs[hair], col, m), _scores(runs[other], col, m)).as_dict()
                      for m in ("psnr", "ssim")}
                for col in [*COLUMNS, "avg"]
            }
    return out


#: the specialisation measures kept per model (means over seeds), at step 0 and after training
SPECIALISATION_KEYS = ("normalised_entropy", "task_distance", "logit_image_std")


def summarise_specialisation(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Means over seeds of the diagnostics of a hyper model (``None`` for a model without them)."""
    if not runs or "diagnostics" not in runs[0]:
        return None
    out: dict[str, Any] = {}
    for when in ("step0", "trained"):
        reports = [r["diagnostics"][when] for r in runs]
        sel = [rep["selection"] for rep in reports]
        knn = [rep["giv_knn"] for rep in reports]
        out[when] = {
            **{key: statistics.fmean(x[key] for x in sel) for key in SPECIALISATION_KEYS},
            "task_entropy": {col: statistics.fmean(x["task_entropy"][col] for x in sel) for col in sel[0]["task_entropy"]},
            "kernel_separation": statistics.fmean(rep["kernels"]["separation"] for rep in reports),
            "giv_knn": None if None in knn else statistics.fmean(knn),
            "giv_knn_chance": reports[0]["giv_knn_chance"],
            "k": reports[0]["k"],
        }
    return out


def _fmt_cell(cell: dict[str, float], seeds: int) -> str:
    if seeds > 1:
        return f"{cell['psnr']:.2f}±{cell['psnr_std']:.2f}/{cell['ssim']:.3f}±{cell['ssim_std']:.3f}"
    return f"{cell['psnr']:.2f}/{cell['ssim']:.3f}"


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:.2f}M"


def _markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]


def render_comparisons(results: dict[str, Any]) -> list[str]:
    """HAIR's paired differences, one row per comparison, with the significance marker."""
    seeds = results["settings"]["seeds"]
    rows = []
    for label, cols in results["comparisons"].items():
        rows.append([label, *(PairedDifference(**cols[c]["psnr"]).format(2) + " / "
                              + PairedDifference(**cols[c]["ssim"]).format(3) for c in [*COLUMNS, "avg"])])
    if seeds > 1:
        rule = (f"mean ± standard error of the per-seed difference over {seeds} seeds; * = |mean| > 2 SE"
                " (the run supports the claim), no * = within the seeds' noise")
    else:
        rule = "one seed: no standard error, so no difference can be called significant (run with --seeds 3)"
    return [f"## HAIR's differences, paired by seed (PSNR dB / SSIM); {rule}", "",
            *_markdown(["difference", *COLUMNS, "avg"], rows)]


def render_specialisation(results: dict[str, Any]) -> list[str]:
    """Whether the hyper models' selections depend on the task, at step 0 and after training."""
    rows = []
    chance, k = None, 5
    for display, entry in results["models"].items():
        spec = entry.get("specialisation")
        if spec is None:
            continue
        for when, label in (("step0", "step 0"), ("trained", "trained")):
            m = spec[when]
            chance, k = m["giv_knn_chance"], m["k"]
            knn = "-" if m["giv_knn"] is None else f"{m['giv_knn']:.2f}"
            rows.append([display, label, *(f"{m['task_entropy'][c]:.3f}" for c in COLUMNS),
                         f"{m['task_distance']:.3f}", f"{m['logit_image_std']:.3f}", knn])
    if not rows:
        return []
    return [
        "## Do the hyper layers specialise? Selection entropy / log N per task (1 = uniform mix),"
        " task distance of the mean selections (total variation: 0 = every task mixed alike),"
        f" logit spread across images, GIV {k}-NN task accuracy (chance {chance:.2f}); means over seeds",
        "",
        *_markdown(["model", "when", *COLUMNS, "task TV", "logit std", "GIV k-NN"], rows),
    ]


def render_table(results: dict[str, Any]) -> str:
    """Measured rows and the paper's rows in Table 6's layout, HAIR's differences, its specialisation."""
    seeds = results["settings"]["seeds"]
    header = ["method", "params", *COLUMNS, "avg"]
    measured = []
    for display, entry in results["models"].items():
        measured.append([display, _fmt_params(entry["params"]), *(_fmt_cell(entry["summary"][c], seeds) for c in [*COLUMNS, "avg"])])
    inp = results["input_baseline"]
    measured.append([INPUT_ROW, "-", *(_fmt_cell(inp[c], 1) for c in [*COLUMNS, "avg"])])
    paper = []
    for display in results["models"]:
        row = PAPER_TABLE6.get(display)
        if row is not None:
            paper.append([display, row["params"], *(f"{row[c][0]:.2f}/{row[c][1]:.3f}" for c in [*COLUMNS, "avg"])])
    s = results["settings"]
    if s["data"] == "builtin":
        what = ("built-in columns are synthetic stand-ins for the paper's test sets (SOTS=haze, Rain100L=rain,"
                " BSD68 σ25=Gaussian noise σ25, GoPro=motion blur, LOLv1=low light)")
    else:
        what = f"real test sets under {s['data']}"
    spread = f" (mean±std over {seeds} seeds)" if seeds > 1 else ""
    length = f"{s['steps']} steps" if s["epochs"] is None else f"{s['epochs']} epochs"
    lines = [
        f"## {s['measured_label']}",
        f"PSNR/SSIM{spread}; {what}",
        (
            f"{length} × batch {s['batch_size']} of {s['patch_size']}×{s['patch_size']} patches per model,"
            f" model preset '{s['model_preset']}', {'AMP, ' if s['amp'] else ''}device {results['machine']['device']},"
            f" {results['machine']['date_utc']}"
        ),
        "",
        *_markdown(header, measured),
        "",
        *render_comparisons(results),
        "",
    ]
    specialisation = render_specialisation(results)
    if specialisation:
        lines += [*specialisation, ""]
    lines += [f"## {PAPER_LABEL} (HAIR paper, Table 6; not comparable with the rows above)", "", *_markdown(header, paper)]
    return "\n".join(lines)


def bar_chart(results: dict[str, Any], path: Path) -> Path:
    """Grouped bars of PSNR and SSIM per column (error bars = std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [*COLUMNS, "avg"]
    models = list(results["models"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    width = 0.8 / (len(models) + 1)
    for ax, metric in zip(axes, ("psnr", "ssim")):
        series = [(INPUT_ROW, results["input_baseline"])] + [(m, results["models"][m]["summary"]) for m in models]
        for k, (label, summary) in enumerate(series):
            xs = [i + (k - len(series) / 2 + 0.5) * width for i in range(len(cols))]
            vals = [summary[c][metric] for c in cols]
            errs = [summary[c].get(f"{metric}_std", 0.0) for c in cols]
            ax.bar(xs, vals, width, yerr=errs if any(errs) else None, label=label, color="0.8" if k == 0 else None)
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels(cols, rotation=15)
        ax.set_ylabel(metric.upper())
        finite = [summary[c][metric] for _, summary in series for c in cols if math.isfinite(summary[c][metric])]
        if finite:
            lo, hi = min(finite), max(finite)
            margin = 0.1 * (hi - lo + 1e-6)
            # start near the lowest bar (differences are small), but show negative SSIM whole
            ax.set_ylim(lo - margin if lo < 0 else max(0.0, lo - margin), hi + margin / 2)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{results['settings']['measured_label']} — {results['machine']['date_utc']}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None, default_baselines: Sequence[str] = ("restormer",)) -> int:
    """Run the comparison; returns the process exit status."""
    settings = resolve_settings(parse_args(argv, default_baselines))
    rows = model_rows(settings.baselines)
    missing = missing_models(rows)
    if missing:
        names = ", ".join(f"{name!r} (for the {display} row)" for display, name in missing)
        print(
            f"error: model(s) not in the hairlayers registry: {names}. Registered: {', '.join(list_models()) or 'none'}."
            " Every row of the table is required; nothing was run.",
            file=sys.stderr,
        )
        return 2

    device = settings.device
    machine = machine_info(device)
    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    print("Table 6 reproduction —", ", ".join(d for d, _ in rows))
    print(f"machine: {machine['cpu']} ({machine['cpu_count']} logical CPUs), torch {machine['torch']},"
          f" {machine['torch_threads']} threads, device {device}{' (' + machine['gpu'] + ')' if 'gpu' in machine else ''},"
          f" {machine['date_utc']}")
    if not machine["glibc_tunables"] and device.type == "cpu":
        print("note: GLIBC_TUNABLES is unset; on some Linux VMs glibc's allocator makes CPU training 2-4x slower"
              " (see docs/reproduce.md)")

    steps, epochs, plan = plan_length(settings, rows)
    length = steps * settings.batch_size if steps is not None else 0

    recorded = {
        "preset": settings.preset,
        "measured_label": settings.measured_label,
        "data": "builtin" if settings.data_root is None else str(settings.data_root),
        "model_preset": settings.model_preset,
        "steps": steps,
        "epochs": epochs,
        "batch_size": settings.batch_size,
        "patch_size": settings.patch_size,
        "lr": settings.lr,
        "final_lr": settings.lr / 10,
        "seeds": settings.seeds,
        "budget_minutes_per_seed": settings.budget_minutes if plan else None,
        "amp": settings.amp,
        "baselines": list(settings.baselines),
        "test_crops": None if settings.data_root else f"{len(COLUMNS)} × {settings.crops_per_task} of {settings.test_crop}²",
        "diagnostics": settings.diagnostics,
    }
    print("settings:", ", ".join(f"{k}={v}" for k, v in recorded.items() if k != "measured_label"))

    results: dict[str, Any] = {"settings": recorded, "machine": machine, "plan": plan, "models": {}}
    runs: dict[str, list[dict[str, Any]]] = {display: [] for display, _ in rows}
    params: dict[str, int] = {}
    input_eval = None
    diag_images: tuple[torch.Tensor, list[str]] | None = None
    knn_k = 5
    wall = time.perf_counter()
    for seed in range(settings.seeds):
        train_set, test_sets = build_data(settings, seed, max(length, settings.batch_size))
        if input_eval is None:
            input_eval = evaluate(torch.nn.Identity(), test_sets, device=device)
        if settings.diagnostics and diag_images is None:
            diag_images = diagnostic_images(settings, test_sets)
            knn_k = min(5, len(diag_images[1]) - 1)  # a real test set may hold only a few images
        for display, name in rows:
            seed_everything(seed)
            model = create_model(name, preset=settings.model_preset)
            params[display] = count_params(model)
            diagnose = diag_images is not None and bool(selecting_nets(model))
            step0 = specialisation_report(model.to(device), *diag_images, k=knn_k) if diagnose else None
            ckpt_dir = out / "checkpoints" / f"{name}_seed{seed}"
            use_ckpt = settings.checkpoint_every > 0 or settings.preset == "paper" or settings.resume
            config = TrainConfig(
                steps=steps,
                epochs=epochs,
                batch_size=settings.batch_size,
                lr=settings.lr,
                final_lr=settings.lr / 10,
                seed=seed,
                device=str(device),
                amp=settings.amp,
                num_workers=settings.num_workers,
                checkpoint_dir=str(ckpt_dir) if use_ckpt else None,
                checkpoint_every=settings.checkpoint_every,
                keep_last=2,
                resume=str(ckpt_dir) if settings.resume and ckpt_dir.is_dir() and any(ckpt_dir.glob("step_*.pt")) else None,
                progress=settings.progress,
                log_every=settings.log_every,
            )
            print(f"\n[{display}] seed {seed}: {params[display]:,} parameters, training ...", flush=True)
            trained = train(model, train_set, config)
            evaluated = evaluate(model, test_sets, device=device, amp=settings.amp)
            print(f"[{display}] seed {seed}: {trained.steps} steps in {trained.seconds:.0f} s"
                  f" ({trained.images_per_second:.1f} img/s), final loss {trained.final_loss:.4f},"
                  f" eval {evaluated['seconds']:.0f} s: avg {evaluated['average']['psnr']:.2f} dB /"
                  f" {evaluated['average']['ssim']:.3f}", flush=True)
            run: dict[str, Any] = {
                "seed": seed,
                "train": {"steps": trained.steps, "seconds": trained.seconds, "images_per_second": trained.images_per_second,
                          "final_loss": trained.final_loss, "history": trained.history},
                "eval": evaluated,
            }
            if diagnose:
                run["diagnostics"] = {"step0": step0, "trained": specialisation_report(model, *diag_images, k=knn_k)}
                sel0, sel1 = step0["selection"], run["diagnostics"]["trained"]["selection"]
                print(f"[{display}] seed {seed}: selection entropy/log N {sel0['normalised_entropy']:.3f} →"
                      f" {sel1['normalised_entropy']:.3f}, task distance {sel0['task_distance']:.3f} →"
                      f" {sel1['task_distance']:.3f}", flush=True)
            runs[display].append(run)
            del model
    assert input_eval is not None
    results["input_baseline"] = summarise([{"eval": input_eval}])
    for display, name in rows:
        results["models"][display] = {
            "registry_name": name,
            "params": params[display],
            "paper": PAPER_TABLE6.get(display),
            "summary": summarise(runs[display]),
            "specialisation": summarise_specialisation(runs[display]),
            "runs": runs[display],
        }
    results["comparisons"] = compare_to_hair(runs, settings.baselines)
    results["wall_seconds"] = time.perf_counter() - wall
    results["labels"] = {"measured": settings.measured_label, "paper": PAPER_LABEL}

    write_report(out, "table6", render_table(results), results, bar_chart, data_name="results.json")
    return 0


def write_report(out: Path, stem: str, text: str, results: dict[str, Any],
                 draw: Callable[[dict[str, Any], Path], Any], data_name: str | None = None) -> None:
    """Print ``text`` and write it (``<stem>.txt``), the results (``data_name``, default
    ``<stem>.json``) and their chart (``<stem>.png``, drawn by ``draw(results, path)``) to ``out``."""
    print("\n" + text)
    paths = out / (data_name or f"{stem}.json"), out / f"{stem}.txt", out / f"{stem}.png"
    paths[1].write_text(text + "\n")
    save_results(results, paths[0])
    draw(results, paths[2])
    print(f"\nwrote {', '.join(map(str, paths))} ({results['wall_seconds'] / 60:.1f} min)")


__all__ = ["BASELINES", "COLUMNS", "PAPER_TABLE6", "PRESETS", "RunPreset", "RunSettings", "bar_chart", "main", "render_table", "write_report"]
