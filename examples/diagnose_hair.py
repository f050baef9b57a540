"""Does Res-HAIR specialise? Instrument a training run of Res-HAIR next to its Restormer baseline.

Trains a small Res-HAIR and a Restormer of the same width from the same seed on the built-in
five-task benchmark with the paper's recipe, and measures at step 0 and after training
(``hairlayers.diagnostics``; docs/analysis.md says what each number means):

* per selecting net and task: the mean selecting vector and its entropy (``log N`` = uniform);
  the logits' scale within an image and across images;
* how far two tasks' mixed kernels are apart, in units of the experts' spread; how different the
  experts are at all (spread / norm of their mean);
* how far the experts moved from their init, whether they moved *apart* ("differential"), and how
  far the baseline's decoder convolutions moved;
* gradient norms of the selecting nets, the classifier, the weight boxes and the rest, on one
  fixed training batch;
* leave-one-out k-NN accuracy of the task from the GIV.

    python examples/diagnose_hair.py                 # mini models, 600 steps each, ~8 min on 2 cores
    python examples/diagnose_hair.py --steps 50 --model-preset tiny   # a quick look

Writes ``diagnose.json`` and ``diagnose.txt`` to ``--out`` (default ``runs/diagnose``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from hairlayers import data
from hairlayers.diagnostics import gradient_norms, specialisation_report, weight_change
from hairlayers.machine import machine_info
from hairlayers.models import create_model
from hairlayers.train import TrainConfig, loss_of, seed_everything, train

#: where a Restormer-family model keeps its second half (the hyper part of Res-HAIR)
DECODER = ("latent", "reduce_", "up", "decoder_level", "refinement", "output")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model-preset", default="mini", choices=["tiny", "mini"])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--patch-size", type=int, default=48)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crops", type=int, default=12, help="diagnostic crops (64×64) per task")
    parser.add_argument("--k", type=int, default=5, help="neighbours for the GIV k-NN accuracy")
    parser.add_argument("--out", type=Path, default=Path("runs/diagnose"))
    parser.add_argument("--progress", choices=["auto", "tqdm", "lines", "off"], default="auto")
    return parser.parse_args(argv)


def diagnostic_images(crops: int) -> tuple[torch.Tensor, list[str]]:
    """Test crops of the five tasks (σ 25 for noise), from images the models never train on."""
    test = data.BuiltinTestDataset(crop_size=64, crops_per_task=crops, sigma=25, seed=1)
    items = [test[i] for i in range(len(test))]
    return torch.stack([x for x, _, _ in items]), [label for _, _, label in items]


def fixed_batch(batch: int, patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    train_set = data.BuiltinTrainDataset(patch_size=patch, length=batch, seed=123)
    items = [train_set[i] for i in range(batch)]
    return torch.stack([x for x, _, _ in items]), torch.stack([y for _, y, _ in items])


def grad_norms_on(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
    model.zero_grad(set_to_none=True)
    loss, _ = loss_of(model, *batch)
    loss.backward()
    norms = gradient_norms(model)
    model.zero_grad(set_to_none=True)
    return norms


def render(results: dict[str, Any]) -> str:
    """The headline numbers, step 0 beside trained."""
    before, after = results["res_hair"]["step0"], results["res_hair"]["trained"]
    rows = [
        ("selection entropy / log N (1 = uniform)", "selection", "normalised_entropy", "{:.4f}"),
        ("task distance of mean selections (TV, 0-1)", "selection", "task_distance", "{:.4f}"),
        ("logit std within an image", "selection", "logit_std", "{:.4f}"),
        ("logit std across images", "selection", "logit_image_std", "{:.4f}"),
        ("mixed-kernel task separation / expert spread", "kernels", "separation", "{:.4f}"),
        ("expert spread / mean-kernel norm", "kernels", "relative_spread", "{:.4f}"),
    ]
    lines = [f"## Res-HAIR '{results['settings']['model_preset']}', {results['settings']['steps']} steps,"
             f" seed {results['settings']['seed']} — {results['machine']['date_utc']}", "",
             "| measure | step 0 | trained |", "|---|---|---|"]
    for label, part, key, fmt in rows:
        lines.append(f"| {label} | {fmt.format(before[part][key])} | {fmt.format(after[part][key])} |")
    lines.append(f"| GIV {results['settings']['k']}-NN task accuracy (chance {before['giv_knn_chance']:.3f}) |"
                 f" {before['giv_knn']:.3f} | {after['giv_knn']:.3f} |")
    change_h, change_b = results["res_hair"]["weight_change"], results["restormer"]["weight_change"]
    lines += ["", "| weights after training | value |", "|---|---|",
              f"| Res-HAIR experts: relative change ‖ΔW_i‖/‖W_i(0)‖ | {change_h['hyper_relative_change']:.4f} |",
              f"| Res-HAIR experts: differential (0 = all moved together) | {change_h['hyper_differential']:.4f} |",
              f"| Restormer decoder convs: relative change | {change_b['static_relative_change']:.4f} |",
              f"| final loss Res-HAIR / Restormer | {results['res_hair']['final_loss']:.4f} /"
              f" {results['restormer']['final_loss']:.4f} |"]
    lines += ["", "| gradient RMS per element | step 0 | trained |", "|---|---|---|"]
    for group in ("selecting nets", "classifier", "weight boxes", "other"):
        g0, g1 = results["res_hair"]["grad_step0"][group], results["res_hair"]["grad_trained"][group]
        lines.append(f"| {group} ({g0['numel']:,} params) | {g0['rms']:.2e} | {g1['rms']:.2e} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info(torch.device("cpu"))
    images, labels = diagnostic_images(args.crops)
    batch = fixed_batch(args.batch_size, args.patch_size)
    results: dict[str, Any] = {"settings": vars(args) | {"out": str(args.out)}, "machine": machine}
    train_set = data.BuiltinTrainDataset(patch_size=args.patch_size, length=args.steps * args.batch_size, seed=args.seed)
    for name in ("res_hair", "restormer"):
        seed_everything(args.seed)
        model = create_model(name, preset=args.model_preset)
        initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
        entry: dict[str, Any] = {}
        if name == "res_hair":
            entry["step0"] = specialisation_report(model, images, labels, k=args.k)
            entry["grad_step0"] = grad_norms_on(model, batch)
        config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, final_lr=args.lr / 10,
                             seed=args.seed, progress=args.progress, log_every=max(1, args.steps // 10))
        start = time.perf_counter()
        trained = train(model, train_set, config)
        print(f"[{name}] {trained.steps} steps in {time.perf_counter() - start:.0f} s, final loss {trained.final_loss:.4f}")
        entry["final_loss"] = trained.final_loss
        entry["weight_change"] = weight_change(initial, model, within=DECODER)
        if name == "res_hair":
            entry["trained"] = specialisation_report(model, images, labels, k=args.k)
            entry["grad_trained"] = grad_norms_on(model, batch)
        results[name] = entry
    text = render(results)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "diagnose.txt").write_text(text + "\n")
    (args.out / "diagnose.json").write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.out / 'diagnose.json'} and {args.out / 'diagnose.txt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
