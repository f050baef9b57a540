"""Hyper layers: init, the selecting view, to_static, sharing, serialisation, compile, errors."""

from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hairlayers import (
    GIVClassifier,
    HairError,
    HyperConv2d,
    HyperConvTranspose2d,
    HyperLinear,
    HyperSelectingNet,
    WeightBox,
)
from hairlayers.functional import mixed_conv2d


def _conv(**kw) -> HyperConv2d:
    args = dict(in_channels=6, out_channels=8, kernel_size=3, padding=1, num_kernels=4, giv_dim=10)
    args.update(kw)
    return HyperConv2d(**args, dtype=torch.float64)


@pytest.mark.parametrize(
    "hyper, static",
    [
        (lambda: HyperConv2d(6, 8, 3, groups=2, num_kernels=3), lambda: nn.Conv2d(6, 8, 3, groups=2)),
        (lambda: HyperConvTranspose2d(6, 4, 2, stride=2, num_kernels=3), lambda: nn.ConvTranspose2d(6, 4, 2, stride=2)),
        (lambda: HyperLinear(7, 5, num_kernels=3), lambda: nn.Linear(7, 5)),
    ],
)
def test_rows_are_independent_default_inits(hyper, static) -> None:
    torch.manual_seed(123)
    layer = hyper()
    torch.manual_seed(123)
    reference = static()
    # Row 0 is drawn exactly like a fresh torch layer; later rows are independent draws.
    assert torch.equal(layer.weight_box[0], reference.weight)
    assert torch.equal(layer.bias_box[0], reference.bias)
    assert not torch.equal(layer.weight_box[0], layer.weight_box[1])
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(reference.weight)
    assert layer.weight_box.abs().max() <= fan_in**-0.5  # the Kaiming-uniform(a=sqrt(5)) bound


def test_forward_with_giv_uses_the_selecting_net() -> None:
    layer, x, giv = _conv(), torch.randn(3, 6, 9, 7, dtype=torch.float64), torch.randn(3, 10, dtype=torch.float64)
    select = layer.select(giv)
    assert select.shape == (3, 4)
    torch.testing.assert_close(select.sum(1), torch.ones(3, dtype=torch.float64))
    expected = mixed_conv2d(x, select, layer.weight_box, layer.bias_box, padding=1, backend="reference")
    torch.testing.assert_close(layer(x, giv), expected)
    torch.testing.assert_close(layer(x, select=select), expected)


def test_selecting_view_eq7() -> None:
    """Mixing then convolving equals convolving with every expert then mixing (eq. 7)."""
    layer, x = _conv(groups=2, dilation=2, padding=2), torch.randn(2, 6, 11, 10, dtype=torch.float64)
    select = torch.softmax(torch.randn(2, 4, dtype=torch.float64), 1)
    per_expert = torch.stack(
        [F.conv2d(x, layer.weight_box[i], layer.bias_box[i], padding=2, dilation=2, groups=2) for i in range(4)],
        dim=1,
    )  # (B, N, C_out, H, W)
    expected = (select[:, :, None, None, None] * per_expert).sum(1)
    torch.testing.assert_close(layer(x, select=select), expected)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "circular"])
def test_to_static_equals_layer_per_image(padding_mode: str) -> None:
    layer = _conv(padding_mode=padding_mode, stride=2)
    x, giv = torch.randn(2, 6, 12, 13, dtype=torch.float64), torch.randn(2, 10, dtype=torch.float64)
    out = layer(x, giv)
    for b in range(2):
        static = layer.to_static(giv[b])
        assert type(static) is nn.Conv2d
        torch.testing.assert_close(static(x[b : b + 1]), out[b : b + 1])
    # The two images really got different kernels.
    assert not torch.allclose(layer.to_static(giv[0]).weight, layer.to_static(giv[1]).weight)


def test_to_static_transpose_and_linear() -> None:
    up = HyperConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1, num_kernels=3, giv_dim=5, dtype=torch.float64)
    lin = HyperLinear(4, 6, num_kernels=3, giv_dim=5, dtype=torch.float64)
    x, tokens, giv = torch.randn(2, 4, 5, 6, dtype=torch.float64), torch.randn(2, 7, 4, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    up_out, lin_out = up(x, giv), lin(tokens, giv)
    assert up_out.shape == (2, 3, 10, 12)
    for b in range(2):
        torch.testing.assert_close(up.to_static(giv[b])(x[b : b + 1]), up_out[b : b + 1])
        torch.testing.assert_close(lin.to_static(giv[b])(tokens[b]), lin_out[b])


def test_state_dict_round_trip() -> None:
    layer, x, giv = _conv(), torch.randn(2, 6, 8, 8, dtype=torch.float64), torch.randn(2, 10, dtype=torch.float64)
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    clone = _conv()
    clone.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(clone(x, giv), layer(x, giv))
    assert set(layer.state_dict()) >= {"weight_box", "bias_box", "hsn.fcnn.0.weight"}


def test_gradients_reach_box_and_selecting_net() -> None:
    layer = _conv()
    layer(torch.randn(2, 6, 8, 8, dtype=torch.float64), torch.randn(2, 10, dtype=torch.float64)).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_torch_compile_matches_eager() -> None:
    torch.manual_seed(0)
    layer = HyperConv2d(4, 8, 3, padding=1, groups=4, num_kernels=3, giv_dim=6)
    x, giv = torch.randn(2, 4, 10, 10), torch.randn(2, 6)
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, giv), layer(x, giv))


def test_repr_shows_non_defaults() -> None:
    text = repr(HyperConv2d(8, 16, 3, stride=2, padding="same" if False else 1, groups=2, bias=False, num_kernels=5))
    assert "8, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2, bias=False, num_kernels=5" in text
    assert "giv_dim" not in text
    assert "num_kernels=3, giv_dim=4" in repr(HyperLinear(2, 3, num_kernels=3, giv_dim=4))
    assert "output_padding=(1, 1)" in repr(HyperConvTranspose2d(2, 3, 3, stride=2, output_padding=1, num_kernels=2))
    assert "roles=['a.b']" in repr(_box_with_role())


def _box_with_role() -> WeightBox:
    box = WeightBox(2)
    box.conv2d("a.b", 2, 2, 1)
    return box


def test_weight_box_shares_parameters_across_blocks() -> None:
    box = WeightBox(num_kernels=3)
    blocks = nn.ModuleList(
        nn.ModuleDict({"proj": box.conv2d("proj", 4, 4, 1), "dw": box.conv2d("dw", 4, 4, 3, padding=1, groups=4)})
        for _ in range(3)
    )
    assert blocks[0]["proj"].weight_box is blocks[2]["proj"].weight_box
    model = nn.ModuleDict({"box": box, "blocks": blocks})
    # Counted once: 2 roles x (weights + biases), not 3 blocks' worth.
    assert sum(p.numel() for p in model.parameters()) == 3 * (4 * 4 + 4) + 3 * (4 * 9 + 4)
    # Different selects per block still give different functions on the same input.
    x = torch.randn(2, 4, 6, 6)
    a = blocks[0]["proj"](x, select=torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    b = blocks[1]["proj"](x, select=torch.tensor([[0, 0, 1.0], [0, 0, 1.0]]))
    assert not torch.allclose(a, b)
    # A shared role survives deepcopy as one parameter.
    clone = copy.deepcopy(model)
    assert clone["blocks"][0]["proj"].weight_box is clone["blocks"][1]["proj"].weight_box is clone["box"].weights["proj"]


def test_weight_box_rejects_a_mismatched_role() -> None:
    box = WeightBox(num_kernels=3)
    box.conv2d("proj", 4, 4, 1)
    with pytest.raises(HairError, match=r"role 'proj' holds weights of shape \(3, 4, 4, 1, 1\)"):
        box.conv2d("proj", 4, 8, 1)
    with pytest.raises(HairError, match="num_kernels=2 but the box holds 3"):
        box.share("other", HyperConv2d(4, 4, 1, num_kernels=2))


def test_weight_box_names_a_dotted_role_in_its_state_dict() -> None:
    box = _box_with_role()
    layer_weight = box.weight("a.b")
    assert box.state_dict()[box.weight_name("a.b")] is not None
    assert torch.equal(box.state_dict()[box.weight_name("a.b")], layer_weight.detach())
    with pytest.raises(HairError, match=r"holds no role 'a__b'; it holds \['a.b'\]"):
        box.weight("a__b")


@pytest.mark.parametrize("size", [1, 4, 5, 33])
def test_giv_classifier_any_size(size: int) -> None:
    clf = GIVClassifier(in_channels=12, giv_dim=8, stages=3, blocks_per_stage=2)
    giv = clf(torch.randn(2, 12, size, size + 1))
    assert giv.shape == (2, 8) and torch.isfinite(giv).all()
    assert clf(torch.randn(1, 12, size, size)).shape == (1, 8)  # batch 1 works (GroupNorm)


def test_giv_classifier_custom_backbone() -> None:
    backbone = nn.Sequential(nn.Conv2d(12, 20, 3, stride=2), nn.ReLU())
    clf = GIVClassifier(12, 8, backbone=backbone)
    assert clf.head.in_channels == 20
    assert clf(torch.randn(3, 12, 9, 9)).shape == (3, 8)
    with pytest.raises(HairError, match="backbone_channels"):
        GIVClassifier(12, 8, backbone=nn.Identity())


def test_errors_name_expected_and_got() -> None:
    layer = _conv()
    x, giv = torch.randn(2, 6, 8, 8, dtype=torch.float64), torch.randn(2, 10, dtype=torch.float64)
    with pytest.raises(HairError, match="expects 6 input channels, got 5"):
        layer(torch.randn(2, 5, 8, 8, dtype=torch.float64), giv)
    with pytest.raises(HairError, match=r"expects a 4-D input \(B, C, H, W\), got \(6, 8, 8\)"):
        layer(x[0], giv)
    with pytest.raises(HairError, match=r"\(B, giv_dim\) = \(B, 10\), got \(2, 9\)"):
        layer(x, giv[:, :9])
    with pytest.raises(HairError, match="the GIV has batch 3 but the input has batch 2"):
        layer(x, torch.randn(3, 10, dtype=torch.float64))
    with pytest.raises(HairError, match=r"select must have shape \(B, N\) = \(2, 4\) to match .*, got \(2, 3\)"):
        layer(x, select=torch.rand(2, 3, dtype=torch.float64))
    with pytest.raises(HairError, match="NaN or Inf"):
        layer(x, torch.full((2, 10), float("nan"), dtype=torch.float64))
    with pytest.raises(HairError, match=r"in_channels \(6\) and out_channels \(8\) must be divisible by groups \(4\)"):
        HyperConv2d(6, 8, 3, groups=4, num_kernels=2)
    with pytest.raises(HairError, match="without a GIV or selecting vector"):
        HyperConv2d(6, 8, 3, num_kernels=2)(torch.randn(2, 6, 8, 8))
    with pytest.raises(HairError, match="no selecting net"):
        HyperConv2d(6, 8, 3, num_kernels=2).select(torch.randn(2, 10))
    with pytest.raises(HairError, match="ONE image; got a batch of 2"):
        layer.to_static(giv)
    with pytest.raises(HairError, match="num_kernels must be a positive int, got 0"):
        HyperLinear(3, 4, num_kernels=0)


def test_selecting_net_shape_and_convexity() -> None:
    hsn = HyperSelectingNet(giv_dim=96, num_kernels=9)
    select = hsn(torch.randn(4, 96))
    assert select.shape == (4, 9) and (select >= 0).all()
    torch.testing.assert_close(select.sum(1), torch.ones(4))
    # Official size: 96->48->24->12->N.
    assert sum(p.numel() for p in hsn.parameters()) == 96 * 48 + 48 + 48 * 24 + 24 + 24 * 12 + 12 + 12 * 9 + 9


def test_layers_and_shared_boxes_convert_to_channels_last_like_any_conv_net() -> None:
    """``.to(memory_format=torch.channels_last)`` converts the 4-D weights and leaves the 5-D
    boxes (which that cast refuses) contiguous, gradients included; the output does not change."""
    torch.manual_seed(0)
    box = WeightBox(num_kernels=3)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), HyperConv2d(8, 8, 3, padding=1, groups=8, num_kernels=3, giv_dim=4))
    shared = box.conv2d("proj", 8, 8, 1)
    x, giv = torch.randn(2, 3, 6, 6), torch.randn(2, 4)
    model[1].weight_box.grad = torch.randn_like(model[1].weight_box)
    before = model[1](model[0](x), giv)
    model.to(memory_format=torch.channels_last)
    box.to(memory_format=torch.channels_last)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last) and not model[0].weight.is_contiguous()
    for t in (model[1].weight_box, model[1].weight_box.grad, shared.weight_box, box.weights["proj"]):
        assert t.dim() == 5 and t.is_contiguous()
    assert shared.weight_box is box.weights["proj"]  # still one shared parameter
    after = model[1](model[0](x.contiguous(memory_format=torch.channels_last)), giv)
    assert after.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["res_hair", "airnet_hair", "transweather_hair"])
def test_zoo_hair_models_convert_to_channels_last(name: str) -> None:
    from hairlayers.models import create_model

    torch.manual_seed(0)
    model = create_model(name, preset="tiny").eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        model.to(memory_format=torch.channels_last)  # raised "required rank 4 tensor" before
        after = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)


def test_channels_last_input_keeps_format() -> None:
    layer = _conv()
    x = torch.randn(2, 6, 8, 8, dtype=torch.float64).to(memory_format=torch.channels_last)
    out = layer(x, torch.randn(2, 10, dtype=torch.float64))
    assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(
    "layer, x",
    [
        (lambda: HyperConv2d(4, 6, 3, padding=1, num_kernels=3, giv_dim=5), torch.randn(2, 4, 8, 8)),
        (lambda: HyperConvTranspose2d(4, 6, 2, stride=2, num_kernels=3, giv_dim=5), torch.randn(2, 4, 8, 8)),
        (lambda: HyperLinear(4, 6, num_kernels=3, giv_dim=5), torch.randn(2, 7, 4)),
    ],
    ids=["conv", "conv_transpose", "linear"],
)
def test_layers_run_under_autocast(layer, x) -> None:
    """float32 parameters with an autocast region: computed in the autocast dtype, like nn.Conv2d."""
    module, giv = layer(), torch.randn(2, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x, giv)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), module(x, giv), atol=0.1, rtol=0.05)
    out.float().sum().backward()
    assert module.weight_box.grad is not None and module.weight_box.grad.dtype == torch.float32
