"""mixed_deform_conv2d against its float64 per-sample definition, and the deformable hyper layer's place."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import hairlayers
from hairlayers.errors import BackendUnavailableError, HairError
from hairlayers.functional import mixed_deform_conv2d, reference
from hairlayers.layers import HyperDeformConv2d


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(2, 3), n=st.integers(1, 3), groups=st.sampled_from([1, 2]),
    c_out_per_group=st.integers(1, 2), kernel=st.sampled_from([(1, 1), (3, 3), (2, 3)]),
    stride=st.integers(1, 2), padding=st.integers(0, 1), dilation=st.integers(1, 2),
    offset_groups=st.sampled_from([1, 2]), use_mask=st.booleans(), use_bias=st.booleans(),
    size=st.tuples(st.integers(5, 8), st.integers(5, 8)), seed=st.integers(0, 2**16),
)
def test_matches_the_float64_per_sample_reference(
    batch, n, groups, c_out_per_group, kernel, stride, padding, dilation, offset_groups, use_mask, use_bias,
    size, seed,
) -> None:
    gen = torch.Generator().manual_seed(seed)
    c_in, c_out = 2 * groups, c_out_per_group * groups
    kh, kw = kernel
    out_h = (size[0] + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    out_w = (size[1] + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    x = torch.randn(batch, c_in, *size, generator=gen)
    box = torch.randn(n, c_out, c_in // groups, kh, kw, generator=gen)
    bias = torch.randn(n, c_out, generator=gen) if use_bias else None
    offset = 1.5 * torch.randn(batch, 2 * offset_groups * kh * kw, out_h, out_w, generator=gen)
    mask = torch.rand(batch, offset_groups * kh * kw, out_h, out_w, generator=gen) if use_mask else None
    select = torch.softmax(torch.randn(batch, n, generator=gen), dim=1)
    got = mixed_deform_conv2d(x, offset, select, box, bias, stride, padding, dilation, mask)
    want = reference.deform_conv2d(x, offset, select, box, bias, mask, (stride, stride), (padding, padding),
                                   (dilation, dilation))
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_samples_get_different_kernels() -> None:
    x, offset = torch.randn(2, 3, 6, 6), torch.randn(2, 18, 6, 6)
    box = torch.randn(2, 4, 3, 3, 3)
    out = mixed_deform_conv2d(x.expand(2, -1, -1, -1), offset[:1].expand(2, -1, -1, -1),
                              torch.eye(2), box, padding=1)
    assert not torch.allclose(out[0], out[1])


def test_bad_arguments_name_what_was_expected() -> None:
    x, offset, box = torch.randn(2, 3, 6, 6), torch.randn(2, 18, 6, 6), torch.randn(2, 4, 3, 3, 3)
    with pytest.raises(HairError, match=r"select must have shape \(B, N\) = \(2, 2\)"):
        mixed_deform_conv2d(x, offset, torch.ones(2, 3), box, padding=1)
    with pytest.raises(HairError, match="weight_box must be 5-D"):
        mixed_deform_conv2d(x, offset, torch.ones(2, 2), box[0], padding=1)
    with pytest.raises(HairError, match=r"bias_box must have shape \(N, C_out\) = \(2, 4\)"):
        mixed_deform_conv2d(x, offset, torch.ones(2, 2), box, torch.zeros(4), padding=1)
    with pytest.raises(BackendUnavailableError, match="per-sample"):
        mixed_deform_conv2d(x, offset, torch.ones(2, 2), box, padding=1, backend="torchvision")
    with pytest.raises(HairError, match="unknown backend 'triton'"):
        mixed_deform_conv2d(x, offset, torch.ones(2, 2), box, padding=1, backend="triton")


def test_the_layer_lives_in_layers_and_is_exported_everywhere() -> None:
    from hairlayers.models.airnet_variants import HyperDeformConv2d as from_models

    assert hairlayers.HyperDeformConv2d is HyperDeformConv2d is from_models
    assert HyperDeformConv2d.__module__ == "hairlayers.layers.hyper_deform_conv"


def test_layer_equals_the_functional_op() -> None:
    layer = HyperDeformConv2d(4, 6, 3, padding=1, groups=2, num_kernels=3)
    x, offset, mask = torch.randn(2, 4, 7, 7), torch.randn(2, 18, 7, 7), torch.rand(2, 9, 7, 7)
    select = torch.softmax(torch.randn(2, 3), dim=1)
    torch.testing.assert_close(
        layer(x, offset, mask, select=select),
        mixed_deform_conv2d(x, offset, select, layer.weight_box, layer.bias_box, 1, 1, 1, mask),
    )
    with pytest.raises(HairError, match="backend"):
        HyperDeformConv2d(4, 6, 3, num_kernels=2, backend="cuda")
