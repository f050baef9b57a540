"""One model, one labelled image set: every specialisation measurement in a JSON-friendly dict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from .separability import chance_accuracy, knn_accuracy
from .specialisation import kernel_separation, record_selections, selection_summary


def specialisation_report(
    model: nn.Module, images: torch.Tensor, labels: Sequence[str], *, k: int = 5, batch_size: int = 8
) -> dict[str, Any]:
    """Selection entropy per label, label distance of selections and kernels, GIV k-NN accuracy.

    Returns ``{"selection": selection_summary(...), "kernels": kernel_separation(...),
    "giv_knn": float | None, "giv_knn_chance": float, "k": k}`` (``giv_knn`` is ``None`` for a
    model without GIVs). Read docs/analysis.md for the scale of each number.

    Example:
        >>> import torch
        >>> from hairlayers.models import create_model
        >>> _ = torch.manual_seed(0)
        >>> report = specialisation_report(create_model("res_hair", preset="tiny"),
        ...                                torch.rand(6, 3, 32, 32), ["a", "a", "a", "b", "b", "b"], k=1)
        >>> sorted(report)
        ['giv_knn', 'giv_knn_chance', 'k', 'kernels', 'selection']
    """
    rec = record_selections(model, images, labels, batch_size=batch_size)
    knn = knn_accuracy(rec.givs.float(), rec.labels, k) if rec.givs is not None else None
    return {
        "selection": selection_summary(rec),
        "kernels": kernel_separation(model, rec),
        "giv_knn": knn,
        "giv_knn_chance": chance_accuracy(rec.labels),
        "k": k,
    }
