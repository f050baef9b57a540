"""Draw docs/images/degradations.png: clean | noise | rain | haze | blur | low light.

Run from the repository root: ``PYTHONPATH=src python docs/make_degradation_figure.py``.
Needs matplotlib and scikit-image (``pip install hairlayers[examples]``). Deterministic (seed 0).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hairlayers.data import builtin_images, degrade  # noqa: E402
from hairlayers._rng import generator  # noqa: E402

# (test image, top, left) of each 192x192 crop shown
CROPS = [("chelsea", 60, 120), ("coffee", 120, 200), ("camera", 40, 200)]
COLUMNS = [("clean", None), ("noise σ=25", "denoise"), ("rain", "derain"), ("haze", "dehaze"),
           ("motion blur", "deblur"), ("low light", "enhance")]  # fmt: skip
SIZE = 192


def main(out: Path = Path(__file__).parent / "images" / "degradations.png") -> None:
    images = builtin_images("test")
    fig, axes = plt.subplots(len(CROPS), len(COLUMNS), figsize=(2.0 * len(COLUMNS), 2.0 * len(CROPS)))
    for r, (name, top, left) in enumerate(CROPS):
        clean = images[name][:, top : top + SIZE, left : left + SIZE].contiguous()
        for c, (title, task) in enumerate(COLUMNS):
            if task is None:
                shown = clean.float() / 255
            else:
                shown, _ = degrade(clean, task, generator(0, r, c), sigma=25)
            ax = axes[r, c]
            ax.imshow(shown.permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=10)
    fig.tight_layout(pad=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=72, pil_kwargs={"optimize": True})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
