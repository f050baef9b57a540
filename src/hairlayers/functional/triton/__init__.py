"""Fused Triton kernels for the mixed ops (GPU; CPU through ``TRITON_INTERPRET=1``).

The per-sample weights ``Σ_i select[b, i] · W_i`` are mixed tile by tile inside the kernels and
never written to memory; the backward kernels reduce the per-sample weight gradients straight
into the box and select gradients. See ``docs/triton.md``.

Importing this package never imports Triton: :class:`TritonBackend` checks for it with
``importlib.util.find_spec`` and the kernel modules load on the first call.
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

import torch

from ..backends import Backend, Call

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
INT32_MAX = 2**31 - 1


def interpreting() -> bool:
    """Whether ``TRITON_INTERPRET=1`` runs the kernels on CPU tensors."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def sample_span(t: torch.Tensor) -> int:
    """Largest element offset inside one sample (all dims but the first): must fit in int32."""
    return sum((s - 1) * abs(st) for s, st in zip(t.shape[1:], t.stride()[1:]))


_OPS: ModuleType | None = None

# Measured Triton/torch time ratios (H100, second GPU run, 2026-11-26); see TritonBackend.declines_auto.
_GEMM_SLOWER_THAN_TORCH = (
    "measured slower than backend='torch' on an H100 for 1x1 convs and linear layers (Triton/torch "
    "time: forward 0.74-2.27x, geometric mean 1.56x; forward+backward 0.95-1.84x, mean 1.37x); "
    "backend='triton' runs it anyway"
)


def _load_ops() -> ModuleType:
    """The custom-op module; the first call imports Triton and registers the ops.

    Cached in a global so that ``torch.compile`` traces a plain attribute read after the first
    call (it cannot trace the import itself: a first call under ``fullgraph=True`` fails).
    """
    global _OPS
    if _OPS is None:
        _OPS = importlib.import_module(f"{__name__}._ops")
    return _OPS


_UNCHECKED = object()
_missing_requirement: object = _UNCHECKED


def missing_requirement() -> str | None:
    """Why Triton's kernels cannot load in this installation, or ``None``.

    Checked once per process and kept in a module global (the package lookup costs ~45 µs, every
    mixed op asks, and ``torch.compile`` traces a global read without complaint); set
    ``_missing_requirement = _UNCHECKED`` to check again, e.g. after installing Triton.
    """
    global _missing_requirement
    if _missing_requirement is _UNCHECKED:
        if importlib.util.find_spec("triton") is None:
            _missing_requirement = "Triton is not installed (pip install hairlayers[triton])"
        elif not hasattr(torch.library, "custom_op"):
            _missing_requirement = f"needs torch>=2.4 for torch.library.custom_op, found {torch.__version__}"
        else:
            _missing_requirement = None
    return _missing_requirement  # type: ignore[return-value]


class TritonBackend(Backend):
    """Fused Triton kernels: 1x1, dense/grouped kxk and depthwise convolutions, linear layers.

    Supports any stride, dilation and (also asymmetric) padding, fp32/fp16/bf16 with fp32
    accumulation, NCHW and channels_last inputs, and gradients for every input. fp32 products
    use TF32 exactly when PyTorch's own flag allows it for the same layer
    (``torch.backends.cudnn.allow_tf32`` for convolutions,
    ``torch.backends.cuda.matmul.allow_tf32`` for linear layers).

    Example:
        >>> from hairlayers.functional.triton import TritonBackend
        >>> reason = TritonBackend().unavailable()  # None where Triton can run
        >>> reason is None or isinstance(reason, str)
        True
    """

    name = "triton"
    description = "fused Triton kernels (mixing inside the kernel, batch reduction inside the backward)"

    def unavailable(self) -> str | None:
        if _OPS is None:  # once the kernels are loaded, Triton and custom_op are known to be there
            missing = missing_requirement()
            if missing is not None:
                return missing
        if not (interpreting() or torch.cuda.is_available()):
            return "no CUDA device (set TRITON_INTERPRET=1 to run the kernels on CPU, slowly)"
        return None

    def unsupported(self, call: Call) -> str | None:
        x = call.x
        if x.device.type != "cuda" and not interpreting():
            return f"tensors on {x.device.type}, not CUDA (TRITON_INTERPRET=1 runs CPU tensors)"
        if x.device.type == "cuda" and interpreting():
            return "TRITON_INTERPRET=1 is set: the interpreter runs CPU tensors only"
        if x.dtype not in _DTYPES:
            return f"dtype {x.dtype} is not supported (float32, float16 and bfloat16 are)"
        if call.op == "conv_transpose2d":
            return "mixed_conv_transpose2d has no Triton kernel (backend='torch' runs it)"
        if call.op not in ("conv2d", "linear"):
            return f"unknown op {call.op!r}"
        if sample_span(x) > INT32_MAX:
            return "one sample spans more than 2**31 elements (kernel offsets are int32)"
        return None

    def declines_auto(self, call: Call) -> str | None:
        """Where ``backend="auto"`` leaves a call to the PyTorch path, by measurement.

        The second H100 run (torch 2.11, Triton 3.6, B=8, Restormer decoder layers, CUDA-graph
        clock; ``benchmarks/gpu_kernels.py``, recorded in docs/performance.md) measured the depthwise
        kernels faster than the torch path (forward 18 of 18 cases, Triton/torch 0.65-0.88x;
        forward+backward 16 of 18, geometric mean 0.87x), so auto takes them. The GEMM kernels (1x1,
        dense k×k, linear) were slower: auto passes those on. ``backend="triton"`` runs everything.
        """
        if call.op == "conv2d" and call.spec is not None and call.spec.groups > 1 and call.spec.groups == call.x.shape[1]:
            return None
        return _GEMM_SLOWER_THAN_TORCH

    def conv2d(self, x, select, weight_box, bias_box, spec):
        allow_tf32 = x.device.type == "cuda" and torch.backends.cudnn.allow_tf32
        return _load_ops().mixed_conv2d(
            x, select, weight_box, bias_box, spec.stride, spec.pad, spec.dilation, spec.groups, allow_tf32
        )

    def linear(self, x, select, weight_box, bias_box):
        allow_tf32 = x.device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32
        return _load_ops().mixed_linear(x, select, weight_box, bias_box, allow_tf32)
