"""Restormer: the authors' parameter names and counts, block maths against a float64 loop
reference, any input size through the padding helper, batches, dtypes, gradients."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hairlayers.errors import HairError
from hairlayers.models import create_model, list_models
from hairlayers.models.padding import pad_to_multiple
from hairlayers.models.restormer import (
    GDFN,
    MDTA,
    LayerNorm2d,
    Restormer,
    TransformerBlock,
    restormer,
)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_build(**kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return restormer(**kwargs)


# ---------------------------------------------------------------- counts and names (paper size)


def test_paper_parameter_counts_exact() -> None:
    assert n_params(meta_build()) == 26_126_644
    assert n_params(meta_build(layer_norm="biasfree")) == 26_111_668


def test_preset_parameter_counts() -> None:
    # Documented in docs/zoo.md; a change here changes what the CPU reproduction trains.
    assert n_params(meta_build(preset="mini")) == 1_728_382
    assert n_params(meta_build(preset="tiny")) == 1_006_739


# Names and shapes read from the authors' released architecture (facts, not code).
AUTHORS_KEYS = {
    "patch_embed.proj.weight": (48, 3, 3, 3),
    "encoder_level1.0.norm1.body.weight": (48,),
    "encoder_level1.0.norm1.body.bias": (48,),
    "encoder_level1.0.attn.temperature": (1, 1, 1),
    "encoder_level1.0.attn.qkv.weight": (144, 48, 1, 1),
    "encoder_level1.0.attn.qkv_dwconv.weight": (144, 1, 3, 3),
    "encoder_level1.0.attn.project_out.weight": (48, 48, 1, 1),
    "encoder_level1.0.ffn.project_in.weight": (254, 48, 1, 1),
    "encoder_level1.0.ffn.dwconv.weight": (254, 1, 3, 3),
    "encoder_level1.0.ffn.project_out.weight": (48, 127, 1, 1),
    "down1_2.body.0.weight": (24, 48, 3, 3),
    "up4_3.body.0.weight": (768, 384, 3, 3),
    "up2_1.body.0.weight": (192, 96, 3, 3),
    "reduce_chan_level3.weight": (192, 384, 1, 1),
    "reduce_chan_level2.weight": (96, 192, 1, 1),
    "decoder_level1.3.ffn.project_out.weight": (96, 255, 1, 1),
    "refinement.3.norm2.body.bias": (96,),
    "latent.7.attn.temperature": (8, 1, 1),
    "output.weight": (3, 96, 3, 3),
}


def test_state_dict_uses_the_authors_names_and_shapes() -> None:
    sd = meta_build().state_dict()
    assert len(sd) == 494  # the authors' state_dict has 494 entries
    for key, shape in AUTHORS_KEYS.items():
        assert key in sd, key
        assert tuple(sd[key].shape) == shape, key
    biasfree = meta_build(layer_norm="biasfree").state_dict()
    assert not [k for k in biasfree if k.endswith("body.bias")]
    assert len(sd) - len(biasfree) == 2 * (4 + 6 + 6 + 8 + 6 + 6 + 4 + 4)


def test_dual_pixel_variant_adds_skip_conv() -> None:
    sd = meta_build(in_channels=6, dual_pixel=True).state_dict()
    assert tuple(sd["skip_conv.weight"].shape) == (96, 48, 1, 1)
    assert tuple(sd["patch_embed.proj.weight"].shape) == (48, 6, 3, 3)


def test_blocks_are_reusable_modules() -> None:
    net = restormer(preset="tiny")
    blocks = [m for m in net.modules() if isinstance(m, TransformerBlock)]
    assert len(blocks) == 1 + 1 + 1 + 2 + 1 + 1 + 1 + 1
    assert all(isinstance(b.attn, MDTA) and isinstance(b.ffn, GDFN) for b in blocks)
    assert isinstance(net.decoder_level3, torch.nn.Sequential)


# ---------------------------------------------------------------- block maths vs a float64 loop


def ref_layer_norm(x: torch.Tensor, norm: LayerNorm2d) -> torch.Tensor:
    mu = x.mean(1, keepdim=True)
    var = ((x - mu) ** 2).mean(1, keepdim=True)
    w = norm.body.weight.view(1, -1, 1, 1)
    if norm.layer_norm == "biasfree":
        return x / torch.sqrt(var + 1e-5) * w
    return (x - mu) / torch.sqrt(var + 1e-5) * w + norm.body.bias.view(1, -1, 1, 1)


def ref_mdta(x: torch.Tensor, attn: MDTA) -> torch.Tensor:
    b, c, h, w = x.shape
    qkv = F.conv2d(F.conv2d(x, attn.qkv.weight), attn.qkv_dwconv.weight, padding=1, groups=3 * c)
    q, k, v = qkv[:, :c], qkv[:, c : 2 * c], qkv[:, 2 * c :]
    per = c // attn.num_heads
    out = torch.zeros_like(x)
    for i in range(b):
        for head in range(attn.num_heads):
            rows = slice(head * per, (head + 1) * per)
            qh, kh, vh = (t[i, rows].reshape(per, h * w) for t in (q, k, v))
            qh = qh / qh.norm(dim=1, keepdim=True)
            kh = kh / kh.norm(dim=1, keepdim=True)
            a = torch.softmax(qh @ kh.T * attn.temperature[head, 0, 0], dim=-1)
            out[i, rows] = (a @ vh).reshape(per, h, w)
    return F.conv2d(out, attn.project_out.weight)


def ref_gdfn(x: torch.Tensor, ffn: GDFN) -> torch.Tensor:
    y = F.conv2d(x, ffn.project_in.weight)
    y = F.conv2d(y, ffn.dwconv.weight, padding=1, groups=y.shape[1])
    hidden = ffn.hidden_features
    return F.conv2d(F.gelu(y[:, :hidden]) * y[:, hidden:], ffn.project_out.weight)


def ref_block(x: torch.Tensor, block: TransformerBlock) -> torch.Tensor:
    x = x + ref_mdta(ref_layer_norm(x, block.norm1), block.attn)
    return x + ref_gdfn(ref_layer_norm(x, block.norm2), block.ffn)


@pytest.mark.parametrize("layer_norm", ["withbias", "biasfree"])
@settings(max_examples=6, deadline=None)
@given(dim=st.sampled_from([4, 8, 12]), heads=st.sampled_from([1, 2, 4]),
       h=st.integers(1, 7), w=st.integers(1, 7), seed=st.integers(0, 2**16))
def test_transformer_block_matches_float64_loop(layer_norm, dim, heads, h, w, seed) -> None:
    torch.manual_seed(seed)
    block = TransformerBlock(dim, heads, layer_norm=layer_norm)
    with torch.no_grad():  # non-trivial norms and temperatures
        for p in block.parameters():
            is_norm = p.dim() == 1
            is_temperature = p.dim() == 3 and p.shape[1:] == (1, 1)
            if is_norm or is_temperature:
                p.copy_(torch.rand_like(p) + 0.5)
    x = torch.randn(3, dim, h, w)
    ref64 = ref_block(x.double(), block.double())
    out64 = block(x.double())
    torch.testing.assert_close(out64, ref64, rtol=1e-10, atol=1e-10)
    out32 = block.float()(x)
    torch.testing.assert_close(out32.double(), ref64, rtol=1e-4, atol=1e-4)


def test_biasfree_norm_keeps_the_mean() -> None:
    norm = LayerNorm2d(4, "biasfree")
    x = torch.randn(2, 4, 3, 3) + 5.0
    y = norm(x)
    assert y.mean(1).abs().min() > 1.0  # a standard layer norm would centre it
    torch.testing.assert_close(y, ref_layer_norm(x, norm))


# ---------------------------------------------------------------- whole model


@pytest.fixture(scope="module")
def tiny() -> Restormer:
    torch.manual_seed(0)
    return restormer(preset="tiny").eval()


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(37, 45), (1, 1), (9, 17)])
def test_any_size_and_batch(tiny, batch, size) -> None:
    x = torch.rand(batch, 3, *size)
    with torch.no_grad():
        y = tiny(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_batch_equals_per_sample_loop(tiny) -> None:
    x = torch.rand(3, 3, 37, 45)
    with torch.no_grad():
        batched = tiny(x)
        looped = torch.cat([tiny(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, looped, rtol=1e-5, atol=1e-5)


def test_internal_padding_is_reflect_then_crop(tiny) -> None:
    x = torch.rand(2, 3, 37, 45)
    manual = F.pad(x, (0, 3, 0, 3), mode="reflect")
    with torch.no_grad():
        torch.testing.assert_close(tiny(x), tiny(manual)[..., :37, :45], rtol=1e-5, atol=1e-5)


def test_global_residual_identity_when_output_conv_is_zero() -> None:
    net = restormer(preset="tiny")
    with torch.no_grad():
        net.output.weight.zero_()
    x = torch.rand(2, 3, 13, 10)
    torch.testing.assert_close(net(x), x)


def test_every_parameter_gets_a_gradient() -> None:
    net = restormer(preset="tiny", layer_norm="biasfree")
    net(torch.rand(2, 3, 16, 16)).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_dual_pixel_forward() -> None:
    net = restormer(preset="tiny", in_channels=6, dual_pixel=True)
    assert net(torch.rand(2, 6, 20, 24)).shape == (2, 3, 20, 24)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_forward(tiny, dtype) -> None:
    x = torch.rand(2, 3, 16, 16)
    net = restormer(preset="tiny").eval()
    net.load_state_dict(tiny.state_dict())
    with torch.no_grad():
        ref = net(x)
        low = net.to(dtype)(x.to(dtype))
    assert low.dtype == dtype and low.shape == x.shape
    assert torch.isfinite(low).all()
    assert (low.float() - ref).abs().max() < 0.1


def test_state_dict_round_trip(tiny) -> None:
    buffer = io.BytesIO()
    torch.save(tiny.state_dict(), buffer)
    buffer.seek(0)
    other = restormer(preset="tiny").eval()
    other.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(other(x), tiny(x))


def test_registry_and_overrides() -> None:
    assert "restormer" in list_models()
    net = create_model("restormer", preset="tiny", dim=8)
    assert net.patch_embed.proj.out_channels == 8
    assert len(net.latent) == 2
    assert "layer_norm='biasfree'" in repr(restormer(preset="tiny", layer_norm="BiasFree"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(preset="huge"), "unknown preset 'huge'"),
        (dict(layer_norm="batch"), "layer_norm must be one of"),
        (dict(preset="tiny", heads=(1, 3, 4, 8)), "num_heads must divide dim"),
        (dict(preset="tiny", num_blocks=(1, 1, 1)), "num_blocks must be 4"),
        (dict(preset="tiny", out_channels=1), "in_channels == out_channels"),
    ],
)
def test_bad_arguments(kwargs, match) -> None:
    with pytest.raises(HairError, match=match):
        restormer(**kwargs)


def test_bad_inputs(tiny) -> None:
    with pytest.raises(HairError, match=r"\(B, 3, H, W\)"):
        tiny(torch.rand(2, 1, 8, 8))
    with pytest.raises(HairError, match=r"\(B, 3, H, W\)"):
        tiny(torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        tiny(np.zeros((1, 3, 8, 8)))


# ---------------------------------------------------------------- padding helper


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), m=st.sampled_from([1, 2, 8, 16]),
       mode=st.sampled_from(["reflect", "replicate", "constant"]))
def test_pad_to_multiple_shapes_and_crop(h, w, m, mode) -> None:
    x = torch.randn(2, 3, h, w)
    padded, crop = pad_to_multiple(x, m, mode=mode)
    assert padded.shape[-2] % m == 0 and padded.shape[-1] % m == 0
    assert padded.shape[-2] - h < m and padded.shape[-1] - w < m
    assert torch.equal(padded[..., :h, :w], x)
    assert torch.equal(crop(padded), x)
    assert crop(torch.zeros(2, 7, *padded.shape[-2:])).shape == (2, 7, h, w)


def test_pad_reflect_matches_numpy_symmetric_definition() -> None:
    x = torch.randn(1, 2, 5, 6)
    padded, _ = pad_to_multiple(x, 8)
    # numpy "reflect" mirrors without repeating the edge pixel, like torch's reflect
    expected = np.pad(x.numpy(), ((0, 0), (0, 0), (0, 3), (0, 2)), mode="reflect")
    np.testing.assert_array_equal(padded.numpy(), expected)


def test_pad_reflect_small_inputs_repeat_reflection() -> None:
    x = torch.arange(3.0).view(1, 1, 1, 3)
    padded, _ = pad_to_multiple(x, 8)
    assert padded.shape == (1, 1, 8, 8)
    # width: 0 1 2 | 1 0 | 1 2 1 (reflect of the growing image); height 1 -> replicated rows
    assert padded[0, 0, 0].tolist() == [0, 1, 2, 1, 0, 1, 2, 1]
    assert torch.equal(padded[0, 0], padded[0, 0, :1].expand(8, 8))


def test_pad_errors() -> None:
    with pytest.raises(HairError, match="multiple must be a positive int"):
        pad_to_multiple(torch.rand(1, 1, 4, 4), 0)
    with pytest.raises(HairError, match="mode must be one of"):
        pad_to_multiple(torch.rand(1, 1, 4, 4), 8, mode="circular")
    with pytest.raises(HairError, match=r"\(B, C, H, W\)"):
        pad_to_multiple(torch.rand(4, 4), 8)
    _, crop = pad_to_multiple(torch.rand(1, 1, 5, 5), 8)
    with pytest.raises(HairError, match="crop expects spatial size"):
        crop(torch.rand(1, 1, 5, 5))
