"""Every Triton kernel, forward and all gradients, against the float64 per-sample reference.

Runs in Triton's CPU interpreter (see ``conftest.py``): ``TRITON_INTERPRET=1 PYTHONPATH=src
python -m pytest -m triton tests/triton -q``. Shapes are tiny because the interpreter executes
each program in Python; they still cross tile boundaries (channels > one block, pixels > one
block, the weight-gradient pixel range split over two programs). The interpreter's bfloat16 is
unreliable, so float32 and float16 are tested here and bfloat16 only on a GPU
(``benchmarks/gpu_kernels.py``).

Rule for outputs and every gradient: ``|triton - ref64| <= 2·|ref_dtype - ref64| + atol``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from _tolerance import assert_close_to_reference, default_atol
from hairlayers.functional import mixed_conv2d, mixed_linear, reference
from hairlayers.functional.geometry import conv_spec

pytest.importorskip("triton")
pytestmark = pytest.mark.triton

CL = torch.channels_last


@dataclass(frozen=True)
class ConvCase:
    batch: int
    c_in: int
    c_out: int
    size: tuple[int, int]
    n: int
    kernel: int | tuple[int, int]
    stride: int = 1
    padding: object = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = True
    channels_last: bool = False
    kwargs: dict = field(default_factory=dict)


CONV_CASES = {
    # 1x1: a per-sample GEMM
    "pointwise": ConvCase(2, 8, 12, (6, 7), 3, 1),
    "pointwise_cl": ConvCase(3, 8, 12, (5, 5), 2, 1, channels_last=True),
    "pointwise_multi_tile": ConvCase(2, 40, 36, (9, 8), 3, 1, bias=False),
    "pointwise_stride2": ConvCase(2, 8, 6, (7, 7), 2, 1, stride=2),
    # general kxk (implicit GEMM), groups, stride, dilation, asymmetric padding
    "dense3x3": ConvCase(2, 6, 8, (7, 6), 3, 3, padding=1),
    "grouped_strided_dilated": ConvCase(3, 8, 12, (9, 8), 4, 3, stride=2, padding=(1, 2), dilation=2, groups=2),
    "same_even_kernel_cl": ConvCase(2, 4, 6, (6, 5), 2, 2, padding="same", channels_last=True),
    "rect_kernel_valid": ConvCase(2, 4, 4, (6, 7), 3, (1, 3), padding=0, groups=4, bias=False),
    # depthwise kxk: the Restormer/U-Net case
    "depthwise": ConvCase(2, 8, 8, (9, 9), 3, 3, padding=1, groups=8),
    "depthwise_cl": ConvCase(2, 20, 20, (7, 6), 4, 3, padding=1, groups=20, channels_last=True),
    "depthwise_strided_dilated": ConvCase(3, 6, 6, (8, 9), 2, 3, stride=2, padding=2, dilation=2, groups=6, bias=False),
}

DTYPE_CASES = [(name, torch.float32) for name in CONV_CASES] + [
    (name, torch.float16) for name in ("pointwise_cl", "dense3x3", "depthwise", "depthwise_cl")
]


def _leaves(tensors, dtype):
    return [None if t is None else t.detach().to(dtype).requires_grad_() for t in tensors]


def _conv_inputs(case: ConvCase):
    kh, kw = (case.kernel, case.kernel) if isinstance(case.kernel, int) else case.kernel
    x = torch.randn(case.batch, case.c_in, *case.size, dtype=torch.float64)
    select = torch.softmax(torch.randn(case.batch, case.n, dtype=torch.float64) * 2, dim=1)
    box = torch.randn(case.n, case.c_out, case.c_in // case.groups, kh, kw, dtype=torch.float64)
    box = box / (case.c_in // case.groups * kh * kw) ** 0.5
    bias = torch.randn(case.n, case.c_out, dtype=torch.float64) if case.bias else None
    return x, select, box, bias


def _grads(out, inputs, upstream):
    wanted = [t for t in inputs if t is not None]
    grads = iter(torch.autograd.grad(out, wanted, upstream.to(out.dtype)))
    return [None if t is None else next(grads) for t in inputs]


def _check_all(fast, fast_grads, ref_d, ref_d_grads, ref64, ref64_grads, dtype):
    assert fast.dtype == dtype
    assert_close_to_reference(fast, ref_d, ref64, atol=default_atol(ref64, dtype))
    names = ("x", "select", "weight_box", "bias_box")
    for name, g, gd, g64 in zip(names, fast_grads, ref_d_grads, ref64_grads):
        if g64 is None:
            continue
        assert g is not None and g.shape == g64.shape, name
        try:
            assert_close_to_reference(g, gd, g64, atol=default_atol(g64, dtype))
        except AssertionError as err:
            raise AssertionError(f"gradient of {name}: {err}") from None


@pytest.mark.parametrize("name,dtype", DTYPE_CASES, ids=[f"{n}-{str(d)[6:]}" for n, d in DTYPE_CASES])
def test_conv_matches_reference(name: str, dtype: torch.dtype) -> None:
    case = CONV_CASES[name]
    base = _conv_inputs(case)
    geometry = dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups)
    fmt = CL if case.channels_last else torch.contiguous_format

    x, select, box, bias = _leaves(base, dtype)
    x_fast = x.detach().contiguous(memory_format=fmt).requires_grad_()
    fast = mixed_conv2d(x_fast, select, box, bias, backend="triton", **geometry)
    assert fast.is_contiguous(memory_format=fmt)
    upstream = torch.randn(fast.shape, dtype=torch.float64)
    fast_grads = _grads(fast, [x_fast, select, box, bias], upstream)
    assert fast_grads[0].shape == x.shape

    spec = conv_spec(x, select, box, bias, **geometry)
    ref_d = reference.conv2d(x, select, box, bias, spec)
    ref_d_grads = _grads(ref_d, [x, select, box, bias], upstream)
    leaves64 = _leaves(base, torch.float64)
    ref64 = reference.conv2d(*leaves64, spec)
    ref64_grads = _grads(ref64, leaves64, upstream)
    _check_all(fast, fast_grads, ref_d, ref_d_grads, ref64, ref64_grads, dtype)


LINEAR_CASES = {
    "tokens": ((2, 5, 12), 16, 3, True),
    "vector": ((3, 12), 8, 4, True),
    "image_tokens_multi_tile": ((2, 3, 4, 40), 36, 2, False),
}
LINEAR_DTYPES = [(n, torch.float32) for n in LINEAR_CASES] + [("tokens", torch.float16)]


@pytest.mark.parametrize("name,dtype", LINEAR_DTYPES, ids=[f"{n}-{str(d)[6:]}" for n, d in LINEAR_DTYPES])
def test_linear_matches_reference(name: str, dtype: torch.dtype) -> None:
    shape, out_features, n, has_bias = LINEAR_CASES[name]
    base = [
        torch.randn(shape, dtype=torch.float64),
        torch.softmax(torch.randn(shape[0], n, dtype=torch.float64) * 2, dim=1),
        torch.randn(n, out_features, shape[-1], dtype=torch.float64) / shape[-1] ** 0.5,
        torch.randn(n, out_features, dtype=torch.float64) if has_bias else None,
    ]
    leaves = _leaves(base, dtype)
    fast = mixed_linear(*leaves, backend="triton")
    upstream = torch.randn(fast.shape, dtype=torch.float64)
    fast_grads = _grads(fast, leaves, upstream)
    leaves_d = _leaves(base, dtype)
    ref_d = reference.linear(*leaves_d)
    ref_d_grads = _grads(ref_d, leaves_d, upstream)
    leaves64 = _leaves(base, torch.float64)
    ref64 = reference.linear(*leaves64)
    ref64_grads = _grads(ref64, leaves64, upstream)
    _check_all(fast, fast_grads, ref_d, ref_d_grads, ref64, ref64_grads, dtype)


def test_partial_requires_grad_and_expanded_upstream() -> None:
    """Only some inputs need gradients, and the upstream gradient is a stride-0 expansion."""
    case = CONV_CASES["dense3x3"]
    x, select, box, bias = _conv_inputs(case)
    x32 = x.float().requires_grad_()
    y = mixed_conv2d(x32, select.float(), box.float(), bias.float(), padding=1, backend="triton")
    (grad_x,) = torch.autograd.grad(y.sum(), [x32])  # y.sum() sends an expanded ones tensor back

    x64 = x.clone().requires_grad_()
    ref = reference.conv2d(x64, select, box, bias, conv_spec(x64, select, box, bias, 1, 1, 1, 1))
    (ref_grad_x,) = torch.autograd.grad(ref.sum(), [x64])
    torch.testing.assert_close(grad_x.double(), ref_grad_x, rtol=1e-4, atol=1e-4)

    select32 = select.float().requires_grad_()
    y = mixed_conv2d(x.float(), select32, box.float(), None, padding=1, backend="triton")
    (grad_select,) = torch.autograd.grad((y * y).sum(), [select32])
    select64 = select.clone().requires_grad_()
    ref = reference.conv2d(x, select64, box, None, conv_spec(x, select64, box, None, 1, 1, 1, 1))
    (ref_grad_select,) = torch.autograd.grad((ref * ref).sum(), [select64])
    torch.testing.assert_close(grad_select.double(), ref_grad_select, rtol=1e-4, atol=1e-3)
