"""Fig. 2 of the HAIR paper: a t-SNE map of the Global Information Vectors (GIVs).

The paper's claim (Fig. 2 c–d): the GIVs that Res-HAIR's classifier computes separate degradation
types *and* noise levels, and composite degradations never seen in training land between their
constituents. This example trains a small Res-HAIR (or loads one with ``--checkpoint``), computes
the GIV of every test crop of the five degradations with the three noise levels as separate labels
(and, with ``--composite``, noise+haze, rain+haze and rain+noise), and

* prints how separable the labels are *in the GIV space itself* — leave-one-out k-nearest-neighbour
  label accuracy against chance, for the trained model and for the same model at step 0 (random
  classifier) as a baseline; and, for composites, where their centroid lies on the segment between
  the centroids of their two constituents;
* draws a t-SNE map (computed by :func:`tsne` below, exact, in torch; no scikit-learn needed) of
  both models side by side.

    python examples/giv_tsne.py                        # mini: tiny Res-HAIR, 300 steps on the built-in benchmark, ~5-10 min on 2 cores
    python examples/giv_tsne.py --composite            # plus three composite degradations
    python examples/giv_tsne.py --preset smoke         # seconds; checks the pipeline only
    python examples/giv_tsne.py --checkpoint ckpt.pt --model-preset mini   # GIVs of a trained model
    python examples/giv_tsne.py --preset paper --data-root /data/allinone --checkpoint res_hair.ckpt

Writes ``givs.pt`` (GIVs, labels, t-SNE coordinates), ``giv_tsne.json`` (settings, machine,
separation numbers) and ``giv_tsne.png`` to ``--out`` (default ``runs/giv_tsne``). See
docs/analysis.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # table6_harness lives beside this file

from table6_harness import measure_step_seconds

from hairlayers.diagnostics import chance_accuracy, knn_accuracy
from hairlayers.diagnostics.separability import check_points as _check_points
from hairlayers.diagnostics.separability import squared_distances as _sq_distances
from hairlayers.errors import HairError
from hairlayers.machine import machine_info

SIGMAS = (15, 25, 50)
#: composite label -> the two single-degradation labels it is made of (applied in this order).
COMPOSITES: dict[str, tuple[str, str]] = {
    "haze+noise": ("dehaze", "denoise_25"),
    "rain+haze": ("derain", "dehaze"),
    "rain+noise": ("derain", "denoise_25"),
}


# ------------------------------------------------------------------------------------ t-SNE + metrics


def _affinities(d2: torch.Tensor, perplexity: float, iters: int = 64) -> torch.Tensor:
    """Row-conditional Gaussian affinities ``p(j|i)`` whose entropy is ``log(perplexity)``.

    The precision of every row is found by bisection on its logarithm (all rows at once).
    """
    n = d2.shape[0]
    off = ~torch.eye(n, dtype=torch.bool)
    scale = d2[off].mean().clamp_min(1e-12)  # the result does not depend on it; the search range does
    d2 = d2 / scale
    target = math.log(perplexity)
    lo = torch.full((n,), -30.0, dtype=d2.dtype)
    hi = torch.full((n,), 30.0, dtype=d2.dtype)
    for _ in range(iters):
        log_beta = (lo + hi) / 2
        logits = (-d2 * log_beta.exp()[:, None]).masked_fill(~off, -math.inf)
        logp = torch.log_softmax(logits, dim=1)
        entropy = -(logp.exp() * logp.masked_fill(~off, 0.0)).sum(1)
        too_flat = entropy > target  # larger precision -> sharper rows -> lower entropy
        lo = torch.where(too_flat, log_beta, lo)
        hi = torch.where(too_flat, hi, log_beta)
    logits = (-d2 * ((lo + hi) / 2).exp()[:, None]).masked_fill(~off, -math.inf)
    return torch.softmax(logits, dim=1)


def kl_gradient(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of ``KL(P || Q)`` over the map ``y``, Q the normalised Student-t similarities.

    ``dC/dy_i = 4 Σ_j (p_ij − q_ij)(y_i − y_j) / (1 + |y_i − y_j|²)``; with ``P`` scaled by an
    exaggeration factor this is the early-exaggeration gradient.

    Shape:
        ``p``: ``(n, n)`` symmetric, zero diagonal; ``y``: ``(n, dims)`` → ``(n, dims)``.

    Example:
        >>> import torch
        >>> p = torch.tensor([[0.0, 0.5], [0.5, 0.0]], dtype=torch.float64)
        >>> kl_gradient(p, torch.tensor([[0.0], [1.0]], dtype=torch.float64)).tolist()
        [[0.0], [0.0]]
    """
    eye = torch.eye(y.shape[0], dtype=torch.bool, device=y.device)
    num = (1.0 / (1.0 + _sq_distances(y))).masked_fill(eye, 0.0)
    q = (num / num.sum()).clamp_min(1e-12)
    pq = (p - q) * num
    return 4.0 * (pq.sum(1, keepdim=True) * y - pq @ y)


def tsne(
    x: torch.Tensor,
    *,
    dims: int = 2,
    perplexity: float = 30.0,
    iters: int = 1000,
    exaggeration: float = 12.0,
    exaggeration_iters: int = 250,
    learning_rate: float | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Exact t-SNE (van der Maaten & Hinton, 2008) in float64: fine for a few thousand points.

    Perplexity-calibrated Gaussian affinities, symmetrised; Student-t similarities in the map;
    gradient descent with momentum (0.5, then 0.8), per-coordinate gains and early exaggeration.

    Args:
        x: points, one per row.
        dims: dimensions of the map.
        perplexity: effective number of neighbours, ``0 < perplexity < n - 1``.
        iters: gradient steps in all.
        exaggeration: factor on the affinities during the first ``exaggeration_iters`` steps.
        exaggeration_iters: length of the early-exaggeration phase.
        learning_rate: step size; default ``max(n / exaggeration / 4, 50)`` (the usual "auto").
        seed: seed of the initial map.

    Returns:
        The map, ``(n, dims)`` float64, centred.

    Shape:
        ``x``: ``(n, d)`` → ``(n, dims)``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> pts = torch.cat([torch.randn(10, 5, generator=g), torch.randn(10, 5, generator=g) + 20])
        >>> y = tsne(pts, perplexity=5)
        >>> y.shape, knn_accuracy(y, ["a"] * 10 + ["b"] * 10, k=3)
        (torch.Size([20, 2]), 1.0)
    """
    x = _check_points(x, "tsne: x").double()
    n = x.shape[0]
    if n < 3:
        raise HairError(f"tsne needs at least 3 points, got {n}")
    if not 0 < perplexity < n - 1:
        raise HairError(f"tsne: perplexity must be in (0, n - 1) = (0, {n - 1}), got {perplexity}")
    if dims < 1 or iters < 1 or exaggeration_iters < 0:
        raise HairError(f"tsne: dims and iters must be >= 1 and exaggeration_iters >= 0, got {dims}, {iters}, {exaggeration_iters}")
    p = _affinities(_sq_distances(x), perplexity)
    p = ((p + p.T) / (2 * n)).clamp_min(1e-12)
    lr = learning_rate if learning_rate is not None else max(n / exaggeration / 4, 50.0)
    g = torch.Generator().manual_seed(seed)
    y = 1e-4 * torch.randn(n, dims, generator=g, dtype=torch.float64)
    update = torch.zeros_like(y)
    gains = torch.ones_like(y)
    for it in range(iters):
        early = it < exaggeration_iters
        grad = kl_gradient((exaggeration if early else 1.0) * p, y)
        same_sign = (grad > 0) == (update > 0)
        gains = torch.where(same_sign, gains * 0.8, gains + 0.2).clamp_min(0.01)
        update = (0.5 if early else 0.8) * update - lr * gains * grad
        y = y + update
        y = y - y.mean(0)
    return y


def composite_position(x: torch.Tensor, labels: Sequence[str], composite: str, parts: tuple[str, str]) -> dict[str, float]:
    """Where a composite's centroid lies relative to the centroids ``a``, ``b`` of its two parts.

    Returns ``t`` (projection on the segment: 0 at ``a``, 1 at ``b``, 0.5 midway) and ``off``
    (distance from the line through ``a`` and ``b``, in units of ``|b - a|``), plus the fraction of
    composite points whose nearest single-label centroid is one of its parts.

    Example:
        >>> import torch
        >>> pts = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 0.5]])
        >>> r = composite_position(pts, ["a", "b", "a+b"], "a+b", ("a", "b"))
        >>> r["t"], r["off"], r["nearest_is_part"]
        (0.5, 0.25, 1.0)
    """
    x = _check_points(x, "composite_position: x").double()
    lab = list(labels)
    for name in (composite, *parts):
        if name not in lab:
            raise HairError(f"composite_position: no point labelled {name!r}")
    singles = sorted({name for name in lab if name not in COMPOSITES and name != composite})
    cent = {name: x[[i for i, v in enumerate(lab) if v == name]].mean(0) for name in [*singles, composite]}
    a, b, c = cent[parts[0]], cent[parts[1]], cent[composite]
    ab = b - a
    t = float((c - a) @ ab / ab.dot(ab).clamp_min(1e-24))
    off = float((c - a - t * ab).norm() / ab.norm().clamp_min(1e-12))
    pts = x[[i for i, v in enumerate(lab) if v == composite]]
    stack = torch.stack([cent[s] for s in singles])
    nearest = [singles[j] for j in torch.cdist(pts, stack).argmin(1).tolist()]
    return {"t": t, "off": off, "nearest_is_part": sum(n in parts for n in nearest) / len(nearest)}


def separation(givs: torch.Tensor, labels: Sequence[str], k: int = 5, content: Sequence[Any] | None = None) -> dict[str, Any]:
    """The numbers printed beside the picture: k-NN accuracy of labels and families vs chance.

    With ``content`` (which clean image each item was made from), the ``*_other_content``
    accuracies leave out neighbours made from the same clean image: the built-in test set uses the
    same crops for every label, so content alone can pull differently labelled points together.
    """
    from hairlayers.data import task_family

    single = [i for i, v in enumerate(labels) if v not in COMPOSITES]
    x = givs[single]
    lab = [labels[i] for i in single]
    fam = [task_family(v) for v in lab]
    noise = [i for i, v in enumerate(lab) if v.startswith("denoise")]
    out: dict[str, Any] = {
        "k": k,
        "labels_knn": knn_accuracy(x, lab, k),
        "labels_chance": chance_accuracy(lab),
        "families_knn": knn_accuracy(x, fam, k),
        "families_chance": chance_accuracy(fam),
    }
    if content is not None:
        cont = [content[i] for i in single]
        out["labels_knn_other_content"] = knn_accuracy(x, lab, k, groups=cont)
        out["families_knn_other_content"] = knn_accuracy(x, fam, k, groups=cont)
    if len({lab[i] for i in noise}) > 1 and len(noise) > k:
        noise_lab = [lab[i] for i in noise]
        out["noise_levels_knn"] = knn_accuracy(x[noise], noise_lab, k)
        out["noise_levels_chance"] = chance_accuracy(noise_lab)
        if content is not None:
            out["noise_levels_knn_other_content"] = knn_accuracy(x[noise], noise_lab, k, groups=[cont[i] for i in noise])
    out["composites"] = {
        name: composite_position(givs, labels, name, parts) for name, parts in COMPOSITES.items() if name in labels
    }
    return out


# ------------------------------------------------------------------------------------------ data


def composite_degrade(clean: torch.Tensor, parts: tuple[str, str], g: torch.Generator) -> torch.Tensor:
    """Apply two built-in degradations in sequence (noise always last, as a sensor would add it)."""
    from hairlayers.data import degrade, task_family

    image = clean
    for label in parts:
        family = task_family(label)
        sigma = float(label.split("_")[1]) if family == "denoise" else 25
        image, _ = degrade(image, family, g, sigma=sigma)
    return image


def test_crops(args: argparse.Namespace, preset: TsnePreset) -> list[tuple[torch.Tensor, str, str]]:
    """``(degraded image, label, content)`` for every test item: five tasks, three noise levels,
    composites; ``content`` names the clean image the item was made from."""
    from hairlayers import data
    from hairlayers._rng import generator

    items: list[tuple[torch.Tensor, str, str]] = []
    n = preset.crops_per_label
    if args.data_root is None:  # every label uses the same n clean crops, in the same order
        for sigma in SIGMAS:
            ds = data.BuiltinTestDataset(crop_size=preset.crop, crops_per_task=n, tasks=["denoise"], sigma=sigma)
            items += [(d, label, f"crop{i % n}") for i, (d, _, label) in enumerate(ds)]
        others = [t for t in data.TASKS if t != "denoise"]
        ds = data.BuiltinTestDataset(crop_size=preset.crop, crops_per_task=n, tasks=others)
        items += [(d, label, f"crop{i % n}") for i, (d, _, label) in enumerate(ds)]
        cleans = [(c, f"crop{i}") for i, (_, c, _) in enumerate(ds) if i < n]
    else:  # noise levels share the denoising images; other tasks have their own
        for task in data.TASKS:
            for sigma in SIGMAS if task == "denoise" else (25,):
                ds = data.AllInOneTestDataset(args.data_root, task, sigma=sigma)
                items += [(ds[i][0], ds[i][2], f"{task}{i}") for i in range(min(len(ds), n))]
        ds = data.AllInOneTestDataset(args.data_root, "denoise", sigma=25)
        cleans = [(ds[i][1], f"denoise{i}") for i in range(min(len(ds), n))]
    if args.composite:
        for c_id, (name, parts) in enumerate(COMPOSITES.items()):
            items += [(composite_degrade(clean, parts, generator(7, c_id, k)), name, content)
                      for k, (clean, content) in enumerate(cleans)]
    return items


@torch.no_grad()
def compute_givs(model: torch.nn.Module, items: Sequence[tuple[torch.Tensor, str, str]], device: torch.device) -> torch.Tensor:
    """GIV of every item, one image at a time (test images may differ in size)."""
    was = model.training
    model.eval().to(device)
    givs = [model.giv(image[None].to(device)).float().cpu()[0] for image, _, _ in items]
    model.train(was)
    return torch.stack(givs)


# ------------------------------------------------------------------------------------------- main


@dataclass(frozen=True)
class TsnePreset:
    """Sizes of one kind of run."""

    model_preset: str
    patch: int
    batch: int
    steps: int | None  # None: --checkpoint or --steps required
    crop: int
    crops_per_label: int
    perplexity: float
    tsne_iters: int
    device: str


PRESETS: dict[str, TsnePreset] = {
    "smoke": TsnePreset("tiny", 32, 2, 3, 32, 6, 5.0, 250, "cpu"),
    "mini": TsnePreset("tiny", 32, 4, 300, 64, 30, 30.0, 1000, "cpu"),
    "paper": TsnePreset("paper", 128, 8, None, 0, 100, 30.0, 1000, "auto"),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="HAIR Fig. 2: t-SNE of the GIVs and how well they separate degradations.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="mini",
                   help="smoke: seconds; mini: tiny Res-HAIR trained 300 steps on the built-in benchmark (~5 min on 2 idle cores);"
                   " paper: full-size Res-HAIR on real data (--data-root), usually with --checkpoint")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="load Res-HAIR weights (training checkpoint, state_dict or the authors' release) instead of training")
    p.add_argument("--model-preset", default=None, help="res_hair preset (tiny, mini, paper); the preset's by default")
    p.add_argument("--variant", default=None, help="res_hair variant ('official' for the authors' release)")
    p.add_argument("--data-root", type=Path, default=None, help="real data in the PromptIR layout (train and test)")
    p.add_argument("--composite", action="store_true", help="add noise+haze, rain+haze and rain+noise crops")
    p.add_argument("--steps", type=int, default=None, help="training steps (the preset's by default)")
    p.add_argument("--crops", type=int, default=None, help="test crops per label")
    p.add_argument("--perplexity", type=float, default=None)
    p.add_argument("--k", type=int, default=5, help="neighbours of the k-NN separation measure")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--out", type=Path, default=Path("runs/giv_tsne"))
    p.add_argument("--progress", choices=["auto", "tqdm", "lines", "off"], default="auto")
    args = p.parse_args(argv)
    if args.preset == "paper" and args.data_root is None:
        p.error("--preset paper uses real data: give --data-root PATH")
    if args.preset == "paper" and args.checkpoint is None and args.steps is None:
        p.error("--preset paper: give --checkpoint (a trained Res-HAIR, e.g. from examples/restormer_hair.py) or --steps")
    for name in ("steps", "crops"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def scatter(maps: dict[str, torch.Tensor], labels: Sequence[str], title: str, path: Path) -> Path:
    """One t-SNE panel per model, points coloured by label, composites as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(labels))
    cmap = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(maps), figsize=(6 * len(maps), 5.4), squeeze=False)
    for ax, (panel, y) in zip(axes[0], maps.items()):
        for i, name in enumerate(names):
            idx = [j for j, v in enumerate(labels) if v == name]
            ax.scatter(y[idx, 0], y[idx, 1], s=14, color=cmap(i % 10), label=name,
                       marker="x" if name in COMPOSITES else "o", alpha=0.85)
        ax.set_title(panel, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt_sep(name: str, s: dict[str, Any]) -> list[str]:
    lines = [f"  {name}: labels {s['labels_knn']:.3f} (chance {s['labels_chance']:.3f}),"
             f" families {s['families_knn']:.3f} (chance {s['families_chance']:.3f})"
             + (f", noise levels {s['noise_levels_knn']:.3f} (chance {s['noise_levels_chance']:.3f})" if "noise_levels_knn" in s else "")]
    if "labels_knn_other_content" in s:
        lines.append(f"    neighbours from other clean images only: labels {s['labels_knn_other_content']:.3f},"
                     f" families {s['families_knn_other_content']:.3f}"
                     + (f", noise levels {s['noise_levels_knn_other_content']:.3f}" if "noise_levels_knn_other_content" in s else ""))
    for comp, r in s["composites"].items():
        lines.append(f"    {comp}: centroid at t={r['t']:.2f} between {COMPOSITES[comp][0]} (0) and {COMPOSITES[comp][1]} (1),"
                     f" off the line {r['off']:.2f}×|b-a|; nearest single centroid is a part for {r['nearest_is_part']:.0%}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Train (or load), compute GIVs, measure separation, draw the map; returns the exit status."""
    from hairlayers import data
    from hairlayers.models import create_model
    from hairlayers.models import load_pretrained
    from hairlayers.train import (
        TrainConfig,
        resolve_device,
        save_results,
        seed_everything,
        train,
    )

    args = parse_args(argv)
    preset = PRESETS[args.preset]
    device = resolve_device(args.device or preset.device)
    model_preset = args.model_preset or preset.model_preset
    crops = args.crops or preset.crops_per_label
    preset = TsnePreset(**{**preset.__dict__, "model_preset": model_preset, "crops_per_label": crops})
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info(device)
    print(f"Fig. 2 (GIV t-SNE) — machine: {machine['cpu']} ({machine['cpu_count']} CPUs), torch {machine['torch']},"
          f" {machine['torch_threads']} threads, device {device}, {machine['date_utc']}")

    build = {"preset": model_preset} | ({"variant": args.variant} if args.variant else {})
    seed_everything(args.seed)
    model = create_model("res_hair", **build)
    items = test_crops(args, preset)
    labels = [label for _, label, _ in items]
    content = [c for _, _, c in items]
    print(f"test items: {len(items)} ({', '.join(f'{k} {v}' for k, v in Counter(labels).items())})")
    start = time.perf_counter()
    givs0 = compute_givs(model, items, device)  # step 0: the untrained classifier, the baseline

    steps = None
    if args.checkpoint is not None:
        load_pretrained(model, args.checkpoint, name="res_hair")
        trained_as = f"loaded from {args.checkpoint}"
    else:
        steps = args.steps or preset.steps
        assert steps is not None  # parse_args demands --steps or --checkpoint where the preset has none
        if args.preset != "smoke":
            step_s = measure_step_seconds("res_hair", model_preset, preset.batch, preset.patch, device, False)
            print(f"plan: {steps} steps of batch {preset.batch} ({preset.patch}x{preset.patch}); a step took {step_s:.2f} s"
                  f" just now → ≈ {steps * step_s / 60:.1f} min of training (CPU timings vary with load)")
        if args.data_root is None:
            train_set = data.BuiltinTrainDataset(patch_size=preset.patch, length=steps * preset.batch, seed=args.seed)
        else:
            train_set = data.AllInOneTrainDataset(args.data_root, data.TASKS, patch_size=preset.patch, seed=args.seed)
        config = TrainConfig(steps=steps, batch_size=preset.batch, lr=2e-4, final_lr=2e-5, seed=args.seed,
                             device=str(device), progress=args.progress, log_every=max(1, steps // 10))
        result = train(model, train_set, config)
        trained_as = f"trained {result.steps} steps ({result.seconds:.0f} s), final loss {result.final_loss:.4f}"
    print(f"model: res_hair {build}, {trained_as}")
    givs = compute_givs(model, items, device)

    perplexity = args.perplexity or min(preset.perplexity, (len(items) - 2) / 3)
    sep = {"trained": separation(givs, labels, args.k, content), "step 0": separation(givs0, labels, args.k, content)}
    maps = {
        trained_as.split(" (")[0]: tsne(givs, perplexity=perplexity, iters=preset.tsne_iters, seed=args.seed),
        "step 0 (untrained classifier)": tsne(givs0, perplexity=perplexity, iters=preset.tsne_iters, seed=args.seed),
    }
    tsne_knn = {name: knn_accuracy(y, labels, args.k) for name, y in maps.items()}
    data_label = "built-in synthetic benchmark" if args.data_root is None else f"real data under {args.data_root}"
    title = (f"GIV t-SNE, res_hair '{model_preset}', {data_label} — measured {machine['date_utc']}"
             + (" (smoke test: the picture means nothing)" if args.preset == "smoke" else ""))
    print(f"\nleave-one-out {args.k}-NN accuracy of the GIVs ({givs.shape[1]}-dim, Euclidean) vs chance (majority label):")
    for name, s in sep.items():
        print("\n".join(_fmt_sep(name, s)))
    print("k-NN accuracy in the 2-D t-SNE maps: " + ", ".join(f"{n.split(' (')[0]} {v:.3f}" for n, v in tsne_knn.items()))
    print("paper Fig. 2 (c-d), real data, full size: clusters per degradation and per noise level; composites midway"
          " (a picture, no number)")

    torch.save({"givs": givs, "givs_step0": givs0, "labels": labels, "content": content, "tsne": dict(maps)}, out / "givs.pt")
    settings = {"preset": args.preset, "model": "res_hair", **build, "data": data_label, "trained": trained_as,
                "steps": steps, "batch_size": preset.batch, "patch_size": preset.patch, "crop": preset.crop,
                "crops_per_label": crops, "composite": args.composite, "perplexity": perplexity,
                "tsne_iters": preset.tsne_iters, "seed": args.seed}
    save_results({"settings": settings, "machine": machine, "labels": labels, "separation": sep,
                  "tsne_knn": tsne_knn, "seconds": time.perf_counter() - start}, out / "giv_tsne.json")
    scatter(maps, labels, title, out / "giv_tsne.png")
    print(f"\nwrote {out / 'givs.pt'}, {out / 'giv_tsne.json'}, {out / 'giv_tsne.png'}")
    return 0


__all__ = ["COMPOSITES", "PRESETS", "chance_accuracy", "composite_position", "kl_gradient", "knn_accuracy", "main", "separation", "tsne"]

if __name__ == "__main__":
    raise SystemExit(main())
