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
_INT32_MAX = 2**31 - 1


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


_OPS: ModuleType | None = None

# Measured Triton/torch time ratios (H100, first GPU run); see TritonBackend.declines_auto.
_SLOWER_THAN_TORCH = {
    "gemm": (
        "measured slower than backend='torch' on an H100 for 1x1 convs (forward 1.0-9.4x, "
        "forward+backward 1.0-13x the torch path's time); backend='triton' runs it anyway"
    ),
    "depthwise": (
        "measured no faster than backend='torch' on an H100 for depthwise 3x3 convs (forward "
        "0.76-1.11x, forward+backward 0.82-1.65x the torch path's time); backend='triton' runs it anyway"
    ),
}


def _load_ops() -> ModuleType:
    """The custom-op module; the first call imports Triton and registers the ops.

    Cached in a global so that ``torch.compile`` traces a plain attribute read after the first
    call (it cannot trace the import itself: a first call under ``fullgraph=True`` fails).
    """
    global _OPS
    if _OPS is None:
        _OPS = importlib.import_module(f"{__name__}._ops")
    return _OPS


def _sample_span(t: torch.Tensor) -> int:
    return sum((s - 1) * abs(st) for s, st in zip(t.shape[1:], t.stride()[1:]))


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
            if importlib.util.find_spec("triton") is None:
                return "Triton is not installed (pip install hairlayers[triton])"
            if not hasattr(torch.library, "custom_op"):
                return f"needs torch>=2.4 for torch.library.custom_op, found {torch.__version__}"
        if not (_interpreting() or torch.cuda.is_available()):
            return "no CUDA device (set TRITON_INTERPRET=1 to run the kernels on CPU, slowly)"
        return None

    def unsupported(self, call: Call) -> str | None:
        x = call.x
        if x.device.type != "cuda" and not _interpreting():
            return f"tensors on {x.device.type}, not CUDA (TRITON_INTERPRET=1 runs CPU tensors)"
        if x.device.type == "cuda" and _interpreting():
            return "TRITON_INTERPRET=1 is set: the interpreter runs CPU tensors only"
        if x.dtype not in _DTYPES:
            return f"dtype {x.dtype} is not supported (float32, float16 and bfloat16 are)"
        if call.op == "conv_transpose2d":
            return "mixed_conv_transpose2d has no Triton kernel (backend='torch' runs it)"
        if call.op not in ("conv2d", "linear"):
            return f"unknown op {call.op!r}"
        if _sample_span(x) > _INT32_MAX:
            return "one sample spans more than 2**31 elements (kernel offsets are int32)"
        return None

    def declines_auto(self, call: Call) -> str | None:
        """``backend="auto"`` passes every call on to the PyTorch path until a GPU run shows otherwise.

        The one H100 run so far (torch 2.11, Triton 3.6, B=8, Restormer decoder layers, CUDA-graph
        clock; ``benchmarks/gpu_kernels.py``) measured the Triton path slower than the torch path
        (mixed weights + bmm / batch-folded grouped conv) in the cases below. The kernels have been
        reworked since; ``backend="triton"`` runs them regardless.
        """
        if call.op == "linear" or call.spec is None:
            return _SLOWER_THAN_TORCH["gemm"]
        if call.spec.groups > 1 and call.spec.groups == call.x.shape[1]:
            return _SLOWER_THAN_TORCH["depthwise"]
        return _SLOWER_THAN_TORCH["gemm"]

    def conv2d(self, x, select, weight_box, bias_box, spec):
        allow_tf32 = x.device.type == "cuda" and torch.backends.cudnn.allow_tf32
        return _load_ops().mixed_conv2d(
            x, select, weight_box, bias_box, spec.stride, spec.pad, spec.dilation, spec.groups, allow_tf32
        )

    def linear(self, x, select, weight_box, bias_box):
        allow_tf32 = x.device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32
        return _load_ops().mixed_linear(x, select, weight_box, bias_box, allow_tf32)
