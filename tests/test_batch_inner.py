"""The batch-inner layout: its views, its static ops, and Restormer / Res-HAIR decoders run in it.

The mixed convolution on batch-inner input is compared with the float64 per-sample reference in
tests/test_functional.py (the ``batch_inner`` layout of the property tests).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hairlayers.functional import batch_inner as bi
from hairlayers.functional import mixed_conv2d
from hairlayers.functional.torch_backend import conv2d_candidates, conv2d_path
from hairlayers.functional.geometry import conv_spec
from hairlayers.models import create_model
from hairlayers.models.restormer import GDFN, MDTA, LayerNorm2d, TransformerBlock, Upsample

CL = torch.channels_last


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_to_batch_inner_keeps_values_and_orders_memory_h_w_b_c(layout: str) -> None:
    x = randn(3, 5, 4, 6)
    x = x.contiguous(memory_format=CL) if layout == "channels_last" else x
    y = bi.to_batch_inner(x)
    assert torch.equal(x, y) and bi.is_batch_inner(y)
    assert y.permute(2, 3, 0, 1).is_contiguous()
    assert bi.to_batch_inner(y) is y  # already batch-inner: no copy


def test_is_batch_inner_rejects_other_layouts_and_single_images() -> None:
    x = randn(2, 3, 4, 5)
    assert not bi.is_batch_inner(x)
    assert not bi.is_batch_inner(x.contiguous(memory_format=CL))
    assert not bi.is_batch_inner(bi.to_batch_inner(x)[:, :2])  # a channel slice has other strides
    single = bi.to_batch_inner(randn(1, 3, 4, 5))
    assert not bi.is_batch_inner(single)  # a batch of one is plain channels_last, batch stride C·H·W
    assert single.is_contiguous(memory_format=CL) and single.stride(0) == 60
    assert not bi.is_batch_inner(randn(2, 3, 4))


def test_views_share_the_memory_and_round_trip() -> None:
    x = bi.to_batch_inner(randn(3, 4, 5, 6))
    folded = bi.fold(x)
    assert folded.shape == (1, 12, 5, 6) and folded.is_contiguous(memory_format=CL)
    assert folded.data_ptr() == x.data_ptr() and folded.stride(0) == x.numel()
    assert torch.equal(folded[0, 4:8], x[1])  # sample b is channels b·C … (b+1)·C - 1
    assert bi.unfold(folded, 3).data_ptr() == x.data_ptr() and torch.equal(bi.unfold(folded, 3), x)
    g = bi.grid(x)
    assert g.shape == (30, 3, 4) and g.data_ptr() == x.data_ptr()
    assert torch.equal(g[7, 2], x[2, :, 1, 1])  # pixel 7 = row 1, column 1
    assert torch.equal(bi.from_grid(g, 5, 6), x)


def test_unfold_accepts_a_map_that_is_not_channels_last() -> None:
    x = randn(2, 3, 4, 4)
    folded = torch.cat([x[0], x[1]]).unsqueeze(0)  # NCHW (1, 6, 4, 4)
    out = bi.unfold(folded, 2)
    assert bi.is_batch_inner(out) and torch.equal(out, x)


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(2, 4), c_in=st.integers(1, 4), c_out=st.integers(1, 5),
    kernel=st.sampled_from([1, 2, 3]), stride=st.sampled_from([1, 2]), padding=st.integers(0, 2),
    dilation=st.sampled_from([1, 2]), groups=st.sampled_from([1, 2]), bias=st.booleans(),
    size=st.integers(5, 9), seed=st.integers(0, 2**31 - 1),
)
def test_static_conv2d_matches_torch(batch, c_in, c_out, kernel, stride, padding, dilation, groups, bias, size, seed) -> None:
    torch.manual_seed(seed)
    conv = nn.Conv2d(c_in * groups, c_out * groups, kernel, stride, padding, dilation, groups, bias).double()
    x = randn(batch, c_in * groups, size, size)
    out = bi.conv2d(bi.to_batch_inner(x), conv)
    assert bi.is_batch_inner(out) or out.shape[0] < 2
    torch.testing.assert_close(out, conv(x), rtol=1e-12, atol=1e-12)


def test_static_conv2d_gradients_match_torch() -> None:
    conv = nn.Conv2d(4, 6, 1).double()
    x = randn(3, 4, 5, 5).requires_grad_()
    for c in (conv, nn.Conv2d(4, 6, 3, padding=1).double()):
        want = torch.autograd.grad(c(x).square().sum(), [x, c.weight, c.bias])
        got = torch.autograd.grad(bi.conv2d(bi.to_batch_inner(x), c).square().sum(), [x, c.weight, c.bias])
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("conv", [
    nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), nn.Conv2d(4, 4, 3, padding="same"),
], ids=["reflect", "same"])
def test_static_conv2d_runs_other_padding_on_a_channels_last_copy(conv: nn.Conv2d) -> None:
    x = randn(2, 4, 5, 5)
    out = bi.conv2d(bi.to_batch_inner(x), conv.double())
    assert bi.is_batch_inner(out)
    torch.testing.assert_close(out, conv(x), rtol=1e-12, atol=1e-12)


def test_pixel_shuffle_and_cat_match_torch_and_stay_batch_inner() -> None:
    x = randn(3, 8, 4, 5)
    shuffled = bi.pixel_shuffle(bi.to_batch_inner(x), 2)
    assert bi.is_batch_inner(shuffled) and torch.equal(shuffled, F.pixel_shuffle(x, 2))
    a, b = bi.to_batch_inner(randn(3, 2, 4, 5)), randn(3, 3, 4, 5).contiguous(memory_format=CL)
    joined = bi.cat([a, b])
    assert bi.is_batch_inner(joined) and torch.equal(joined, torch.cat([a, b], 1))


def test_mixed_conv2d_takes_the_batch_inner_path_and_keeps_the_layout() -> None:
    x = bi.to_batch_inner(randn(3, 4, 6, 6))
    box, select = randn(5, 4, 1, 3, 3), torch.softmax(randn(3, 5), 1)
    spec = conv_spec(x, select, box, None, 1, 1, 1, 4)
    assert conv2d_path(x, spec, 4) == "batch_inner"
    assert conv2d_candidates(x, spec) == ["batch_inner", "grouped"]
    out = mixed_conv2d(x, select, box, padding=1, groups=4)
    assert bi.is_batch_inner(out)
    torch.testing.assert_close(out, mixed_conv2d(x, select, box, padding=1, groups=4, backend="reference"))


def test_use_batch_inner_decides_by_device_batch_and_autograd() -> None:
    two, one = torch.zeros(2, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    with torch.no_grad():
        assert bi.use_batch_inner(two) and not bi.use_batch_inner(one)
        assert not bi.use_batch_inner(two, "input")
    assert not bi.use_batch_inner(two)  # autograd on: training keeps the input's layout
    assert bi.use_batch_inner(two, "batch_inner") and not bi.use_batch_inner(one, "batch_inner")
    with pytest.raises(ValueError, match="one of .*'auto'.*got 'nhwc'"):
        bi.use_batch_inner(two, "nhwc")


@pytest.mark.parametrize("make", [
    lambda: LayerNorm2d(8), lambda: LayerNorm2d(8, "biasfree"), lambda: MDTA(8, num_heads=2),
    lambda: GDFN(8), lambda: TransformerBlock(8, num_heads=4), lambda: Upsample(8),
], ids=["layernorm", "layernorm_biasfree", "mdta", "gdfn", "block", "upsample"])
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_restormer_modules_keep_a_batch_inner_input_batch_inner(make, grad: bool) -> None:
    torch.manual_seed(0)
    module = make().double()
    x = randn(3, 8, 6, 6)
    with torch.set_grad_enabled(grad):
        want = module(x)
        got = module(bi.to_batch_inner(x))
    assert bi.is_batch_inner(got), got.stride()
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name, config", [
    ("restormer", {}), ("restormer", {"dual_pixel": True, "in_channels": 6}),
    ("res_hair", {}), ("res_hair", {"variant": "official"}),
], ids=["restormer", "restormer_dual_pixel", "res_hair", "res_hair_official"])
def test_batch_inner_decoder_equals_the_input_layout_one_with_gradients(name: str, config: dict) -> None:
    torch.manual_seed(0)
    model = create_model(name, preset="tiny", **config).double()
    image = torch.rand(2, model.in_channels, 24, 32, dtype=torch.float64)
    results = {}
    for layout in ("input", "batch_inner"):
        model.decoder_layout = layout
        model.zero_grad()
        out = model(image)
        out.square().sum().backward()
        assert out.is_contiguous()  # the image's layout, whatever the decoder's
        results[layout] = (out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    (out_a, grads_a), (out_b, grads_b) = results["input"], results["batch_inner"]
    torch.testing.assert_close(out_b, out_a, rtol=1e-10, atol=1e-10)
    assert grads_a.keys() == grads_b.keys()
    for key in grads_a:
        torch.testing.assert_close(grads_b[key], grads_a[key], rtol=1e-8, atol=1e-10, msg=key)


def test_res_hair_inference_on_a_cpu_batch_runs_its_decoder_batch_inner() -> None:
    model = create_model("res_hair", preset="tiny").eval()
    seen = []
    for module in (model.latent.blocks[0].attn.qkv, model.decoder_level1.blocks[0].ffn.dwconv):
        module.register_forward_pre_hook(lambda m, args: seen.append(bi.is_batch_inner(args[0])))
    image = torch.rand(2, 3, 32, 32).contiguous(memory_format=CL)
    with torch.no_grad():
        out = model(image)
        assert seen == [True, True]
        assert out.is_contiguous(memory_format=CL)  # back in the image's layout
        model(image[:1])  # a single image keeps the input's layout
        assert seen[2:] == [False, False]
    model(image)  # training-style call (autograd on): the input's layout
    assert seen[4:] == [False, False]
