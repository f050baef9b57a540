"""hairlayers.ops.deform_conv2d against a direct, loop-based definition of DCNv2."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from _tolerance import assert_close_to_reference, default_atol
from hypothesis import given, settings
from hypothesis import strategies as st

from hairlayers.errors import BackendUnavailableError, HairError
from hairlayers.ops import ModulatedDeformConv2d, deform_conv2d, torchvision_unavailable
from hairlayers.ops import deform_conv as dc


def bilinear_zero_outside(image: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """Value of ``image`` (C, H, W) at the fractional pixel (y, x); pixels outside count as zero."""
    _, height, width = image.shape
    value = torch.zeros(image.shape[0], dtype=image.dtype)
    if y <= -1 or y >= height or x <= -1 or x >= width:
        return value
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    for yy, wy in ((y0, 1.0 - ly), (y0 + 1, ly)):
        for xx, wx in ((x0, 1.0 - lx), (x0 + 1, lx)):
            if 0 <= yy < height and 0 <= xx < width:
                value = value + wy * wx * image[:, yy, xx]
    return value


def deform_conv2d_loop(input, offset, weight, bias, stride, padding, dilation, mask):
    """DCNv2 written out: per sample, offset group, tap and output pixel, then a contraction."""
    batch, c_in, _, _ = input.shape
    per_sample = weight.dim() == 5
    c_out, c_per_group, kh, kw = weight.shape[-4:]
    groups = c_in // c_per_group
    taps = kh * kw
    offset_groups = offset.shape[1] // (2 * taps)
    out_h, out_w = offset.shape[2:]
    cg = c_in // offset_groups
    positions = offset.detach()  # read as Python floats: the positions are data here, not a graph
    sampled = torch.zeros(batch, c_in, kh, kw, out_h, out_w, dtype=input.dtype)
    for b in range(batch):
        for g in range(offset_groups):
            for ky in range(kh):
                for kx in range(kw):
                    k = ky * kw + kx
                    for i in range(out_h):
                        for j in range(out_w):
                            dy = float(positions[b, 2 * (g * taps + k), i, j])
                            dx = float(positions[b, 2 * (g * taps + k) + 1, i, j])
                            y = i * stride[0] - padding[0] + ky * dilation[0] + dy
                            x = j * stride[1] - padding[1] + kx * dilation[1] + dx
                            v = bilinear_zero_outside(input[b, g * cg : (g + 1) * cg], y, x)
                            if mask is not None:
                                v = v * mask[b, g * taps + k, i, j]
                            sampled[b, g * cg : (g + 1) * cg, ky, kx, i, j] = v
    out = torch.zeros(batch, c_out, out_h, out_w, dtype=input.dtype)
    opg = c_out // groups
    for b in range(batch):
        w = weight[b] if per_sample else weight
        for gr in range(groups):
            cols = sampled[b, gr * c_per_group : (gr + 1) * c_per_group]
            out[b, gr * opg : (gr + 1) * opg] = torch.einsum(
                "ocyx,cyxij->oij", w[gr * opg : (gr + 1) * opg], cols
            )
        if bias is not None:
            out[b] += (bias[b] if per_sample else bias).view(-1, 1, 1)
    return out


@st.composite
def cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    height = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 6))
    width = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 6))
    offset_groups = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([1, 2]))
    c_in = 2 * draw(st.integers(1, 2))  # divisible by both group counts
    c_out = groups * draw(st.integers(1, 2))
    batch = draw(st.integers(2, 3))
    return dict(
        shape=(batch, c_in, height, width),
        kernel=(kh, kw),
        c_out=c_out,
        groups=groups,
        offset_groups=offset_groups,
        stride=stride,
        padding=padding,
        dilation=dilation,
        use_mask=draw(st.booleans()),
        use_bias=draw(st.booleans()),
        per_sample=draw(st.booleans()),
        offset_scale=draw(st.sampled_from([0.0, 0.7, 3.0, 12.0])),  # 12 px lands far outside
        seed=draw(st.integers(0, 2**16)),
    )


def make_tensors(case, dtype=torch.float64):
    gen = torch.Generator().manual_seed(case["seed"])
    batch, c_in, height, width = case["shape"]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = case["kernel"], case["stride"], case["padding"], case["dilation"]
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    taps, g = kh * kw, case["offset_groups"]
    x = torch.randn(case["shape"], generator=gen, dtype=dtype)
    offset = case["offset_scale"] * torch.randn(batch, 2 * g * taps, out_h, out_w, generator=gen, dtype=dtype)
    wshape = (case["c_out"], c_in // case["groups"], kh, kw)
    weight = torch.randn(((batch,) if case["per_sample"] else ()) + wshape, generator=gen, dtype=dtype)
    bshape = (batch, case["c_out"]) if case["per_sample"] else (case["c_out"],)
    bias = torch.randn(bshape, generator=gen, dtype=dtype) if case["use_bias"] else None
    mask = torch.rand(batch, g * taps, out_h, out_w, generator=gen, dtype=dtype) if case["use_mask"] else None
    return x, offset, weight, bias, mask


@settings(max_examples=25, deadline=None)
@given(cases())
def test_matches_loop_definition(case):
    x, offset, weight, bias, mask = make_tensors(case)
    geometry = (case["stride"], case["padding"], case["dilation"])
    ref64 = deform_conv2d_loop(x, offset, weight, bias, *geometry, mask)
    got64 = deform_conv2d(x, offset, weight, bias, *geometry, mask, backend="torch")
    torch.testing.assert_close(got64, ref64, rtol=1e-10, atol=1e-10)

    f32 = [None if t is None else t.float() for t in (x, offset, weight, bias, mask)]
    ref32 = deform_conv2d_loop(f32[0], f32[1], f32[2], f32[3], *geometry, f32[4])
    got32 = deform_conv2d(f32[0], f32[1], f32[2], f32[3], *geometry, f32[4], backend="torch")
    assert got32.dtype == torch.float32
    assert_close_to_reference(got32, ref32, ref64, atol=default_atol(ref64, torch.float32))


@settings(max_examples=10, deadline=None)
@given(cases(), st.integers(1, 40))
def test_chunking_does_not_change_the_result(case, max_elements):
    x, offset, weight, bias, mask = make_tensors(case)
    geometry = (case["stride"], case["padding"], case["dilation"])
    whole = deform_conv2d(x, offset, weight, bias, *geometry, mask, backend="torch")
    chunked = deform_conv2d(
        x, offset, weight, bias, *geometry, mask, max_elements=max_elements, backend="torch"
    )
    torch.testing.assert_close(chunked, whole, rtol=1e-12, atol=1e-12)


def test_chunk_plan_covers_every_row_once():
    assert dc._chunks(4, 5, 10, 10**6) == [(0, 4, 0, 5)]
    assert dc._chunks(4, 5, 10, 100) == [(0, 2, 0, 5), (2, 4, 0, 5)]
    plan = dc._chunks(2, 5, 10, 25)  # 2 rows per chunk, one sample at a time
    assert plan == [(0, 1, 0, 2), (0, 1, 2, 4), (0, 1, 4, 5), (1, 2, 0, 2), (1, 2, 2, 4), (1, 2, 4, 5)]
    assert dc._chunks(1, 3, 10, 1) == [(0, 1, 0, 1), (0, 1, 1, 2), (0, 1, 2, 3)]


def _grad_case(per_sample: bool):
    gen = torch.Generator().manual_seed(3)
    kw = dict(generator=gen, dtype=torch.float64)
    x = torch.randn(2, 2, 3, 4, **kw)
    # Non-integer positions (and some outside the image) keep finite differences off the kinks.
    offset = 1.7 * torch.randn(2, 2 * 9, 3, 4, **kw) + 0.31
    weight = torch.randn(*((2,) if per_sample else ()), 2, 2, 3, 3, **kw)
    bias = torch.randn(*((2,) if per_sample else ()), 2, **kw)
    mask = torch.rand(2, 9, 3, 4, **kw)
    return [t.requires_grad_() for t in (x, offset, weight, bias, mask)]


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("max_elements", [None, 40])
def test_gradcheck(per_sample, max_elements):
    x, offset, weight, bias, mask = _grad_case(per_sample)

    def fn(x, offset, weight, bias, mask):
        return deform_conv2d(
            x, offset, weight, bias, 1, 1, 1, mask, max_elements=max_elements, backend="torch"
        )

    assert torch.autograd.gradcheck(fn, (x, offset, weight, bias, mask), eps=1e-6, atol=1e-6, fast_mode=True)


def test_gradients_without_mask_gradient():
    """The mask is applied in place when it needs no gradient; the other gradients are unchanged."""
    x, offset, weight, bias, mask = _grad_case(per_sample=False)
    full = torch.autograd.grad(
        deform_conv2d(x, offset, weight, bias, 1, 1, 1, mask).sum(), (x, offset, weight)
    )
    frozen = mask.detach()
    partial = torch.autograd.grad(
        deform_conv2d(x, offset, weight, bias, 1, 1, 1, frozen).sum(), (x, offset, weight)
    )
    for a, b in zip(full, partial):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_gradients_match_loop_reference():
    """Autograd through the fast path equals autograd through the loop definition."""
    inputs = _grad_case(per_sample=False)
    fast = deform_conv2d(inputs[0], inputs[1], inputs[2], inputs[3], 1, 1, 1, inputs[4], backend="torch")
    upstream = torch.randn_like(fast)
    fast_grads = torch.autograd.grad(fast, inputs, upstream)
    ref = deform_conv2d_loop(inputs[0], inputs[1], inputs[2], inputs[3], (1, 1), (1, 1), (1, 1), inputs[4])
    # The loop reads offsets through float(), so compare only input / weight / bias gradients there.
    ref_grads = torch.autograd.grad(ref, [inputs[0], inputs[2], inputs[3]], upstream)
    for got, expected in zip((fast_grads[0], fast_grads[2], fast_grads[3]), ref_grads):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_zero_offsets_and_no_mask_is_a_plain_convolution():
    x, w, b = torch.randn(2, 4, 9, 7), torch.randn(6, 2, 3, 3), torch.randn(6)
    offset = torch.zeros(2, 2 * 9, 5, 3)
    got = deform_conv2d(x, offset, w, b, stride=2, padding=(1, 0), dilation=1)
    torch.testing.assert_close(
        got, F.conv2d(x, w, b, stride=2, padding=(1, 0), groups=2), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("dy, dx", [(1.0, -2.0), (-3.0, 0.0), (7.0, 7.0)])
def test_integer_offsets_shift_the_zero_padded_image(dy, dx):
    """A constant integer offset reads the input shifted by (dy, dx), zeros beyond the border."""
    x, w = torch.randn(2, 3, 6, 7, dtype=torch.float64), torch.randn(4, 3, 3, 3, dtype=torch.float64)
    offset = torch.tensor([dy, dx], dtype=torch.float64).repeat(9).view(1, 18, 1, 1).expand(2, 18, 6, 7)
    big = F.pad(x, (10, 10, 10, 10))  # wide zero border: a valid conv over it sees the shifted image
    expected = F.conv2d(big, w)[:, :, 9 + int(dy) : 15 + int(dy), 9 + int(dx) : 16 + int(dx)]
    got = deform_conv2d(x, offset.contiguous(), w, padding=1)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_module_is_a_thin_wrapper():
    layer = ModulatedDeformConv2d(4, 6, 3, padding=1, groups=2, bias=False)
    assert (
        repr(layer) == "ModulatedDeformConv2d(4, 6, kernel_size=(3, 3), padding=(1, 1), groups=2, bias=False)"
    )
    x, offset, mask = torch.randn(2, 4, 5, 5), torch.randn(2, 18, 5, 5), torch.rand(2, 9, 5, 5)
    torch.testing.assert_close(
        layer(x, offset, mask), deform_conv2d(x, offset, layer.weight, None, 1, 1, 1, mask)
    )
    assert layer.weight.shape == (6, 2, 3, 3)
    layer(x, offset, mask).sum().backward()
    assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(offset=torch.zeros(2, 17, 4, 4)), "offset must be"),
        (dict(offset=torch.zeros(2, 18, 3, 4)), "offset must be 4x4"),
        (dict(mask=torch.zeros(2, 18, 4, 4)), "mask must have shape"),
        (dict(weight=torch.zeros(5, 3, 3, 3)), "input channels per group"),
        (dict(bias=torch.zeros(4)), "bias must have shape"),
        (dict(input=torch.zeros(2, 4, 4)), "input must be"),
        (dict(weight=torch.zeros(3, 5, 4, 3, 3)), "per-sample weight has 3 samples"),
        (dict(offset=torch.zeros(2, 18, 4, 4, dtype=torch.float64)), "must match"),
    ],
)
def test_bad_input_raises_hair_error(change, message):
    args = dict(
        input=torch.zeros(2, 4, 4, 4),
        offset=torch.zeros(2, 18, 4, 4),
        weight=torch.zeros(5, 4, 3, 3),
        bias=torch.zeros(5),
        mask=torch.zeros(2, 9, 4, 4),
    )
    args.update(change)
    with pytest.raises(HairError, match=message):
        deform_conv2d(args["input"], args["offset"], args["weight"], args["bias"], 1, 1, 1, args["mask"])


def test_bad_arguments():
    x, offset, w = torch.zeros(1, 2, 4, 4), torch.zeros(1, 18, 4, 4), torch.zeros(2, 2, 3, 3)
    with pytest.raises(HairError, match="backend"):
        deform_conv2d(x, offset, w, padding=1, backend="cuda")
    with pytest.raises(HairError, match="max_elements"):
        deform_conv2d(x, offset, w, padding=1, max_elements=0)
    with pytest.raises(HairError, match="stride"):
        deform_conv2d(x, offset, w, padding=1, stride=0)
    with pytest.raises(HairError, match="too small"):
        deform_conv2d(torch.zeros(1, 2, 1, 1), torch.zeros(1, 18, 1, 1), w)
    with pytest.raises(HairError, match="groups=3"):
        ModulatedDeformConv2d(4, 6, 3, groups=3)


# --------------------------------------------------------------------------- torchvision detection


@pytest.fixture
def fresh_detection():
    dc.torchvision_unavailable.cache_clear()
    yield
    dc.torchvision_unavailable.cache_clear()


def _pretend_torchvision_installed(monkeypatch, op):
    real_find_spec = dc.importlib.util.find_spec
    monkeypatch.setattr(
        dc.importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "torchvision" else real_find_spec(name, *a),
    )
    monkeypatch.setattr(dc, "_torchvision_op", lambda: op)


def _pure(input, offset, weight, bias, stride, padding, dilation, mask):
    return deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask, backend="torch")


def test_torchvision_absent_is_reported_and_explicit_request_raises(monkeypatch, fresh_detection):
    real_find_spec = dc.importlib.util.find_spec
    monkeypatch.setattr(
        dc.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torchvision" else real_find_spec(name, *a),
    )
    assert "not installed" in torchvision_unavailable("cpu")
    x, offset, w = torch.randn(2, 2, 4, 4), torch.randn(2, 18, 4, 4), torch.randn(3, 2, 3, 3)
    with pytest.raises(BackendUnavailableError, match="not installed"):
        deform_conv2d(x, offset, w, padding=1, backend="torchvision")
    deform_conv2d(x, offset, w, padding=1)  # auto still works, on the pure-PyTorch path


def test_working_torchvision_is_used_by_auto(monkeypatch, fresh_detection):
    calls = []

    def op(*args):
        calls.append(args)
        return _pure(*args)

    _pretend_torchvision_installed(monkeypatch, op)
    assert torchvision_unavailable("cpu") is None
    calls.clear()
    x, offset, w = torch.randn(2, 2, 4, 4), torch.randn(2, 18, 4, 4), torch.randn(3, 2, 3, 3)
    deform_conv2d(x, offset, w, padding=1)
    assert len(calls) == 1
    deform_conv2d(x, offset, w, padding=1, backend="torch")
    deform_conv2d(x, offset, w.expand(2, 3, 2, 3, 3), padding=1)  # per-sample weight: pure path
    assert len(calls) == 1
    with pytest.raises(BackendUnavailableError, match="per-sample"):
        deform_conv2d(x, offset, w.expand(2, 3, 2, 3, 3), padding=1, backend="torchvision")


@pytest.mark.parametrize(
    "op, reason",
    [
        (
            lambda *a: (_ for _ in ()).throw(
                RuntimeError("operator torchvision::deform_conv2d does not exist")
            ),
            "failed on cpu: RuntimeError",
        ),
        (lambda *a: torch.zeros(2, 4, 5, 6), "disagrees"),
    ],
)
def test_broken_torchvision_is_not_used(monkeypatch, fresh_detection, op, reason):
    _pretend_torchvision_installed(monkeypatch, op)
    assert reason in torchvision_unavailable("cpu")
    x, offset, w = torch.randn(2, 2, 4, 4), torch.randn(2, 18, 4, 4), torch.randn(3, 2, 3, 3)
    torch.testing.assert_close(
        deform_conv2d(x, offset, w, padding=1), _pure(x, offset, w, None, 1, 1, 1, None)
    )


def test_runs_under_autocast() -> None:
    """float32 weights with a bfloat16 autocast region, as AirNet's layers meet them in AMP training."""
    layer = ModulatedDeformConv2d(4, 6, 3, padding=1)
    x, offset, mask = torch.randn(2, 4, 8, 8), torch.randn(2, 18, 8, 8), torch.rand(2, 9, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x, offset, mask)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), layer(x, offset, mask), atol=0.15, rtol=0.05)
