"""Property-based tests of the mixed ops against the per-sample reference and against plain torch.

Every fast path (``backend="torch"`` and whatever ``backend="auto"`` picks) is compared with the
per-sample reference loop on random geometries, dtypes and memory layouts:

* float64: equal to the reference to ~1e-10;
* float32: ``|fast - ref64| <= 2 * |ref32 - ref64| + atol`` (see ``_tolerance.py``).

Independent of the reference, the ops are also checked against the paper's selecting view (eq. 7:
mixing then convolving equals mixing the outputs of N plain convolutions) and against static torch
layers (one-hot select, N = 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from _tolerance import assert_close_to_reference, default_atol
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hairlayers.errors import HairError
from hairlayers.functional import mixed_conv2d, mixed_conv_transpose2d, mixed_linear
from hairlayers.functional.batch_inner import is_batch_inner, to_batch_inner

# Tiny tensors: threads only add OpenMP barrier waits (10x slower on a loaded CI machine).

FAST_BACKENDS = ("torch", "auto")
CL = torch.channels_last

# ----------------------------------------------------------------------------------------------
# Layouts: the same values presented with different strides.
# ----------------------------------------------------------------------------------------------

LAYOUTS = ("nchw", "channels_last", "batch_inner", "slice", "transpose", "channels_last_slice", "batch_step")
# Fast paths branch on the layout, so conv tests run each layout group separately (hypothesis
# favours the first choices of a sampled_from; a group per test run keeps every path exercised).
LAYOUT_GROUPS = {
    "nchw": ("nchw",), "channels_last": ("channels_last",), "batch_inner": ("batch_inner",), "views": LAYOUTS[3:],
}


def arrange(t: torch.Tensor, layout: str) -> torch.Tensor:
    """``t``'s values in the memory layout ``layout`` (a view into a bigger buffer where needed)."""
    b, c, h, w = t.shape
    if layout == "nchw":
        return t.contiguous()
    if layout == "channels_last":
        return t.contiguous(memory_format=CL)
    if layout == "batch_inner":  # (H, W, B, C) memory: hairlayers.functional.batch_inner
        return to_batch_inner(t)
    if layout == "slice":  # rows and columns of a bigger NCHW image
        big = torch.zeros(b, c, h + 2, w + 3, dtype=t.dtype)
        big[:, :, 1 : h + 1, 2 : w + 2] = t
        return big[:, :, 1 : h + 1, 2 : w + 2]
    if layout == "transpose":  # NCWH storage seen through a transpose
        return t.transpose(2, 3).contiguous().transpose(2, 3)
    if layout == "channels_last_slice":  # channels of a bigger NHWC image
        big = torch.zeros(b, c + 2, h, w, dtype=t.dtype).contiguous(memory_format=CL)
        big[:, 1 : c + 1] = t
        return big[:, 1 : c + 1]
    if layout == "batch_step":  # every other sample of a bigger batch
        big = torch.zeros(2 * b, c, h, w, dtype=t.dtype)
        big[::2] = t
        return big[::2]
    raise AssertionError(f"unknown layout {layout}")


def is_channels_last(x: torch.Tensor) -> bool:
    """The library's contract: NHWC-dense and not also NCHW-dense (ambiguous shapes are NCHW)."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=CL)


def assert_keeps_format(out: torch.Tensor, x: torch.Tensor) -> None:
    if is_batch_inner(x):
        assert is_batch_inner(out), f"batch-inner in, strides {out.stride()} out"
    elif is_channels_last(x):
        assert out.is_contiguous(memory_format=CL), f"channels_last in, strides {out.stride()} out"
    elif x.is_contiguous():
        assert out.is_contiguous(), f"NCHW in, strides {out.stride()} out"
    else:  # a strided view: any dense output is fine
        assert out.is_contiguous() or out.is_contiguous(memory_format=CL), out.stride()


# ----------------------------------------------------------------------------------------------
# Random cases
# ----------------------------------------------------------------------------------------------


@dataclass
class Case:
    """The tensors and keyword arguments of one call; ``repr`` shows only the parameters."""

    params: dict
    x: torch.Tensor = field(repr=False)
    select: torch.Tensor = field(repr=False)
    weight_box: torch.Tensor = field(repr=False)
    bias_box: torch.Tensor | None = field(repr=False)
    kwargs: dict = field(default_factory=dict)

    def args(self, dtype: torch.dtype | None = None) -> tuple:
        tensors = (self.x, self.select, self.weight_box, self.bias_box)
        if dtype is None:
            return tensors
        return tuple(None if t is None else t.to(dtype) for t in tensors)


def _select(gen: torch.Generator, batch: int, n: int, kind: str, dtype: torch.dtype, transposed: bool):
    if kind == "onehot":
        picks = torch.randint(0, n, (batch,), generator=gen)
        sel = F.one_hot(picks, n).to(dtype)
    elif kind == "softmax":
        sel = torch.softmax(torch.randn(batch, n, generator=gen, dtype=dtype), dim=1)
    else:  # any real values: the ops are linear in select, not only on the simplex
        sel = torch.randn(batch, n, generator=gen, dtype=dtype)
    return sel.t().contiguous().t() if transposed else sel


def _box(gen: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype, transposed: bool):
    if transposed and len(shape) == 5:  # kernels stored (kW, kH): non-contiguous weight_box
        n, a, b, kh, kw = shape
        return torch.randn(n, a, b, kw, kh, generator=gen, dtype=dtype).transpose(3, 4)
    return torch.randn(*shape, generator=gen, dtype=dtype)


def _as_pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


@st.composite
def conv_cases(draw, family: str, layouts: tuple[str, ...] = LAYOUTS) -> Case:
    """A random ``mixed_conv2d`` call. ``family`` steers towards one dispatch branch."""
    if family == "pointwise":
        kernel = (1, 1)
        stride = draw(st.sampled_from([1, 1, 1, 2, (1, 2), (2, 1)]))
        padding = draw(st.sampled_from([0, 0, 0, "valid", "same", 1]))
        dilation = 1
        groups_mode = draw(st.sampled_from(["dense", "dense", "dense", "grouped"]))
    else:
        kernel = _as_pair(draw(st.sampled_from([1, 2, 3, 5, (1, 3), (3, 1), (2, 3)])))
        stride = draw(st.sampled_from([1, 2, (1, 2), (2, 1)]))
        padding = draw(st.sampled_from([0, 1, 2, (0, 1), (2, 1), "same", "valid"]))
        dilation = draw(st.sampled_from([1, 2, (2, 1)]))
        if family == "depthwise":
            groups_mode = draw(st.sampled_from(["depthwise1", "depthwise2"]))
        else:
            groups_mode = draw(st.sampled_from(["dense", "dense", "grouped", "depthwise1", "depthwise2"]))
    if padding == "same":
        stride = 1
    if groups_mode == "dense":
        groups, c_in, c_out = 1, draw(st.integers(1, 6)), draw(st.integers(1, 6))
    elif groups_mode == "grouped":
        groups = draw(st.sampled_from([2, 3]))
        c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    else:  # depthwise with channel multiplier 1 or 2
        c_in = draw(st.integers(2, 6))
        groups, c_out = c_in, c_in * int(groups_mode[-1])

    (kh, kw), (dh, dw) = kernel, _as_pair(dilation)
    eff_h, eff_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if padding == "same":
        pad_h, pad_w = eff_h - 1, eff_w - 1
    elif padding == "valid":
        pad_h = pad_w = 0
    else:
        pad_h, pad_w = (2 * p for p in _as_pair(padding))
    min_h, min_w = max(1, eff_h - pad_h), max(1, eff_w - pad_w)
    height = draw(st.integers(min_h, min_h + 6))
    width = draw(st.integers(min_w, min_w + 6))

    # Batches of 2..4 catch per-sample mix-ups; a batch of one has its own fast path.
    batch, n = draw(st.sampled_from([2, 3, 4, 2, 3, 4, 1])), draw(st.integers(1, 9))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    layout = draw(st.sampled_from(layouts))
    bias = draw(st.booleans())
    select_kind = draw(st.sampled_from(["softmax", "randn", "onehot"]))
    strided_params = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))

    gen = torch.Generator().manual_seed(seed)
    x = arrange(torch.randn(batch, c_in, height, width, generator=gen, dtype=dtype), layout)
    box = _box(gen, (n, c_out, c_in // groups, kh, kw), dtype, strided_params)
    bias_box = torch.randn(n, c_out, generator=gen, dtype=dtype) if bias else None
    select = _select(gen, batch, n, select_kind, dtype, strided_params)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    params = dict(
        family=family, shape=(batch, c_in, height, width), c_out=c_out, n=n, kernel=kernel,
        dtype=dtype, layout=layout, bias=bias, select=select_kind, strided_params=strided_params,
        seed=seed, **kwargs,
    )
    return Case(params, x, select, box, bias_box, kwargs)


@st.composite
def conv_transpose_cases(draw) -> Case:
    """A random ``mixed_conv_transpose2d`` call with a positive output size."""
    kernel = _as_pair(draw(st.sampled_from([1, 2, 3, (1, 3), (2, 3)])))
    stride = _as_pair(draw(st.sampled_from([1, 2, (1, 2), (2, 1)])))
    dilation = _as_pair(draw(st.sampled_from([1, 2, (1, 2)])))
    padding = _as_pair(draw(st.sampled_from([0, 1, (0, 1)])))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    groups_mode = draw(st.sampled_from(["dense", "dense", "grouped", "depthwise1", "depthwise2"]))
    if groups_mode == "dense":
        groups, c_in, c_out = 1, draw(st.integers(1, 5)), draw(st.integers(1, 5))
    elif groups_mode == "grouped":
        groups = 2
        c_in, c_out = 2 * draw(st.integers(1, 2)), 2 * draw(st.integers(1, 3))
    else:
        c_in = draw(st.integers(2, 5))
        groups, c_out = c_in, c_in * int(groups_mode[-1])
    height, width = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    out_size = [
        (size - 1) * s - 2 * p + d * (k - 1) + op + 1
        for size, s, p, d, k, op in zip(
            (height, width), stride, padding, dilation, kernel, output_padding
        )
    ]
    assume(min(out_size) >= 1)

    batch, n = draw(st.integers(2, 4)), draw(st.integers(1, 9))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    layout = draw(st.sampled_from(LAYOUTS))
    bias = draw(st.booleans())
    select_kind = draw(st.sampled_from(["softmax", "randn", "onehot"]))
    strided_params = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))

    gen = torch.Generator().manual_seed(seed)
    x = arrange(torch.randn(batch, c_in, height, width, generator=gen, dtype=dtype), layout)
    box = _box(gen, (n, c_in, c_out // groups, *kernel), dtype, strided_params)
    bias_box = torch.randn(n, c_out, generator=gen, dtype=dtype) if bias else None
    select = _select(gen, batch, n, select_kind, dtype, strided_params)
    kwargs = dict(
        stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation
    )
    params = dict(
        shape=(batch, c_in, height, width), c_out=c_out, n=n, kernel=kernel, dtype=dtype,
        layout=layout, bias=bias, select=select_kind, strided_params=strided_params, seed=seed,
        **kwargs,
    )
    return Case(params, x, select, box, bias_box, kwargs)


@st.composite
def linear_cases(draw) -> Case:
    """A random ``mixed_linear`` call on ``(B, in)``, ``(B, T, in)`` or ``(B, T1, T2, in)``."""
    batch, n = draw(st.integers(2, 4)), draw(st.integers(1, 9))
    tokens = draw(st.sampled_from([(), (1,), (5,), (3, 4), (2, 1)]))
    in_f, out_f = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    layout = draw(st.sampled_from(["contiguous", "sliced", "transposed"]))
    bias = draw(st.booleans())
    select_kind = draw(st.sampled_from(["softmax", "randn", "onehot"]))
    strided_params = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *tokens, in_f, generator=gen, dtype=dtype)
    if layout == "sliced":  # features of a wider tensor: the last dim is strided
        x = torch.cat([x, torch.zeros_like(x)], dim=-1)[..., :in_f]
    elif layout == "transposed" and len(tokens) == 2:
        x = x.transpose(1, 2).contiguous().transpose(1, 2)
    elif layout == "transposed":  # (in, B) storage
        x = x.movedim(0, -1).contiguous().movedim(-1, 0)
    if strided_params:
        box = torch.randn(n, in_f, out_f, generator=gen, dtype=dtype).transpose(1, 2)
    else:
        box = torch.randn(n, out_f, in_f, generator=gen, dtype=dtype)
    bias_box = torch.randn(n, out_f, generator=gen, dtype=dtype) if bias else None
    select = _select(gen, batch, n, select_kind, dtype, strided_params)
    params = dict(
        shape=tuple(x.shape), out_features=out_f, n=n, dtype=dtype, layout=layout, bias=bias,
        select=select_kind, strided_params=strided_params, seed=seed,
    )
    return Case(params, x, select, box, bias_box)


# ----------------------------------------------------------------------------------------------
# Comparison with the reference
# ----------------------------------------------------------------------------------------------


def check_against_reference(op: Callable, case: Case, keeps_format: bool = True) -> None:
    """Every fast backend matches the reference (float64: ~1e-10; float32: the tolerance rule)."""
    dtype = case.x.dtype
    ref = op(*case.args(), **case.kwargs, backend="reference")
    ref64 = op(*case.args(torch.float64), **case.kwargs, backend="reference")
    for backend in FAST_BACKENDS:
        out = op(*case.args(), **case.kwargs, backend=backend)
        assert out.dtype == dtype and out.shape == ref64.shape, (backend, out.dtype, out.shape)
        if dtype == torch.float64:
            torch.testing.assert_close(
                out, ref64, rtol=1e-10, atol=1e-10, msg=lambda m, backend=backend: f"{backend}: {m}"
            )
        else:
            assert_close_to_reference(out, ref, ref64, atol=default_atol(ref64, dtype))
        if keeps_format:
            assert_keeps_format(out, case.x)


@pytest.mark.parametrize("layouts", list(LAYOUT_GROUPS))
@pytest.mark.parametrize("family", ["general", "pointwise", "depthwise"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_conv2d_matches_reference(family: str, layouts: str, data: st.DataObject) -> None:
    case = data.draw(conv_cases(family, LAYOUT_GROUPS[layouts]), label="case")
    check_against_reference(mixed_conv2d, case)


@settings(max_examples=100, deadline=None)
@given(case=conv_transpose_cases())
def test_conv_transpose2d_matches_reference(case: Case) -> None:
    check_against_reference(mixed_conv_transpose2d, case)


@settings(max_examples=100, deadline=None)
@given(case=linear_cases())
def test_linear_matches_reference(case: Case) -> None:
    check_against_reference(mixed_linear, case, keeps_format=False)


# Fixed geometries, one per dispatch branch a fast backend has or is likely to grow, so every
# branch is exercised on every run whatever hypothesis draws.
BRANCHES = {
    "pointwise": dict(kernel=1),
    "pointwise grouped": dict(kernel=1, groups=2),
    "strided 1x1": dict(kernel=1, stride=2),
    "strided 1x1 asymmetric": dict(kernel=1, stride=(1, 2)),
    "padded 1x1": dict(kernel=1, padding=1),
    "dense 3x3": dict(kernel=3, padding=1),
    "dense 3x3 strided": dict(kernel=3, padding=1, stride=2),
    "dense 2x2 same": dict(kernel=2, padding="same"),
    "dense 5x5 dilated": dict(kernel=5, padding="same", dilation=2),
    "non-square 1x3": dict(kernel=(1, 3), padding=(0, 1)),
    "grouped 3x3": dict(kernel=3, padding=1, groups=2),
    "depthwise 3x3": dict(kernel=3, padding=1, groups=4, multiplier=1),
    "depthwise 3x3 x2": dict(kernel=3, padding=1, groups=4, multiplier=2),
    "depthwise 5x5 strided": dict(kernel=5, padding=2, stride=2, groups=4, multiplier=1),
    "depthwise 3x3 dilated same": dict(kernel=3, padding="same", dilation=2, groups=4, multiplier=1),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("layout", ["nchw", "channels_last", "batch_inner", "slice"])
@pytest.mark.parametrize("branch", list(BRANCHES))
def test_conv2d_branches_match_reference(branch: str, layout: str, bias: bool, dtype) -> None:
    geometry = dict(BRANCHES[branch])
    kernel = _as_pair(geometry.pop("kernel"))
    multiplier = geometry.pop("multiplier", None)
    c_in = 4
    c_out = c_in * multiplier if multiplier else 6
    gen = torch.Generator().manual_seed(len(branch))
    x = arrange(torch.randn(3, c_in, 9, 8, generator=gen, dtype=dtype), layout)
    box = torch.randn(5, c_out, c_in // geometry.get("groups", 1), *kernel, generator=gen, dtype=dtype)
    bias_box = torch.randn(5, c_out, generator=gen, dtype=dtype) if bias else None
    select = torch.softmax(torch.randn(3, 5, generator=gen, dtype=dtype), dim=1)
    check_against_reference(mixed_conv2d, Case({"branch": branch}, x, select, box, bias_box, geometry))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kernel", [1, 3])
def test_conv2d_output_memory_format(layout: str, kernel: int) -> None:
    """NCHW in gives NCHW-contiguous out and channels_last in gives channels_last out, per path."""
    x = arrange(torch.randn(3, 4, 6, 5), layout)
    box, select = torch.randn(2, 5, 4, kernel, kernel), torch.randn(3, 2)
    for backend in ("reference", *FAST_BACKENDS):
        out = mixed_conv2d(x, select, box, padding=kernel // 2, backend=backend)
        assert_keeps_format(out, x)
        up = mixed_conv_transpose2d(x, select, box.transpose(1, 2), stride=2, backend=backend)
        assert_keeps_format(up, x)
    if layout == "nchw":
        assert out.is_contiguous() and not out.is_contiguous(memory_format=CL)
    if layout == "channels_last":
        assert out.is_contiguous(memory_format=CL) and not out.is_contiguous()


# ----------------------------------------------------------------------------------------------
# Gradients
# ----------------------------------------------------------------------------------------------


def _grads(op: Callable, case: Case, backend: str, upstream: torch.Tensor | None):
    inputs = [t.detach().requires_grad_() for t in case.args() if t is not None]
    args = list(inputs) + ([None] if case.bias_box is None else [])
    out = op(*args, **case.kwargs, backend=backend)
    if upstream is None:
        upstream = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(1))
    return out, torch.autograd.grad(out, inputs, upstream), upstream


def check_gradients(op: Callable, case: Case) -> None:
    """Gradients w.r.t. x, select, weight_box and bias_box of the torch backend equal the reference's."""
    case = Case(case.params, *case.args(torch.float64), case.kwargs)
    out_ref, grads_ref, upstream = _grads(op, case, "reference", None)
    out, grads, _ = _grads(op, case, "torch", upstream)
    torch.testing.assert_close(out, out_ref, rtol=1e-10, atol=1e-10)
    names = ["x", "select", "weight_box", "bias_box"]
    for name, g, g_ref in zip(names, grads, grads_ref):
        assert g.shape == g_ref.shape, name
        torch.testing.assert_close(
            g, g_ref, rtol=1e-10, atol=1e-10, msg=lambda m, name=name: f"d/d{name}: {m}"
        )


@pytest.mark.parametrize("layouts", list(LAYOUT_GROUPS))
@pytest.mark.parametrize("family", ["general", "pointwise", "depthwise"])
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_conv2d_gradients_match_reference(family: str, layouts: str, data: st.DataObject) -> None:
    check_gradients(mixed_conv2d, data.draw(conv_cases(family, LAYOUT_GROUPS[layouts]), label="case"))


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_conv2d_float32_gradients_follow_tolerance_rule(data: st.DataObject) -> None:
    """float32 gradients of every fast backend against float32 and float64 reference gradients."""
    case = data.draw(conv_cases("general"), label="case")
    case32 = Case(case.params, *case.args(torch.float32), case.kwargs)
    case64 = Case(case.params, *case.args(torch.float64), case.kwargs)
    _, grads_ref, upstream = _grads(mixed_conv2d, case32, "reference", None)
    _, grads_64, _ = _grads(mixed_conv2d, case64, "reference", upstream.double())
    for backend in FAST_BACKENDS:
        _, grads, _ = _grads(mixed_conv2d, case32, backend, upstream)
        for g, g_ref, g_64 in zip(grads, grads_ref, grads_64):
            assert_close_to_reference(g, g_ref, g_64, atol=default_atol(g_64, torch.float32))


@settings(max_examples=30, deadline=None)
@given(case=conv_transpose_cases())
def test_conv_transpose2d_gradients_match_reference(case: Case) -> None:
    check_gradients(mixed_conv_transpose2d, case)


@settings(max_examples=30, deadline=None)
@given(case=linear_cases())
def test_linear_gradients_match_reference(case: Case) -> None:
    check_gradients(mixed_linear, case)


def _tiny(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize(
    "kernel, kwargs, channels_last",
    [
        (3, dict(padding=1), False),
        (3, dict(padding="same", dilation=2, groups=2), True),
        (2, dict(stride=2, padding=(0, 1)), False),
        (1, dict(), False),
        (1, dict(), True),
    ],
)
def test_conv2d_gradcheck(backend: str, kernel: int, kwargs: dict, channels_last: bool) -> None:
    groups = kwargs.get("groups", 1)
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    x = (x.contiguous(memory_format=CL) if channels_last else x).requires_grad_()
    inputs = (x, _tiny(2, 3), _tiny(3, 2, 2 // groups, kernel, kernel), _tiny(3, 2))
    fn = lambda *t: mixed_conv2d(*t, **kwargs, backend=backend)
    assert torch.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize(
    "kwargs", [dict(stride=2), dict(stride=2, padding=1, output_padding=1, groups=2), dict(dilation=2)]
)
def test_conv_transpose2d_gradcheck(backend: str, kwargs: dict) -> None:
    groups = kwargs.get("groups", 1)
    inputs = (_tiny(2, 2, 3, 3), _tiny(2, 3), _tiny(3, 2, 4 // groups, 2, 2), _tiny(3, 4))
    fn = lambda *t: mixed_conv_transpose2d(*t, **kwargs, backend=backend)
    assert torch.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("x_shape", [(2, 3), (2, 3, 3), (2, 2, 2, 3)])
def test_linear_gradcheck(backend: str, x_shape: tuple[int, ...]) -> None:
    inputs = (_tiny(*x_shape), _tiny(2, 3), _tiny(3, 4, 3), _tiny(3, 4))
    assert torch.autograd.gradcheck(lambda *t: mixed_linear(*t, backend=backend), inputs)


# ----------------------------------------------------------------------------------------------
# The selecting view (eq. 7) and static layers: checks independent of the reference loop
# ----------------------------------------------------------------------------------------------

ALL_BACKENDS = ("reference", *FAST_BACKENDS)


def _mix_outputs(select: torch.Tensor, outputs: list[torch.Tensor]) -> torch.Tensor:
    """``Σ_i select[:, i] · outputs[i]`` over a list of per-kernel outputs ``(B, ...)``."""
    stacked = torch.stack(outputs, dim=1)  # (B, N, ...)
    return (select.reshape(*select.shape, *[1] * (stacked.dim() - 2)) * stacked).sum(dim=1)


CONV_GEOMETRIES = [
    dict(kernel=3, padding=1),
    dict(kernel=3, padding="same", dilation=2),
    dict(kernel=2, padding="same"),  # even kernel: torch pads the extra row/column bottom/right
    dict(kernel=(1, 3), padding="valid", stride=(2, 1)),
    dict(kernel=5, padding=(2, 1), stride=2, groups=2),
    dict(kernel=3, padding=1, groups=4, channel_multiplier=2),  # depthwise
    dict(kernel=1),
    dict(kernel=1, stride=2),
]


def _conv_setup(geometry: dict, n: int, batch: int = 3, channels_last: bool = False):
    geometry = dict(geometry)
    kernel = _as_pair(geometry.pop("kernel"))
    multiplier = geometry.pop("channel_multiplier", None)
    groups = geometry.get("groups", 1)
    c_in = 4
    c_out = c_in * multiplier if multiplier else 6
    x = torch.randn(batch, c_in, 7, 6, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=CL)
    box = torch.randn(n, c_out, c_in // groups, *kernel, dtype=torch.float64)
    bias = torch.randn(n, c_out, dtype=torch.float64)
    return x, box, bias, geometry


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("geometry", CONV_GEOMETRIES)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_conv2d_selecting_view(geometry: dict, backend: str) -> None:
    """mixed_conv2d(x, s, W) == Σ_i s[:, i] · conv2d(x, W_i) (the paper's eq. 7), with bias."""
    x, box, bias, kwargs = _conv_setup(geometry, n=4, channels_last=backend == "auto")
    select = torch.softmax(torch.randn(3, 4, dtype=torch.float64), dim=1)
    expected = _mix_outputs(select, [F.conv2d(x, box[i], bias[i], **kwargs) for i in range(4)])
    out = mixed_conv2d(x, select, box, bias, **kwargs, backend=backend)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs",
    [dict(stride=2), dict(stride=(2, 1), padding=1, output_padding=(1, 0)), dict(groups=2, dilation=2)],
)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_conv_transpose2d_selecting_view(kwargs: dict, backend: str) -> None:
    groups = kwargs.get("groups", 1)
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    box, bias = torch.randn(4, 4, 6 // groups, 3, 2, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    select = torch.randn(3, 4, dtype=torch.float64)
    expected = _mix_outputs(
        select, [F.conv_transpose2d(x, box[i], bias[i], **kwargs) for i in range(4)]
    )
    out = mixed_conv_transpose2d(x, select, box, bias, **kwargs, backend=backend)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("x_shape", [(3, 5), (3, 7, 5), (3, 2, 4, 5)])
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_linear_selecting_view(x_shape: tuple[int, ...], backend: str) -> None:
    x = torch.randn(*x_shape, dtype=torch.float64)
    box, bias = torch.randn(4, 6, 5, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    select = torch.randn(3, 4, dtype=torch.float64)
    expected = _mix_outputs(select, [F.linear(x, box[i], bias[i]) for i in range(4)])
    torch.testing.assert_close(
        mixed_linear(x, select, box, bias, backend=backend), expected, rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_conv2d_equals_static_layer(geometry: dict, backend: str) -> None:
    """One-hot select: each sample is convolved by exactly its expert's nn.Conv2d; N = 1: the batch."""
    x, box, bias, kwargs = _conv_setup(geometry, n=3, batch=4)
    picks = torch.tensor([2, 0, 2, 1])
    out = mixed_conv2d(x, F.one_hot(picks, 3).double(), box, bias, **kwargs, backend=backend)
    for b, i in enumerate(picks.tolist()):
        conv = torch.nn.Conv2d(box.shape[2] * kwargs.get("groups", 1), box.shape[1], box.shape[3:],
                               dtype=torch.float64, **kwargs)
        with torch.no_grad():
            conv.weight.copy_(box[i])
            conv.bias.copy_(bias[i])
            torch.testing.assert_close(out[b : b + 1], conv(x[b : b + 1]), rtol=1e-10, atol=1e-10)

    single = mixed_conv2d(x, torch.ones(4, 1, dtype=torch.float64), box[:1], bias[:1], **kwargs,
                          backend=backend)
    torch.testing.assert_close(single, F.conv2d(x, box[0], bias[0], **kwargs), rtol=1e-10, atol=1e-10)
    no_bias = mixed_conv2d(x, torch.ones(4, 1, dtype=torch.float64), box[:1], **kwargs, backend=backend)
    torch.testing.assert_close(no_bias, F.conv2d(x, box[0], **kwargs), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_batch_of_one_equals_static_layer(backend: str) -> None:
    x = torch.randn(1, 3, 5, 5, dtype=torch.float64)
    box, bias = torch.randn(2, 4, 3, 3, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    select = torch.tensor([[0.25, 0.75]], dtype=torch.float64)
    expected = F.conv2d(x, 0.25 * box[0] + 0.75 * box[1], 0.25 * bias[0] + 0.75 * bias[1], padding=1)
    torch.testing.assert_close(
        mixed_conv2d(x, select, box, bias, padding=1, backend=backend), expected, rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("layout", ["channels_last", "batch_inner", "nchw"])
@pytest.mark.parametrize("batch", [1, 2])
def test_no_op_dilation_that_crashes_torch_is_computed(batch: int, layout: str) -> None:
    """torch 2.13's channels_last depthwise conv with a bias segfaults on this geometry (a width
    dilation over a kernel of width 1, on a width-1 input; found by fuzzing): the torch backend
    hands F.conv2d the equivalent dilation 1 there, and the result is the reference's."""
    from hairlayers.functional.geometry import effective_dilation

    assert effective_dilation((3, 1), (2, 2)) == (2, 1) and effective_dilation((1, 3), (2, 2)) == (1, 2)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 2, 8, 1, generator=gen)
    x = {"channels_last": x.contiguous(memory_format=torch.channels_last), "nchw": x,
         "batch_inner": to_batch_inner(x)}[layout]
    box, bias = torch.randn(3, 4, 1, 3, 1, generator=gen), torch.randn(3, 4, generator=gen)
    select = torch.softmax(torch.randn(batch, 3, generator=gen), dim=1)
    kwargs = dict(stride=(1, 2), padding=(0, 1), dilation=(2, 2), groups=2)
    out = mixed_conv2d(x, select, box, bias, **kwargs, backend="torch")
    expected = mixed_conv2d(*(t.double() for t in (x, select, box, bias)), **kwargs, backend="reference")
    assert out.shape == (batch, 4, 4, 2)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs", [dict(stride=2), dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)]
)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_conv_transpose2d_equals_static_layer(kwargs: dict, backend: str) -> None:
    groups = kwargs.get("groups", 1)
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64)
    box, bias = torch.randn(3, 4, 6 // groups, 3, 3, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    picks = torch.tensor([1, 2, 1])
    out = mixed_conv_transpose2d(x, F.one_hot(picks, 3).double(), box, bias, **kwargs, backend=backend)
    for b, i in enumerate(picks.tolist()):
        layer = torch.nn.ConvTranspose2d(4, 6, 3, dtype=torch.float64, **kwargs)
        with torch.no_grad():
            layer.weight.copy_(box[i])
            layer.bias.copy_(bias[i])
            torch.testing.assert_close(out[b : b + 1], layer(x[b : b + 1]), rtol=1e-10, atol=1e-10)
    single = mixed_conv_transpose2d(x, torch.ones(3, 1, dtype=torch.float64), box[:1], bias[:1],
                                    **kwargs, backend=backend)
    torch.testing.assert_close(single, F.conv_transpose2d(x, box[0], bias[0], **kwargs))


@pytest.mark.parametrize("x_shape", [(3, 5), (3, 7, 5), (3, 2, 4, 5)])
@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_linear_equals_static_layer(x_shape: tuple[int, ...], backend: str) -> None:
    x = torch.randn(*x_shape, dtype=torch.float64)
    box, bias = torch.randn(3, 6, 5, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    picks = torch.tensor([2, 2, 0])
    out = mixed_linear(x, F.one_hot(picks, 3).double(), box, bias, backend=backend)
    for b, i in enumerate(picks.tolist()):
        layer = torch.nn.Linear(5, 6, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(box[i])
            layer.bias.copy_(bias[i])
            torch.testing.assert_close(out[b], layer(x[b]), rtol=1e-10, atol=1e-10)
    single = mixed_linear(x, torch.ones(3, 1, dtype=torch.float64), box[:1], None, backend=backend)
    torch.testing.assert_close(single, F.linear(x, box[0]), rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------------------------
# Errors: HairError (a ValueError) or TypeError, naming what was expected and what came
# ----------------------------------------------------------------------------------------------


def _conv_call(**overrides):
    args = dict(
        x=torch.randn(2, 4, 8, 8), select=torch.randn(2, 3), weight_box=torch.randn(3, 6, 4, 3, 3),
        bias_box=None,
    )
    args.update(overrides)
    return lambda: mixed_conv2d(**args)


def _transpose_call(**overrides):
    args = dict(
        x=torch.randn(2, 4, 5, 5), select=torch.randn(2, 3), weight_box=torch.randn(3, 4, 2, 3, 3),
        bias_box=None,
    )
    args.update(overrides)
    return lambda: mixed_conv_transpose2d(**args)


def _linear_call(**overrides):
    args = dict(x=torch.randn(2, 7, 5), select=torch.randn(2, 3), weight_box=torch.randn(3, 6, 5),
                bias_box=None)
    args.update(overrides)
    return lambda: mixed_linear(**args)


ERROR_CASES = {
    # mixed_conv2d
    "conv wrong channel count": (
        _conv_call(x=torch.randn(2, 3, 8, 8)), HairError, ["3 channels", "expects 4"]),
    "conv select wrong batch": (
        _conv_call(select=torch.randn(3, 3)), HairError, ["(B, N) = (2, 3)", "got (3, 3)"]),
    "conv select wrong N": (
        _conv_call(select=torch.randn(2, 4)), HairError, ["(B, N) = (2, 3)", "got (2, 4)"]),
    "conv select 1-D": (_conv_call(select=torch.randn(3)), HairError, ["(B, N) = (2, 3)", "got (3,)"]),
    "conv select not a tensor": (_conv_call(select=[[1.0, 0.0, 0.0]] * 2), TypeError, ["select", "list"]),
    "conv 3-D input": (
        _conv_call(x=torch.randn(4, 8, 8)), HairError, ["4-D input (B, C_in, H, W)", "got (4, 8, 8)"]),
    "conv 5-D input": (_conv_call(x=torch.randn(2, 4, 8, 8, 1)), HairError, ["4-D", "(2, 4, 8, 8, 1)"]),
    "conv weight_box 4-D": (
        _conv_call(weight_box=torch.randn(6, 4, 3, 3)), HairError, ["5-D", "got (6, 4, 3, 3)"]),
    "conv in_channels % groups": (
        _conv_call(x=torch.randn(2, 3, 8, 8), weight_box=torch.randn(3, 6, 1, 3, 3), groups=2),
        HairError, ["in_channels (3)", "divisible by groups (2)"]),
    "conv out_channels % groups": (
        _conv_call(weight_box=torch.randn(3, 5, 2, 3, 3), groups=2),
        HairError, ["out_channels (5)", "groups (2)"]),
    "conv groups zero": (_conv_call(groups=0), HairError, ["positive int", "got 0"]),
    "conv bias_box wrong shape": (
        _conv_call(bias_box=torch.randn(6)), HairError, ["(N, C_out) = (3, 6)", "got (6,)"]),
    "conv bias_box wrong N": (
        _conv_call(bias_box=torch.randn(2, 6)), HairError, ["(N, C_out) = (3, 6)", "got (2, 6)"]),
    "conv mixed dtypes": (
        _conv_call(select=torch.randn(2, 3, dtype=torch.float64)),
        HairError, ["one dtype", "torch.float32", "torch.float64"]),
    "conv mixed devices": (  # the meta device stands in for a GPU
        _conv_call(select=torch.randn(2, 3, device="meta")), HairError, ["one device", "'cpu'", "'meta'"]),
    "conv integer tensors": (
        _conv_call(x=torch.ones(2, 4, 8, 8, dtype=torch.int64), select=torch.ones(2, 3, dtype=torch.int64),
                   weight_box=torch.ones(3, 6, 4, 3, 3, dtype=torch.int64)),
        TypeError, ["floating-point", "torch.int64"]),
    "conv same with stride 2": (
        _conv_call(padding="same", stride=2), HairError, ["padding='same' needs stride 1", "(2, 2)"]),
    "conv negative padding": (_conv_call(padding=-1), HairError, ["non-negative", "-1"]),
    "conv negative padding pair": (_conv_call(padding=(1, -2)), HairError, ["non-negative", "(1, -2)"]),
    "conv unknown padding string": (
        _conv_call(padding="full"), HairError, ["'same' or 'valid'", "'full'"]),
    "conv padding of three": (_conv_call(padding=(1, 1, 1)), TypeError, ["pair of ints", "(1, 1, 1)"]),
    "conv float stride": (_conv_call(stride=1.5), TypeError, ["stride", "1.5"]),
    "conv bool dilation": (_conv_call(dilation=True), TypeError, ["dilation", "bool"]),
    "conv zero stride": (_conv_call(stride=0), HairError, [">= 1", "(0, 0)"]),
    "conv zero dilation": (_conv_call(dilation=(1, 0)), HairError, [">= 1", "(1, 0)"]),
    "conv input too small": (
        _conv_call(x=torch.randn(2, 4, 2, 8)), HairError, ["too small", "(2, 8)", "kernel (3, 3)"]),
    "conv input too small dilated": (
        _conv_call(x=torch.randn(2, 4, 4, 8), dilation=2), HairError, ["too small", "dilation (2, 2)"]),
    "conv unknown backend": (
        _conv_call(backend="cuda"), HairError, ["unknown backend 'cuda'", "'torch'", "'reference'"]),
    # mixed_conv_transpose2d
    "transpose wrong channel count": (
        _transpose_call(x=torch.randn(2, 3, 5, 5)), HairError, ["3 channels", "expects 4"]),
    "transpose select wrong batch": (
        _transpose_call(select=torch.randn(1, 3)), HairError, ["(B, N) = (2, 3)", "got (1, 3)"]),
    "transpose 3-D input": (_transpose_call(x=torch.randn(4, 5, 5)), HairError, ["4-D", "(4, 5, 5)"]),
    "transpose in_channels % groups": (
        _transpose_call(groups=3), HairError, ["in_channels (4)", "groups (3)"]),
    "transpose bias_box wrong shape": (
        _transpose_call(bias_box=torch.randn(3, 4)), HairError, ["(N, C_out) = (3, 2)", "got (3, 4)"]),
    "transpose output_padding too big": (
        _transpose_call(stride=2, output_padding=2), HairError, ["output_padding", "(2, 2)"]),
    "transpose mixed dtypes": (
        _transpose_call(weight_box=torch.randn(3, 4, 2, 3, 3, dtype=torch.float64)),
        HairError, ["one dtype"]),
    "transpose unknown backend": (
        _transpose_call(backend="nope"), HairError, ["unknown backend 'nope'", "'torch'"]),
    # mixed_linear
    "linear wrong features": (
        _linear_call(x=torch.randn(2, 7, 4)), HairError, ["4 features", "expects 5"]),
    "linear 1-D input": (_linear_call(x=torch.randn(5)), HairError, ["(B, *, in_features)", "(5,)"]),
    "linear weight_box 2-D": (_linear_call(weight_box=torch.randn(6, 5)), HairError, ["3-D", "(6, 5)"]),
    "linear select wrong N": (
        _linear_call(select=torch.randn(2, 2)), HairError, ["(B, N) = (2, 3)", "got (2, 2)"]),
    "linear select 1-D": (_linear_call(select=torch.randn(2)), HairError, ["(B, N)", "got (2,)"]),
    "linear bias_box wrong shape": (
        _linear_call(bias_box=torch.randn(3, 5)), HairError, ["(N, C_out) = (3, 6)", "got (3, 5)"]),
    "linear mixed dtypes": (
        _linear_call(x=torch.randn(2, 7, 5, dtype=torch.float64)), HairError, ["one dtype"]),
    "linear unknown backend": (
        _linear_call(backend="fast"), HairError, ["unknown backend 'fast'", "'reference'"]),
}


@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_bad_input_raises_with_message(name: str) -> None:
    call, error, fragments = ERROR_CASES[name]
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_hair_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        _conv_call(padding=-1)()


# Geometry mistakes of mixed_conv_transpose2d that currently reach torch unchecked and come out as
# RuntimeErrors (sometimes oneDNN's "could not create a primitive descriptor") instead of a
# HairError naming the bad value.
TRANSPOSE_UNCHECKED = {
    "negative padding": (dict(padding=-1), ["padding", "-1"]),
    "zero stride": (dict(stride=0), ["stride", "0"]),
    "zero dilation": (dict(dilation=0), ["dilation", "0"]),
    "output too small": (dict(padding=5), ["too small"]),
}


@pytest.mark.parametrize("name", list(TRANSPOSE_UNCHECKED))
def test_conv_transpose2d_geometry_errors(name: str) -> None:
    overrides, fragments = TRANSPOSE_UNCHECKED[name]
    with pytest.raises(HairError) as info:
        _transpose_call(**overrides)()
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("call", [_conv_call(bias_box=[0.0] * 6), _linear_call(bias_box=[[0.0] * 6] * 3)],
                         ids=["conv2d", "linear"])
def test_bias_box_of_wrong_type_raises_type_error(call: Callable) -> None:
    with pytest.raises(TypeError, match="bias_box"):
        call()


def test_bool_groups_is_rejected() -> None:
    with pytest.raises(TypeError, match="groups"):
        _conv_call(groups=True)()


def test_non_tensor_weight_box_message_names_the_type() -> None:
    with pytest.raises((HairError, TypeError)) as info:
        _conv_call(weight_box=torch.randn(3, 6, 4, 3, 3).tolist())()
    assert "list" in str(info.value) and len(str(info.value)) < 200, str(info.value)[:300]


def _empty_batch(op: str) -> Callable[[str], torch.Tensor]:
    if op == "conv2d":
        return lambda be: mixed_conv2d(torch.randn(0, 4, 8, 8), torch.randn(0, 3), torch.randn(3, 6, 4, 3, 3),
                                       padding=1, backend=be)
    if op == "conv_transpose2d":
        return lambda be: mixed_conv_transpose2d(torch.randn(0, 4, 5, 5), torch.randn(0, 3),
                                                 torch.randn(3, 4, 2, 3, 3), backend=be)
    return lambda be: mixed_linear(torch.randn(0, 5), torch.randn(0, 3), torch.randn(3, 6, 5), backend=be)


EMPTY_SHAPES = {"conv2d": (0, 6, 8, 8), "conv_transpose2d": (0, 2, 7, 7), "linear": (0, 6)}
DEGENERATE = {
    **{f"empty batch {op}": _empty_batch(op) for op in EMPTY_SHAPES},
    "no experts (N = 0)": lambda be: mixed_conv2d(torch.randn(2, 4, 8, 8), torch.randn(2, 0),
                                                  torch.randn(0, 6, 4, 3, 3), backend=be),
    "no input channels": lambda be: mixed_conv2d(torch.randn(2, 0, 8, 8), torch.randn(2, 3),
                                                 torch.randn(3, 6, 0, 3, 3), backend=be),
}


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_degenerate_sizes_are_computed_or_rejected(name: str) -> None:
    """Either every backend returns what nn.Conv2d/nn.Linear would (an empty batch is legal there)
    or the call is refused with a HairError; never a RuntimeError from deep inside torch."""
    call = DEGENERATE[name]
    for backend in ALL_BACKENDS:
        try:
            out = call(backend)
        except HairError:
            continue
        expected = next((s for op, s in EMPTY_SHAPES.items() if op in name), None)
        if expected is not None:
            assert tuple(out.shape) == expected, (backend, tuple(out.shape))
