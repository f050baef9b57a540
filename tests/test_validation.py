"""Issue 11: bad arguments give clear errors (naming the argument), never torch-internal ones or
silently wrong results; meta tensors infer shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hairlayers import HairError, HyperConv2d, HyperLinear, HyperSelectingNet
from hairlayers.functional import mixed_conv2d, mixed_conv_transpose2d, mixed_linear

# ------------------------------------------------------------------------------ selecting net


@pytest.mark.parametrize("hidden, name", [((0,), r"hidden\[0\]"), ((8, -2), r"hidden\[1\]"), (("8",), r"hidden\[0\]")])
def test_hsn_hidden_widths_must_be_positive_ints(hidden, name) -> None:
    with pytest.raises(HairError, match=name):
        HyperSelectingNet(8, 3, hidden)
    with pytest.raises(HairError, match=name):
        HyperConv2d(4, 4, 3, num_kernels=3, giv_dim=8, hsn_hidden=hidden)
    with pytest.raises(TypeError, match="hsn_hidden"):
        HyperSelectingNet(8, 3, 12)


@pytest.mark.parametrize("kwargs, name", [({"giv_dim": "8"}, "giv_dim"), ({"num_kernels": 0}, "num_kernels")])
def test_hsn_sizes_are_checked(kwargs, name) -> None:
    args = {"giv_dim": 8, "num_kernels": 3, **kwargs}
    with pytest.raises(HairError, match=name):
        HyperSelectingNet(**args)


def test_huge_finite_giv_is_refused_not_nan() -> None:
    torch.manual_seed(0)
    hsn = HyperSelectingNet(8, 3)
    giv = torch.full((2, 8), 3e38)
    assert bool(torch.isfinite(giv).all())
    with pytest.raises(HairError, match="overflow"):
        hsn(giv)
    with pytest.raises(HairError, match="NaN or Inf"):
        hsn(torch.full((2, 8), float("nan")))
    out = hsn(torch.randn(2, 8) * 1e3)  # large but representable: a valid (peaked) selection
    assert bool(torch.isfinite(out).all())


def test_data_dependent_checks_stand_aside_while_a_cuda_graph_is_captured(monkeypatch) -> None:
    """A host sync aborts a CUDA-graph capture: the finiteness check of the logits (and autotune's
    timing) must not run then, and must run in every other eager call."""
    from types import SimpleNamespace

    from hairlayers import _checks
    from hairlayers.layers import selecting

    on_cuda = SimpleNamespace(device=torch.device("cuda"))  # only its device is read
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: False)
    assert _checks.host_sync_allowed(on_cuda) and _checks.host_sync_allowed(torch.zeros(1))
    assert not _checks.host_sync_allowed(torch.zeros(1, device="meta"))
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    assert not _checks.host_sync_allowed(on_cuda)
    assert _checks.host_sync_allowed(torch.zeros(1))  # a capture on the GPU does not concern CPU tensors

    hsn = HyperSelectingNet(8, 3)
    monkeypatch.setattr(selecting, "host_sync_allowed", lambda t: False)
    assert torch.isnan(hsn(torch.full((2, 8), float("nan")))).all()  # not checked (cannot be, then)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_giv_of_another_dtype_is_refused_clearly(dtype) -> None:
    conv = HyperConv2d(4, 6, 3, padding=1, num_kernels=3, giv_dim=8)
    with pytest.raises(HairError, match=f"GIV is {dtype}.*selecting net is torch.float32"):
        conv(torch.randn(2, 4, 8, 8), torch.randn(2, 8, dtype=dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts: accepted
        assert conv(torch.randn(2, 4, 8, 8), torch.randn(2, 8, dtype=torch.bfloat16)).shape == (2, 6, 8, 8)


def test_numpy_giv_is_a_type_error() -> None:
    lin = HyperLinear(4, 5, num_kernels=3, giv_dim=8)
    with pytest.raises(TypeError, match="giv must be a Tensor.*ndarray"):
        lin(torch.randn(2, 4), np.zeros((2, 8), dtype=np.float32))
    with pytest.raises(TypeError, match="GIV must be a floating-point"):
        lin(torch.randn(2, 4), torch.zeros(2, 8, dtype=torch.long))


# ------------------------------------------------------------------------------- meta tensors


def test_mixed_ops_infer_shapes_on_meta_like_torch() -> None:
    meta = {"device": "meta"}
    x, select = torch.empty(2, 4, 9, 9, **meta), torch.empty(2, 3, **meta)
    box = torch.empty(3, 6, 4, 3, 3, **meta)
    out = mixed_conv2d(x, select, box, torch.empty(3, 6, **meta), stride=2, padding=1)
    expected = torch.nn.functional.conv2d(x, box[0], stride=2, padding=1)
    assert out.device.type == "meta" and out.shape == expected.shape
    assert mixed_conv2d(x, select, torch.empty(3, 4, 1, 3, 3, **meta), groups=4).shape == (2, 4, 7, 7)
    assert mixed_conv_transpose2d(x, select, torch.empty(3, 4, 2, 2, 2, **meta), stride=2).shape == (2, 2, 18, 18)
    assert mixed_linear(torch.empty(2, 5, 4, **meta), select, torch.empty(3, 6, 4, **meta)).shape == (2, 5, 6)
    with torch.device("meta"):
        conv = HyperConv2d(4, 6, 3, padding=1, num_kernels=3, giv_dim=8)
    assert conv(x, torch.empty(2, 8, **meta)).shape == (2, 6, 9, 9)


# ----------------------------------------------------------------------- weight box, classifier


def test_weight_box_roles_that_encode_alike_are_refused() -> None:
    from hairlayers import WeightBox

    box = WeightBox(num_kernels=2)
    a = box.conv2d("attn.qkv", 4, 4, 1)
    with pytest.raises(HairError, match="'attn.qkv' and 'attn__qkv' would share"):
        box.conv2d("attn__qkv", 4, 4, 1)
    assert box.keys() == ["attn.qkv"]
    b = box.conv2d("attn.qkv", 4, 4, 1)  # the same role still shares
    assert a.weight_box is b.weight_box
    other = WeightBox(num_kernels=2)
    other.conv2d("ffn__in", 4, 4, 1)
    assert other.keys() == ["ffn__in"]  # the name it was given, not a lossy decoding


@pytest.mark.parametrize("kwargs, name", [
    ({"width": 0}, "width"), ({"width": -3}, "width"), ({"width": 2.5}, "width"),
    ({"in_channels": "8"}, "in_channels"), ({"giv_dim": 0}, "giv_dim"), ({"stages": 0}, "stages"),
    ({"blocks_per_stage": -1}, "blocks_per_stage"),
])
def test_giv_classifier_arguments_are_validated(kwargs, name) -> None:
    from hairlayers import GIVClassifier

    args = {"in_channels": 8, "giv_dim": 6, **kwargs}
    with pytest.raises(HairError, match=name):
        GIVClassifier(**args)
    assert GIVClassifier(8, 6, width=4).head.in_channels == 4


# ------------------------------------------------------------------------------------ hairify


def _unet() -> torch.nn.Module:
    import torch.nn as nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
                         nn.Upsample(scale_factor=2), nn.Conv2d(8, 3, 3, padding=1))


@pytest.mark.parametrize("argument", ["include", "exclude"])
def test_hairify_patterns_that_match_nothing_raise_with_close_names(argument) -> None:
    from hairlayers import hairify

    x = torch.randn(2, 3, 16, 16)
    with pytest.raises(HairError, match=rf"{argument} pattern '5x' matches no module.*close names|{argument} pattern '5x' matches no module.*top-level"):
        hairify(_unet(), example_input=x, **{argument: ["4", "5x"]})
    with pytest.raises(TypeError, match=argument):
        hairify(_unet(), example_input=x, **{argument: [4]})
    hairify(_unet(), example_input=x, **{argument: "4"})  # a pattern that matches is fine


def test_hairify_exclude_typo_names_the_close_module() -> None:
    import torch.nn as nn

    from hairlayers import hairify

    net = nn.Sequential()
    net.add_module("body", _unet())
    net.add_module("head", nn.Conv2d(3, 3, 1))
    with pytest.raises(HairError, match=r"exclude pattern 'haed'.*close names: \['head'\]"):
        hairify(net, example_input=torch.randn(2, 3, 16, 16), exclude="haed")
    with pytest.raises(HairError, match="include=\\[\\] selects no layer"):
        hairify(net, example_input=torch.randn(2, 3, 16, 16), include=[])


class _TokenMid(torch.nn.Module):
    """Conv encoder, a channels-last token mixer at the lowest resolution, conv decoder."""

    def __init__(self) -> None:
        import torch.nn as nn

        super().__init__()
        self.enc = nn.Conv2d(3, 12, 3, padding=1)
        self.down = nn.MaxPool2d(4)
        self.norm = nn.LayerNorm(12)
        self.mix = nn.Linear(12, 12)
        self.up = nn.Upsample(scale_factor=4)
        self.dec = nn.Conv2d(12, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.norm(self.down(self.enc(x)).permute(0, 2, 3, 1))  # (B, H, W, C)
        return self.dec(self.up(self.mix(tokens).permute(0, 3, 1, 2)))


def test_hairify_split_on_channels_last_tokens_reads_the_channel_axis() -> None:
    from hairlayers import hairify

    x = torch.randn(2, 3, 20, 32)  # tokens (2, 5, 8, 12): H = 5, W = 8, C = 12
    hair = hairify(_TokenMid(), split="norm", example_input=x)
    assert hair.plan.split.shape == (2, 5, 8, 12)
    convs = [m for m in hair.classifier.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].in_channels == 12  # not H = 5
    assert hair.giv(x).shape == (2, hair.plan.giv_dim)
    assert hair(x).shape == x.shape


def test_hairify_keeps_frozen_layers_frozen() -> None:
    from hairlayers import hairify
    from hairlayers.layers import HyperLayer

    net = _unet()
    net[4].requires_grad_(False)  # the output conv is frozen, the middle one is not
    net[2].bias.requires_grad_(False)
    hair = hairify(net, example_input=torch.randn(2, 3, 16, 16))
    layers = {n: m for n, m in hair.model.named_modules() if isinstance(m, HyperLayer)}
    assert set(layers) == {"2", "4"}
    assert not layers["4"].weight_box.requires_grad and not layers["4"].bias_box.requires_grad
    assert layers["2"].weight_box.requires_grad and not layers["2"].bias_box.requires_grad
    assert all(p.requires_grad for p in hair.classifier.parameters())
    assert all(p.requires_grad for p in hair.selectors.parameters())
