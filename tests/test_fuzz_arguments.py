"""Issue 11, "done means": every public layer and op, driven with random bad arguments, either works
like torch or raises HairError / TypeError / ValueError naming the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hairlayers import (
    GIVClassifier,
    HyperConv2d,
    HyperConvTranspose2d,
    HyperLinear,
    HyperSelectingNet,
    WeightBox,
    restore,
)
from hairlayers.functional import mixed_conv2d, mixed_conv_transpose2d, mixed_linear
from hairlayers.metrics import psnr, ssim

BAD = [0, -1, -7, 1.5, 2.0, "3", "same", "valid", None, True, False, (1,), (1, 2, 3), (0, 1), (2, -1),
       [2, 2], (2, 1), math.nan, np.int64(2), 9, 3, 2, 1]  # a few valid values mixed in
ACCEPTED = (TypeError, ValueError)  # HairError is a ValueError


def _check_error(err: Exception, name: str, torch_refuses: bool = False) -> None:
    """A clear error: an accepted type, naming ``name`` unless torch refuses the same call too
    (then the argument may be valid on its own, the error names what it conflicts with, and it may be
    torch's own error type, e.g. a dilated kernel larger than the input)."""
    assert torch_refuses or isinstance(err, ACCEPTED), f"{type(err).__name__}: {err}"
    assert torch_refuses or name in str(err), f"error for {name!r} does not name it: {type(err).__name__}: {err}"


def _torch_or_raise(build):
    """``build()``'s result, or ``None`` if torch itself refuses the arguments (any exception)."""
    try:
        return build()
    except Exception:  # noqa: BLE001 - torch's own verdict, whatever its type
        return None


# --------------------------------------------------------------------------- layer constructors

CONV = dict(in_channels=4, out_channels=6, kernel_size=3, stride=1, padding=1, dilation=1, groups=2)
CONV_T = dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1,
              groups=2, dilation=1)
LINEAR = dict(in_features=5, out_features=3)
HYPER = dict(num_kernels=3, giv_dim=8, hsn_hidden=(6,))


def _same_function(hyper: nn.Module, static: nn.Module, x: torch.Tensor) -> None:
    """With every expert equal to the torch layer's weights, the hyper layer is that layer."""
    with torch.no_grad():
        hyper.weight_box.copy_(static.weight.unsqueeze(0).expand_as(hyper.weight_box))
        if hyper.bias_box is not None:
            hyper.bias_box.copy_(static.bias.unsqueeze(0).expand_as(hyper.bias_box))
    select = torch.softmax(torch.randn(x.shape[0], hyper.num_kernels, dtype=torch.float64), 1)
    torch.testing.assert_close(hyper(x, select=select), static(x))


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_conv_layers_with_bad_arguments(data) -> None:
    kind = data.draw(st.sampled_from(["conv", "conv_transpose", "linear"]))
    base, hyper_cls, torch_cls = {
        "conv": (CONV, HyperConv2d, nn.Conv2d),
        "conv_transpose": (CONV_T, HyperConvTranspose2d, nn.ConvTranspose2d),
        "linear": (LINEAR, HyperLinear, nn.Linear),
    }[kind]
    name = data.draw(st.sampled_from(sorted(base) + sorted(HYPER)))
    value = data.draw(st.sampled_from(BAD))
    args = {**base, **HYPER, name: value}
    torch_args = {k: v for k, v in args.items() if k in base}
    try:
        hyper = hyper_cls(**args, dtype=torch.float64)
    except Exception as err:  # noqa: BLE001 - the assertion is on its type and message
        _check_error(err, name)
        return
    static = _torch_or_raise(lambda: torch_cls(**torch_args, dtype=torch.float64))
    assert static is not None, f"hairlayers accepted {name}={value!r}, torch refuses it"
    x = torch.randn(2, 4, 7, 7, dtype=torch.float64) if kind != "linear" else torch.randn(2, 3, 5, dtype=torch.float64)
    expected = _torch_or_raise(lambda: static(x))
    select = torch.full((2, hyper.num_kernels), 1 / hyper.num_kernels, dtype=torch.float64)
    try:
        out = hyper(x, select=select)
    except Exception as err:  # noqa: BLE001
        assert expected is None, f"torch runs {name}={value!r} but hairlayers raised {err!r}"
        _check_error(err, name, torch_refuses=True)
        return
    assert expected is not None, f"hairlayers runs {name}={value!r}, torch does not"
    assert out.shape == expected.shape
    if hyper.hsn is not None:
        assert hyper(x, torch.randn(2, hyper.giv_dim, dtype=torch.float64)).shape == out.shape
    _same_function(hyper, static, x)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_selecting_net_classifier_and_box_with_bad_arguments(data) -> None:
    kind = data.draw(st.sampled_from(["hsn", "classifier", "box"]))
    base = {
        "hsn": dict(giv_dim=8, num_kernels=3, hidden=(6,)),
        "classifier": dict(in_channels=4, giv_dim=6, width=4, stages=1, blocks_per_stage=1),
        "box": dict(num_kernels=3),
    }[kind]
    name = data.draw(st.sampled_from(sorted(base)))
    value = data.draw(st.sampled_from(BAD + [(0,), (4, 0), ("4",), ()]))
    args = {**base, name: value}
    try:
        module = {"hsn": HyperSelectingNet, "classifier": GIVClassifier, "box": WeightBox}[kind](**args)
    except Exception as err:  # noqa: BLE001
        _check_error(err, name)
        return
    # accepted: the arguments were valid, and the module computes something finite of the right shape
    if kind == "hsn":
        out = module(torch.randn(2, args["giv_dim"]))
        assert out.shape == (2, args["num_kernels"]) and torch.allclose(out.sum(1), torch.ones(2))
    elif kind == "classifier":
        assert module(torch.randn(2, args["in_channels"], 9, 9)).shape == (2, args["giv_dim"])
    else:
        assert module.conv2d("a.b", 2, 2, 1).weight_box.shape[0] == args["num_kernels"]


# ------------------------------------------------------------------------------------- the ops


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mixed_ops_with_bad_arguments(data) -> None:
    op = data.draw(st.sampled_from(["conv2d", "conv_transpose2d", "linear"]))
    x = torch.randn(2, 4, 7, 7, dtype=torch.float64)
    if op == "conv2d":
        base = dict(stride=1, padding=1, dilation=1, groups=2)
        weight = torch.randn(6, 2, 3, 3, dtype=torch.float64)
    elif op == "conv_transpose2d":
        base = dict(stride=2, padding=1, output_padding=1, dilation=1, groups=2)
        weight = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    else:
        base = {}
        x, weight = torch.randn(2, 3, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    names = sorted(base) + ["select", "weight_box", "bias_box", "backend"]
    name = data.draw(st.sampled_from(names))
    box = weight.unsqueeze(0).expand(3, *weight.shape).contiguous()
    bias = torch.randn(weight.shape[0] if op != "conv_transpose2d" else weight.shape[1] * 2, dtype=torch.float64)
    args = {**base, "select": torch.full((2, 3), 1 / 3, dtype=torch.float64), "weight_box": box,
            "bias_box": bias.expand(3, -1).contiguous(), "backend": "auto"}
    bad_tensors = {
        "select": [torch.ones(3, 3), torch.ones(2, 4, dtype=torch.float64), np.ones((2, 3)), torch.ones(2, 3)],
        "weight_box": [weight, box[:0], box.float(), box.numpy(), box.unsqueeze(0)],
        "bias_box": [bias, torch.ones(3, 1, dtype=torch.float64), "bias", bias.expand(3, -1).float()],
        "backend": ["nope", 3, None, ""],
    }
    args[name] = data.draw(st.sampled_from(bad_tensors.get(name, BAD)))

    def bias_for(value: object) -> torch.Tensor:
        """The bias torch needs when ``groups`` changes a transposed conv's output channels."""
        if op == "conv_transpose2d" and name == "groups" and isinstance(value, int) and value > 0:
            return torch.zeros(weight.shape[1] * value, dtype=torch.float64)
        return bias

    if name == "groups":
        args["bias_box"] = bias_for(args["groups"]).expand(3, -1).contiguous()
        bias = args["bias_box"][0]
    fn = {"conv2d": mixed_conv2d, "conv_transpose2d": mixed_conv_transpose2d, "linear": mixed_linear}[op]
    torch_fn = {"conv2d": F.conv2d, "conv_transpose2d": F.conv_transpose2d, "linear": F.linear}[op]
    ours_only = name in ("select", "weight_box", "bias_box", "backend")
    if ours_only:  # torch's op with the (identical) experts' weights
        expected = _torch_or_raise(lambda: torch_fn(x, args["weight_box"][0], args["bias_box"][0], **base))
    else:
        expected = _torch_or_raise(lambda: torch_fn(x, weight, bias_for(args[name]), **{**base, name: args[name]}))
    try:
        out = fn(x, **args)
    except Exception as err:  # noqa: BLE001
        _check_error(err, name, torch_refuses=expected is None and not ours_only)
        return
    assert expected is not None, f"hairlayers runs {name}={args[name]!r}, torch does not"
    torch.testing.assert_close(out, expected)


# ------------------------------------------------------------------- forward, metrics, restore


@settings(max_examples=60, deadline=None)
@given(giv=st.sampled_from([
    np.zeros((2, 8), dtype=np.float32), torch.zeros(2, 8, dtype=torch.float64), torch.zeros(2, 8, dtype=torch.float16),
    torch.zeros(2, 8, dtype=torch.long), torch.zeros(3, 8), torch.zeros(2, 7), torch.zeros(8), "giv", [0.0] * 8,
    torch.full((2, 8), 3e38), torch.full((2, 8), math.inf),
]), layer=st.sampled_from(["conv", "linear"]))
def test_forward_with_a_bad_giv(giv, layer) -> None:
    module = HyperConv2d(4, 4, 3, num_kernels=3, giv_dim=8) if layer == "conv" else HyperLinear(4, 4, num_kernels=3, giv_dim=8)
    x = torch.randn(2, 4, 5, 5) if layer == "conv" else torch.randn(2, 4)
    with pytest.raises(ACCEPTED) as info:
        module(x, giv)
    assert "GIV" in str(info.value) or "giv" in str(info.value)


@settings(max_examples=60, deadline=None)
@given(metric=st.sampled_from([psnr, ssim]), name=st.sampled_from(["crop_border", "reduction"]),
       value=st.sampled_from(BAD + ["sum", "mean", "none"]))
def test_metrics_with_bad_arguments(metric, name, value) -> None:
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    try:
        out = metric(x, x.flip(-1), **{name: value})
    except Exception as err:  # noqa: BLE001
        _check_error(err, name)
        return
    assert torch.isfinite(out).all()


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["tile", "overlap", "giv_size"]), value=st.sampled_from(BAD))
def test_restore_with_bad_arguments(name, value) -> None:
    x = torch.rand(3, 20, 20)
    try:
        out = restore(nn.Identity(), x, **{"tile": 16, "overlap": 4, "giv_size": 32, name: value})
    except Exception as err:  # noqa: BLE001
        _check_error(err, name)
        return
    torch.testing.assert_close(out, x)


DEFORM = dict(in_channels=4, out_channels=6, kernel_size=3, stride=1, padding=1, dilation=1, groups=2)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(DEFORM) + ["max_elements", "backend"]),
       value=st.sampled_from(BAD + ["torch", "nope"]))
def test_deformable_layer_with_bad_arguments(name, value) -> None:
    from hairlayers.ops import ModulatedDeformConv2d

    args = {**DEFORM, name: value}
    try:
        layer = ModulatedDeformConv2d(**args, dtype=torch.float64)
        x = torch.randn(2, 4, 7, 7, dtype=torch.float64)
        h, w = F.conv2d(x, layer.weight, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                        groups=layer.groups).shape[-2:]
        taps = layer.kernel_size[0] * layer.kernel_size[1]
        out = layer(x, torch.zeros(2, 2 * taps, h, w, dtype=torch.float64), torch.ones(2, taps, h, w, dtype=torch.float64))
    except Exception as err:  # noqa: BLE001
        torch_refuses = _torch_or_raise(lambda: nn.Conv2d(**{k: v for k, v in args.items() if k in DEFORM})(
            torch.randn(2, 4, 7, 7))) is None
        _check_error(err, name, torch_refuses=torch_refuses and name in DEFORM)
        return
    # zero offsets and a unit mask: exactly the plain convolution
    torch.testing.assert_close(out, F.conv2d(x, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups))
