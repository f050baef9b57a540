"""Evaluation with the field's protocol: PSNR/SSIM per image on whole images, averaged per task.

The model sees each test image whole (no tiling), its output is clamped to ``[0, 1]`` and
measured with :func:`hairlayers.metrics.psnr` / :func:`~hairlayers.metrics.ssim` (scikit-image's
definitions on full RGB). Results are grouped by task label — denoising keeps its noise level
(``"denoise_15"``, ``"denoise_25"`` ...) — and the average is the plain mean over the groups,
which is how the paper's "avg" columns are formed (Table 6: five tasks; Table 1: three tasks with
three noise levels = five columns).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._amp import autocast_dtype
from ..errors import HairError
from ..metrics import psnr, ssim

__all__ = ["evaluate", "format_results", "save_results"]


def _groups(test_sets: Mapping[str, Sequence] | Sequence) -> list[tuple[str, Sequence, int]]:
    """Flatten the test sets into ``(name, dataset, index)`` rows."""
    if isinstance(test_sets, Mapping):
        if not test_sets:
            raise HairError("test_sets is empty: nothing to evaluate")
        return [(str(name), ds, i) for name, ds in test_sets.items() for i in range(len(ds))]
    if not hasattr(test_sets, "__getitem__") or not hasattr(test_sets, "__len__"):
        raise TypeError(f"test_sets must be a dataset or a mapping name -> dataset, got {type(test_sets).__name__}")
    return [("", test_sets, i) for i in range(len(test_sets))]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    test_sets: Mapping[str, Sequence] | Sequence,
    *,
    device: str | torch.device = "cpu",
    amp: bool = False,
    max_images: int | None = None,
) -> dict[str, Any]:
    """PSNR and SSIM of ``model`` on every test set, per task label and on average.

    Args:
        model: maps a ``(1, C, H, W)`` degraded image to a restored one of the same shape.
        test_sets: a dataset of ``(degraded, clean, label, ...)`` items (grouped by ``label``), or
            a mapping ``name -> dataset`` (grouped by name; a dataset holding several labels is
            split into ``"name/label"`` groups).
        device: where the model runs (it is moved there).
        amp: run the model under autocast (bfloat16 on CPU, float16 on CUDA); metrics stay float32.
        max_images: evaluate only the first this many images of each group (quick checks).

    Returns:
        ``{"tasks": {group: {"psnr", "ssim", "images"}}, "average": {"psnr", "ssim"},
        "images": n, "seconds": s}``; the model is left in the train/eval mode it came in.

    Example:
        >>> import torch
        >>> clean = torch.full((3, 16, 16), 0.5)
        >>> data = [(clean + 0.1, clean, "dehaze"), (clean - 0.1, clean, "derain")]
        >>> res = evaluate(torch.nn.Identity(), data)
        >>> sorted(res["tasks"]), round(res["average"]["psnr"], 2)
        (['dehaze', 'derain'], 20.0)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if max_images is not None and max_images < 1:
        raise HairError(f"max_images must be >= 1 or None, got {max_images}")
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    scores: dict[tuple[str, str], list[tuple[float, float]]] = {}
    start = time.perf_counter()
    try:
        for name, dataset, index in _groups(test_sets):
            item = dataset[index]
            if not isinstance(item, (tuple, list)) or len(item) < 3:
                raise HairError(
                    f"test items must be (degraded, clean, label, ...), got {type(item).__name__}"
                    f" of length {len(item) if isinstance(item, (tuple, list)) else '?'}"
                )
            degraded, clean, key = item[0], item[1], (name, str(item[2]))
            if max_images is not None and len(scores.get(key, [])) >= max_images:
                continue
            x = degraded.unsqueeze(0).to(device)
            with torch.autocast(device.type, dtype=autocast_dtype(device), enabled=amp):
                out = model(x)
            if out.shape != x.shape:
                raise HairError(
                    f"model output shape {tuple(out.shape)} differs from input {tuple(x.shape)}"
                    f" ({name or key[1]}, item {index})"
                )
            out = out.float().clamp(0, 1)
            target = clean.unsqueeze(0).to(device).float()
            scores.setdefault(key, []).append((float(psnr(out, target)), float(ssim(out, target))))
    finally:
        model.train(was_training)
    if not scores:
        raise HairError("the test sets hold no images")
    labels_per_name: dict[str, int] = {}
    for name, _ in scores:
        labels_per_name[name] = labels_per_name.get(name, 0) + 1

    def group(key: tuple[str, str]) -> str:
        name, label = key
        if not name:
            return label
        return name if labels_per_name[name] == 1 else f"{name}/{label}"

    tasks = {
        group(k): {
            "psnr": sum(p for p, _ in v) / len(v),
            "ssim": sum(s for _, s in v) / len(v),
            "images": len(v),
        }
        for k, v in scores.items()
    }
    average = {
        "psnr": sum(t["psnr"] for t in tasks.values()) / len(tasks),
        "ssim": sum(t["ssim"] for t in tasks.values()) / len(tasks),
    }
    return {
        "tasks": tasks,
        "average": average,
        "images": sum(t["images"] for t in tasks.values()),
        "seconds": time.perf_counter() - start,
    }


def format_results(results: Mapping[str, Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A plain-text table: one row per model, ``PSNR/SSIM`` per task and the average.

    Args:
        results: model name → the dict returned by :func:`evaluate`.
        columns: task groups to show, in order (default: those of the first model).

    Example:
        >>> r = {"tasks": {"derain": {"psnr": 30.0, "ssim": 0.9, "images": 1}},
        ...      "average": {"psnr": 30.0, "ssim": 0.9}}
        >>> print(format_results({"net": r}))
        model | derain       | avg
        net   | 30.00/0.9000 | 30.00/0.9000
    """
    if not results:
        raise HairError("no results to format")
    first = next(iter(results.values()))
    columns = list(columns) if columns is not None else list(first["tasks"])
    header = ["model", *columns, "avg"]
    rows = []
    for name, res in results.items():
        cells = [name]
        for col in columns:
            t = res["tasks"].get(col)
            cells.append("—" if t is None else f"{t['psnr']:.2f}/{t['ssim']:.4f}")
        cells.append(f"{res['average']['psnr']:.2f}/{res['average']['ssim']:.4f}")
        rows.append(cells)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


def save_results(results: Mapping[str, Any], path: str | Path) -> Path:
    """Write results as JSON (infinite PSNR of a perfect image is written as the string ``"inf"``).

    Example:
        >>> import json, tempfile, os
        >>> p = save_results({"psnr": float("inf")}, os.path.join(tempfile.mkdtemp(), "r.json"))
        >>> json.loads(p.read_text())
        {'psnr': 'inf'}
    """

    def clean(obj: Any) -> Any:
        if isinstance(obj, float) and not math.isfinite(obj):
            return str(obj)
        if isinstance(obj, Mapping):
            return {str(k): clean(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [clean(v) for v in obj]
        return obj

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(results), indent=2, ensure_ascii=False) + "\n")
    return path
