"""Tables 4 and 5 of the HAIR paper: what the hypernetwork adds, and where the classifier goes.

* **Table 4** (Rain100L in the paper): the same Restormer (a) as it is, (b) with the GIV used as a
  conditioning embedding (``hairify(mode="embed")``: no weight generation), (c) with selecting
  nets driven by per-block learned vectors and no classifier (``mode="free"``), (d) full HAIR
  (``mode="hyper"``). Trained on deraining only, like the paper, or on all five tasks with
  ``--tasks all``.
* **Table 5** (Urban100 σ25 in the paper): full HAIR with the classifier after resolution stage
  ``k`` of Restormer's seven (``hairify(split=k)``: ``1+6`` … ``6+1``), trained and tested on
  denoising σ25.

Every variant is built from the same seeded Restormer, gets the same number of steps, batch and
patch size and the paper's recipe (L1, AdamW, lr 2e-4 then 2e-5 for the last 1/16). The hyper
layers are made with ``blocks_only=True`` (only the convolutions inside Restormer blocks are
generated, as in Res-HAIR) and, by default, ``init="fresh"``: every expert initialised on its own,
as when the paper trains each variant from scratch. ``--init copy+noise`` starts every expert at
the baseline's weights instead (the same function at step 0) — but then the experts stay nearly
equal and a short run of the hyper variants is the baseline's, to the hundredth of a dB.

    python examples/ablations.py                     # mini: tiny Restormer, 100 steps per variant, ~20 min on 2 idle cores
    python examples/ablations.py --tables 4 --tasks all --seeds 3
    python examples/ablations.py --tables 5 --splits 2 3 4
    python examples/ablations.py --preset smoke      # seconds; checks the pipeline only
    python examples/ablations.py --preset paper --data-root /data/allinone   # full size, real data, GPU

Writes ``ablations.json``, ``ablations.txt`` and ``ablations.png`` to ``--out`` (default
``runs/ablations``). Numbers measured on the built-in benchmark are not comparable with the
paper's (different images, synthetic degradations, small models, minutes of training); only the
ordering of the variants can be compared, and at this size it is within the seed noise unless
``--seeds`` says otherwise. See docs/analysis.md.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # table6_harness lives beside this file

from table6_harness import count_params, write_report  # noqa: E402

from hairlayers.machine import machine_info  # noqa: E402
from hairlayers.train import mean_std  # noqa: E402


#: Table 4 rows: display name -> hairify mode (None: the plain baseline).
TABLE4_VARIANTS: dict[str, str | None] = {
    "(a) baseline": None,
    "(b) GIV as embedding": "embed",
    "(c) HSN, no classifier": "free",
    "(d) HAIR (full)": "hyper",
}
PAPER_TABLE4 = {"(a) baseline": 36.74, "(b) GIV as embedding": 36.88, "(c) HSN, no classifier": 36.76, "(d) HAIR (full)": 39.00}
#: Table 5: split k -> paper's PSNR (Urban100 σ25); the row name is "k+(7-k)".
PAPER_TABLE5 = {1: 32.45, 2: 32.56, 3: 32.70, 4: 32.68, 5: 32.61, 6: 32.51}
PAPER_LABEL = "paper, real data, full size"


@dataclass(frozen=True)
class Preset:
    """Sizes of one kind of run."""

    model_preset: str
    patch: int
    batch: int
    steps: int | None  # None: epochs (paper)
    epochs: int | None
    test_crop: int
    crops_per_task: int
    device: str
    note: str


PRESETS: dict[str, Preset] = {
    "smoke": Preset("tiny", 32, 2, 2, None, 32, 1, "cpu", " (smoke test: a few steps, the numbers mean nothing)"),
    "mini": Preset("tiny", 32, 4, 100, None, 64, 8, "cpu", ""),
    "paper": Preset("paper", 128, 8, None, 150, 0, 0, "auto", " (paper protocol)"),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="HAIR Tables 4 and 5: hairify modes and classifier positions on Restormer.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="mini",
                   help="smoke: seconds; mini: tiny Restormer, 100 steps per variant on the built-in benchmark, ~20 min on 2 idle CPU cores;"
                   " paper: full size on real data (--data-root), GPU")
    p.add_argument("--tables", nargs="+", type=int, choices=(4, 5), default=[4, 5])
    p.add_argument("--tasks", choices=("derain", "all"), default="derain",
                   help="Table 4's training and test tasks: deraining only (the paper's column) or all five")
    p.add_argument("--splits", nargs="+", type=int, default=[1, 2, 3, 4, 5, 6], help="Table 5's split stages k (1..6)")
    p.add_argument("--num-kernels", type=int, default=5, help="N of every weight box")
    p.add_argument("--init", choices=("fresh", "copy+noise", "copy"), default="fresh",
                   help="hairify's expert initialisation (fresh: each expert on its own, boxes shared per level)")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per variant; mean ± std reported")
    p.add_argument("--steps", type=int, default=None, help="steps per variant (the preset's by default; overrides epochs)")
    p.add_argument("--data-root", type=Path, default=None, help="real data in the PromptIR layout")
    p.add_argument("--device", default=None)
    p.add_argument("--out", type=Path, default=Path("runs/ablations"))
    p.add_argument("--progress", choices=["auto", "tqdm", "lines", "off"], default="auto")
    args = p.parse_args(argv)
    if args.preset == "paper" and args.data_root is None:
        p.error("--preset paper trains on real data: give --data-root PATH")
    bad = [k for k in args.splits if not 1 <= k <= 6]
    if bad:
        p.error(f"--splits must be stages 1..6 of Restormer's seven, got {bad}")
    for name in ("seeds", "steps", "num_kernels"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    return args


# ---------------------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    """One row: which table, its name, the hairify arguments (``mode`` None = plain Restormer)."""

    table: int
    name: str
    mode: str | None
    split: int | str = "mid"


def plan_variants(args: argparse.Namespace) -> list[Variant]:
    """The rows to run: Table 4's hairify modes, then Table 5's classifier positions.

    Example:
        >>> [v.name for v in plan_variants(parse_args(["--tables", "5", "--splits", "4", "2"]))]
        ['2+5', '4+3']
    """
    rows: list[Variant] = []
    if 4 in args.tables:
        rows += [Variant(4, name, mode) for name, mode in TABLE4_VARIANTS.items()]
    if 5 in args.tables:
        rows += [Variant(5, f"{k}+{7 - k}", "hyper", k) for k in sorted(set(args.splits))]
    return rows


def build(variant: Variant, preset: Preset, patch: int, num_kernels: int, seed: int, init: str = "fresh") -> torch.nn.Module:
    """The variant's model, from the Restormer that ``seed`` initialises (the same for every row)."""
    import hairlayers
    from hairlayers.models import create_model
    from hairlayers.train import seed_everything

    seed_everything(seed)
    base = create_model("restormer", preset=preset.model_preset)
    if variant.mode is None:
        return base
    example = torch.rand(2, 3, patch, patch, generator=torch.Generator().manual_seed(seed))
    return hairlayers.hairify(base, split=variant.split, example_input=example, mode=variant.mode,
                              num_kernels=num_kernels, init=init, blocks_only=True, inplace=True)


def table_data(table: int, args: argparse.Namespace, preset: Preset, patch: int, length: int, seed: int) -> tuple[Any, dict[str, Any]]:
    """Training set and ``{group: test set}`` of a table."""
    from hairlayers import data

    tasks = (("derain",) if args.tasks == "derain" else data.TASKS) if table == 4 else ("denoise",)
    if args.data_root is None:
        train_set = data.BuiltinTrainDataset(patch_size=patch, length=length, tasks=tasks, sigmas=(25,), seed=seed)
        test_set = data.BuiltinTestDataset(crop_size=preset.test_crop, crops_per_task=preset.crops_per_task,
                                           tasks=tasks, sigma=25, seed=0)
        return train_set, {"": test_set}
    train_set = data.AllInOneTrainDataset(args.data_root, tasks, sigmas=(25,), patch_size=patch, seed=seed)
    denoise_set = "urban100" if table == 5 else "bsd68"
    return train_set, {t: data.AllInOneTestDataset(args.data_root, t, sigma=25, denoise_set=denoise_set) for t in tasks}


def step_seconds(model: torch.nn.Module, batch: int, patch: int, device: torch.device) -> float:
    """Median wall time of two training steps after a warm-up, on random data."""
    model = model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-9)  # tiny steps: the model is rebuilt before training anyway
    x, y = torch.rand(batch, 3, patch, patch, device=device), torch.rand(batch, 3, patch, patch, device=device)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        loss = (model(x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


# ------------------------------------------------------------------------------------------ report


def render(results: dict[str, Any]) -> str:
    """Both tables, measured rows beside the paper's, each block labelled with what it measured."""
    s = results["settings"]
    seeds = s["seeds"]
    length = f"{s['steps']} steps" if s["epochs"] is None else f"{s['epochs']} epochs"
    lines = [f"## {s['measured_label']}",
             (f"{length} × batch {s['batch_size']} of {s['patch_size']}² patches per variant, Restormer preset"
              f" '{s['model_preset']}', N={s['num_kernels']}, {seeds} seed(s), device {results['machine']['device']},"
              f" {results['machine']['date_utc']}")]
    for table in (4, 5):
        rows = [r for r in results["rows"] if r["table"] == table]
        if not rows:
            continue
        if table == 4:
            what = ("deraining (built-in rain streaks; paper: Rain100L)" if s["tasks"] == "derain"
                    else "all five tasks, average (paper: Rain100L)")
        else:
            what = "denoising σ25 (built-in crops; paper: Urban100 σ25)"
        lines += ["", f"### Table {table}: {what}; PSNR dB" + (" mean±std" if seeds > 1 else ""), ""]
        base = rows[0]["psnr"]
        header = ["variant", "params", "measured PSNR", "Δ vs first row", "measured SSIM", f"{PAPER_LABEL}", "paper Δ"]
        body = []
        paper0 = rows[0]["paper_psnr"]
        for r in rows:
            spread = f"±{r['psnr_std']:.2f}" if seeds > 1 else ""
            paper = r["paper_psnr"]
            body.append([r["name"], f"{r['params'] / 1e6:.2f}M", f"{r['psnr']:.2f}{spread}", f"{r['psnr'] - base:+.2f}",
                         f"{r['ssim']:.3f}", f"{paper:.2f}" if paper is not None else "-",
                         f"{paper - paper0:+.2f}" if paper is not None and paper0 is not None else "-"])
        body.append(["degraded input", "-", f"{results['input'][str(table)]['psnr']:.2f}", "", f"{results['input'][str(table)]['ssim']:.3f}", "", ""])
        widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
        lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(b, widths)) + " |" for b in body]
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> Path:
    """Left: Table 4 gains over the baseline, measured vs paper. Right: Table 5 PSNR per split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = sorted({r["table"] for r in results["rows"]})
    fig, axes = plt.subplots(1, len(tables), figsize=(6.5 * len(tables), 4.2), squeeze=False)
    for ax, table in zip(axes[0], tables):
        rows = [r for r in results["rows"] if r["table"] == table]
        names = [r["name"] for r in rows]
        xs = range(len(rows))
        measured = [r["psnr"] - rows[0]["psnr"] for r in rows]
        errs = [r["psnr_std"] for r in rows]
        paper = [(r["paper_psnr"] or math.nan) - (rows[0]["paper_psnr"] or math.nan) for r in rows]
        if table == 4:
            ax.bar([x - 0.2 for x in xs], measured, 0.4, yerr=errs if any(errs) else None, label=results["settings"]["measured_label"])
            ax.bar([x + 0.2 for x in xs], paper, 0.4, label=PAPER_LABEL, color="0.6")
            ax.set_ylabel("PSNR gain over row (a), dB")
            ax.set_title("Table 4 (hairify modes)", fontsize=10)
        else:
            ax.errorbar(xs, measured, yerr=errs if any(errs) else None, marker="o", label=results["settings"]["measured_label"])
            ax.plot(xs, paper, marker="s", color="0.5", label=PAPER_LABEL)
            ax.set_ylabel(f"PSNR relative to split {names[0]}, dB")
            ax.set_title("Table 5 (classifier position)", fontsize=10)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names, rotation=12, fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle(f"HAIR ablations — {results['machine']['date_utc']}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ablations; returns the exit status."""
    from hairlayers.train import (
        TrainConfig,
        evaluate,
        resolve_device,
        train,
    )

    args = parse_args(argv)
    preset = PRESETS[args.preset]
    device = resolve_device(args.device or preset.device)
    variants = plan_variants(args)
    machine = machine_info(device)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    print(f"HAIR ablations (Tables {', '.join(map(str, sorted(args.tables)))}) — machine: {machine['cpu']}"
          f" ({machine['cpu_count']} CPUs), torch {machine['torch']}, {machine['torch_threads']} threads,"
          f" device {device}, {machine['date_utc']}")
    patch, batch = preset.patch, preset.batch
    steps, epochs = args.steps or preset.steps, None if (args.steps or preset.steps) else preset.epochs
    plan: dict[str, Any] = {}
    if args.preset == "mini":
        # two builds to time a plain and a hyper step; the other hyper rows cost about as much as (d)
        plain = step_seconds(build(Variant(4, "(a)", None), preset, patch, args.num_kernels, 0, args.init), batch, patch, device)
        hyper = step_seconds(build(Variant(4, "(d)", "hyper"), preset, patch, args.num_kernels, 0, args.init), batch, patch, device)
        estimate = args.seeds * sum(steps * (plain if v.mode in (None, "embed") else hyper) + 15 for v in variants)
        print(f"plan: {len(variants)} variants × {args.seeds} seed(s) × {steps} steps; a step took {plain:.2f} s (plain)"
              f" / {hyper:.2f} s (hyper) just now → ≈ {estimate / 60:.0f} min with building and evaluation"
              " (CPU timings vary with load)")
        plan = {"step_seconds": {"plain": plain, "hyper": hyper}, "estimated_s": estimate}
    real = args.data_root is not None
    size = {"tiny": "tiny", "mini": "mini", "paper": "full"}.get(preset.model_preset, preset.model_preset)
    settings = {
        "preset": args.preset, "tables": sorted(args.tables), "tasks": args.tasks, "splits": sorted(set(args.splits)),
        "measured_label": f"measured, {'real data' if real else 'built-in synthetic benchmark'}, {size} size{preset.note}",
        "data": str(args.data_root) if real else "builtin", "model_preset": preset.model_preset, "steps": steps,
        "epochs": epochs, "batch_size": batch, "patch_size": patch, "lr": 2e-4, "final_lr": 2e-5,
        "num_kernels": args.num_kernels, "seeds": args.seeds, "hairify": {"blocks_only": True, "init": args.init},
    }
    print("settings:", ", ".join(f"{k}={v}" for k, v in settings.items() if k != "measured_label"))

    wall = time.perf_counter()
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {(v.table, v.name): [] for v in variants}
    params: dict[tuple[int, str], int] = {}
    inputs: dict[str, dict[str, float]] = {}
    for seed in range(args.seeds):
        for table in sorted({v.table for v in variants}):
            train_set, test_sets = table_data(table, args, preset, patch, (steps or 1) * batch, seed)
            if str(table) not in inputs:
                inputs[str(table)] = evaluate(torch.nn.Identity(), test_sets)["average"]
            for v in (v for v in variants if v.table == table):
                model = build(v, preset, patch, args.num_kernels, seed, args.init)
                params[(table, v.name)] = count_params(model)
                print(f"\n[Table {table}] {v.name} seed {seed}: {params[(table, v.name)]:,} parameters", flush=True)
                config = TrainConfig(steps=steps, epochs=epochs, batch_size=batch, lr=2e-4, final_lr=2e-5, seed=seed,
                                     device=str(device), progress=args.progress, log_every=max(1, (steps or 100) // 5))
                trained = train(model, train_set, config)
                evaluated = evaluate(model, test_sets, device=device)
                print(f"[Table {table}] {v.name} seed {seed}: {trained.steps} steps in {trained.seconds:.0f} s, final loss"
                      f" {trained.final_loss:.4f}, PSNR {evaluated['average']['psnr']:.2f} / SSIM {evaluated['average']['ssim']:.3f}",
                      flush=True)
                runs[(table, v.name)].append({"seed": seed, "final_loss": trained.final_loss, "train_seconds": trained.seconds,
                                              "eval": evaluated})
                del model
    rows = []
    for v in variants:
        r = runs[(v.table, v.name)]
        psnr, psnr_std = mean_std([x["eval"]["average"]["psnr"] for x in r])
        ssim, ssim_std = mean_std([x["eval"]["average"]["ssim"] for x in r])
        paper = PAPER_TABLE4.get(v.name) if v.table == 4 else PAPER_TABLE5.get(int(v.split))
        rows.append({"table": v.table, "name": v.name, "mode": v.mode, "split": v.split, "params": params[(v.table, v.name)],
                     "psnr": psnr, "psnr_std": psnr_std, "ssim": ssim, "ssim_std": ssim_std, "paper_psnr": paper, "runs": r})
    results = {"settings": settings, "machine": machine, "plan": plan, "rows": rows, "input": inputs,
               "labels": {"measured": settings["measured_label"], "paper": PAPER_LABEL},
               "wall_seconds": time.perf_counter() - wall}
    write_report(out, "ablations", render(results), results, chart)
    return 0


__all__ = ["PAPER_TABLE4", "PAPER_TABLE5", "PRESETS", "TABLE4_VARIANTS", "chart", "main", "mean_std", "render"]

if __name__ == "__main__":
    raise SystemExit(main())
