"""Measurements that say whether a HAIR network actually specialises per degradation.

* :mod:`~hairlayers.diagnostics.specialisation`: selecting vectors and their entropy per label,
  how far apart the labels' mixed kernels are, how the experts moved, gradient norms by role;
* :mod:`~hairlayers.diagnostics.separability`: leave-one-out k-NN accuracy of labels from GIVs;
* :func:`specialisation_report`: all of it for one model and one labelled image set, as a
  JSON-friendly dict (what the Table-6 example writes into ``results.json``).

See docs/analysis.md for what the numbers mean and what they showed.
"""

from .report import specialisation_report
from .separability import chance_accuracy, knn_accuracy
from .specialisation import (
    Recording,
    entropy,
    gradient_norms,
    hyper_layers,
    kernel_separation,
    record_selections,
    selecting_nets,
    selection_summary,
    weight_change,
)

__all__ = [
    "Recording",
    "chance_accuracy",
    "entropy",
    "gradient_norms",
    "hyper_layers",
    "kernel_separation",
    "knn_accuracy",
    "record_selections",
    "selecting_nets",
    "selection_summary",
    "specialisation_report",
    "weight_change",
]
