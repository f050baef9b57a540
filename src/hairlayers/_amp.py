"""Mixed precision in one place: which dtype ``amp=True`` means on a device, and autocast support
for ops that take their weights as arguments."""

from __future__ import annotations

import torch


def autocast_dtype(device: torch.device | str) -> torch.dtype:
    """The dtype the package autocasts to on ``device``: float16 on CUDA, bfloat16 elsewhere.

    float16 is the fast tensor-core type on CUDA (training pairs it with a ``GradScaler``);
    bfloat16 is what CPU autocast supports and needs no loss scaling. Training, evaluation and the
    examples all use this rule (``with torch.autocast(d.type, dtype=autocast_dtype(d)): ...``).

    Example:
        >>> autocast_dtype("cpu"), autocast_dtype(torch.device("cuda", 1))
        (torch.bfloat16, torch.float16)
    """
    return torch.float16 if torch.device(device).type == "cuda" else torch.bfloat16


def autocast_active(device_type: str) -> bool:
    """Whether a ``torch.autocast`` region is active for ``device_type``.

    Never for a device type without autocast (``meta``), where asking torch directly would raise.
    """
    return torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)


def autocast_inputs(*tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
    """Under ``torch.autocast``, cast floating inputs to the autocast dtype, as ``F.conv2d`` does.

    Without this, an autocast region hands an op a float16 activation and float32 weights. float64
    tensors and non-tensors pass through unchanged, and so does everything on a device type without
    autocast (``meta`` tensors only infer shapes, as they do for ``F.conv2d``).
    """
    first = tensors[0]
    device_type = first.device.type if isinstance(first, torch.Tensor) else "cpu"
    if not autocast_active(device_type):
        return list(tensors)
    dtype = torch.get_autocast_dtype(device_type)
    return [
        t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != torch.float64 else t
        for t in tensors
    ]
