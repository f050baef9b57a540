"""AirNet / TransWeather + HAIR and + PromptIR: sizes at paper settings, any input, gradients,
state_dict round trips, per-image kernels, the GIV override, and the hyper deformable convolution
against a float64 per-sample reference."""

from __future__ import annotations

import copy
import functools
import io

import pytest
import torch

import hairlayers
from hairlayers.errors import HairError
from hairlayers.models import create_model, model_info
from hairlayers.models.airnet import DGG, SFTLayer
from hairlayers.models.airnet_variants import (
    HyperDCNLayer,
    HyperDeformConv2d,
    HyperDGG,
    airnet_hair,
    airnet_promptir,
)
from hairlayers.models.prompt import PromptedModule
from hairlayers.models.transweather_variants import (
    transweather_hair,
    transweather_promptir,
)
from hairlayers.ops import deform_conv2d

VARIANTS = ["airnet_hair", "airnet_promptir", "transweather_hair", "transweather_promptir"]
HAIR = ["airnet_hair", "transweather_hair"]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@functools.cache
def _built(name: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    # drop_path_rate=0: deterministic training-mode passes
    kwargs = {"drop_path_rate": 0.0} if name.startswith("transweather") else {}
    return create_model(name, preset="tiny", **kwargs)


def build(name: str, seed: int = 0) -> torch.nn.Module:
    """A fresh copy of the tiny model (building TransWeather+HAIR runs hairify: built once)."""
    return copy.deepcopy(_built(name, seed))


def loss_of(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The training objective: AirNet's own loss (L1 + InfoNCE) where the model has it, else L1."""
    target = torch.rand_like(x)
    hook = getattr(model, "training_loss", None)
    if callable(hook):
        return hook(x, target).total
    return (model(x) - target).abs().mean()


# ---------------------------------------------------------------- sizes (counting only)


@pytest.mark.parametrize(
    "name, exact, paper",
    [
        ("airnet_hair", 10_061_241, 10e6),
        ("airnet_promptir", 13_994_460, 14e6),
        ("transweather_promptir", 50_842_722, 51e6),
    ],
)
def test_paper_parameter_counts(name: str, exact: int, paper: float) -> None:
    with torch.device("meta"):
        count = n_params(create_model(name))
    assert count == exact
    assert abs(count - paper) / paper < 0.03


@pytest.mark.slow  # hairify runs the full-size network twice to plan the conversion (~10 s)
def test_transweather_hair_paper_parameter_count() -> None:
    hair = transweather_hair()
    count = n_params(hair)
    assert count == 41_890_315 and abs(count - 42e6) / 42e6 < 0.03
    assert n_params(hair.classifier) == 1_203_584
    assert sum(n_params(s) for s in hair.selectors.values()) == 23_160
    # TransWeather's 37,755,411 plus the shared box's fourth expert of the decoder blocks
    assert count - 1_203_584 - 23_160 == 37_755_411 + 2_908_160


def test_transweather_hair_refuses_the_meta_device() -> None:
    with torch.device("meta"), pytest.raises(NotImplementedError, match="meta"):
        transweather_hair(preset="tiny")


def test_hair_parameter_budget_is_what_the_docs_say() -> None:
    with torch.device("meta"):
        hair, base = create_model("airnet_hair"), create_model("airnet")
    hyper = hair.R
    assert n_params(hyper.classifier) == 378_496
    selectors = [m for m in hair.modules() if isinstance(m, hairlayers.HyperSelectingNet)]
    assert len(selectors) == 20 and sum(n_params(s) for s in selectors) == 154_660
    assert n_params(hair) - n_params(base) == 597_772 + 154_660 + 378_496


# ---------------------------------------------------------------- forward, gradients, state


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("batch, size", [(1, (29, 35)), (3, (33, 20))])
def test_forward_any_size_and_batch(name: str, batch: int, size: tuple[int, int]) -> None:
    model = build(name).eval()
    x = torch.rand(batch, 3, *size)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_forward(name: str, dtype: torch.dtype) -> None:
    model = build(name).eval().to(dtype)
    x = torch.rand(1, 3, 21, 30, dtype=dtype)
    with torch.no_grad():
        y = model(x)
    assert y.dtype == dtype and y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize("name", VARIANTS)
def test_every_trainable_parameter_gets_a_gradient(name: str) -> None:
    model = build(name).train()
    loss_of(model, torch.rand(3, 3, 24, 31)).backward()
    missing = [
        n for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.abs().sum() > 0)
    ]  # fmt: skip
    assert not missing, missing


@pytest.mark.parametrize("name", VARIANTS)
def test_state_dict_round_trip(name: str) -> None:
    a, b = build(name, seed=0).eval(), build(name, seed=1).eval()
    x = torch.rand(2, 3, 27, 21)
    assert any(not torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    with torch.no_grad():
        buffer = io.BytesIO()
        torch.save(a.state_dict(), buffer)
        buffer.seek(0)
        b.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
        torch.testing.assert_close(b(x), a(x), rtol=0, atol=0)


# ---------------------------------------------------------------- HAIR: one GIV per image


def _selects(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    if isinstance(model, hairlayers.HairModel):
        return list(model.selects(x).values())
    giv = model.giv(x)
    return [s(giv) for group in model.R.body if isinstance(group, HyperDGG) for s in group.selectors]


@pytest.mark.parametrize("name", HAIR)
def test_images_of_one_batch_get_different_kernels(name: str) -> None:
    model = build(name).eval()
    x = torch.stack([torch.rand(3, 32, 32), 0.2 * torch.rand(3, 32, 32)])
    with torch.no_grad():
        giv = model.giv(x)
        assert giv.shape[0] == 2 and not torch.allclose(giv[0], giv[1])
        selects = _selects(model, x)
        assert selects and all(s.shape[0] == 2 and not torch.allclose(s[0], s[1]) for s in selects)
        # Per-sample kernels: an image's result does not depend on what shares its batch.
        torch.testing.assert_close(model(x)[:1], model(x[:1]), atol=1e-5, rtol=1e-5)


def _with_giv(model: torch.nn.Module, x: torch.Tensor, giv: torch.Tensor) -> torch.Tensor:
    if isinstance(model, hairlayers.HairModel):
        with model.using_giv(giv):
            return model(x)
    return model(x, giv=giv)


@pytest.mark.parametrize("name", HAIR)
def test_given_giv_equals_computed_giv(name: str) -> None:
    model = build(name).eval()
    x = torch.rand(2, 3, 26, 30)
    with torch.no_grad():
        giv = model.giv(x)
        torch.testing.assert_close(_with_giv(model, x, giv), model(x))
        # A (1, giv_dim) GIV is used for every image of the batch.
        torch.testing.assert_close(_with_giv(model, x, giv[:1]), _with_giv(model, x, giv[:1].expand(2, -1)))
        # The GIV drives the kernels: another one changes what the hyper half computes. (For
        # TransWeather look at the decoder's output: at initialisation its tail passes on the
        # latent at about a thousandth of its size, next to the encoder skips.)
        seen: list[torch.Tensor] = []
        watched = model.model.Tdec if isinstance(model, hairlayers.HairModel) else model
        handle = watched.register_forward_hook(lambda module, args, out: seen.append(out))
        try:
            model(x)
            _with_giv(model, x, giv + 3 * torch.randn_like(giv))
        finally:
            handle.remove()
        assert (seen[0] - seen[1]).abs().max() > 1e-3 * seen[0].abs().max()


def test_airnet_hair_rejects_a_malformed_giv() -> None:
    model = build("airnet_hair").eval()
    with pytest.raises(HairError, match="giv must have shape"):
        model(torch.rand(2, 3, 16, 16), giv=torch.rand(2, 5))


@pytest.mark.parametrize("name", HAIR)
def test_tiled_restore_uses_one_giv(name: str) -> None:
    model = build(name).eval()
    image = torch.rand(3, 40, 52)
    whole = hairlayers.restore(model, image, tile=64)  # fits one tile: the plain forward
    with torch.no_grad():
        torch.testing.assert_close(whole, model(image[None])[0])
    tiled = hairlayers.restore(model, image, tile=32, overlap=8)
    assert tiled.shape == image.shape and torch.isfinite(tiled).all()


# ---------------------------------------------------------------- how the variants are built


def test_airnet_hair_plan() -> None:
    model = airnet_hair(preset="mini")  # 2 groups of 2 blocks: group 0 static, group 1 hyper
    body = model.R.body
    assert model.R.split == 1 and isinstance(body[0], DGG) and isinstance(body[1], HyperDGG)
    group = body[1]
    roles = ["dgm1.dcn", "dgm1.dcn.conv_offset_mask", "dgm2.dcn", "dgm2.dcn.conv_offset_mask", "conv1", "conv2"]
    assert group.box.keys() == roles
    for role in roles:
        first, second = group.body[0].get_submodule(role), group.body[1].get_submodule(role)
        assert first.weight_box is second.weight_box and first.weight_box.shape[0] == 3
    assert isinstance(group.body[0].dgm1.dcn, HyperDCNLayer)
    assert isinstance(group.body[0].dgm1.sft, SFTLayer)  # reads only the encoder's map: static
    assert torch.count_nonzero(group.body[0].dgm1.dcn.conv_offset_mask.weight_box) == 0  # plain conv at step 0
    # the first half is AirNet's, under AirNet's names
    names = set(dict(model.named_parameters()))
    assert {"R.head.0.weight", "R.body.0.body.0.dgm1.dcn.weight", "E.E.encoder_q.E_pre.backbone.0.weight"} <= names


def test_transweather_hair_plan() -> None:
    hair = transweather_hair(preset="tiny", decoder_depth=2)
    assert "Tdec.patch_embed1.proj" in hair.plan.split.describe()
    blocks = hair.plan.blocks
    assert [b.name for b in blocks] == ["Tdec.block1.0", "Tdec.block1.1"]
    assert all(b.num_kernels == 3 for b in blocks)  # decoder depth + 1
    dec = hair.model.Tdec.block1
    for role in ["attn.kv", "attn.proj", "mlp.fc1", "mlp.dwconv.dwconv", "mlp.fc2"]:
        first, second = dec[0].get_submodule(role), dec[1].get_submodule(role)
        assert isinstance(first, hairlayers.HyperLayer) and first.weight_box is second.weight_box
    assert type(dec[0].attn.q) is torch.nn.Linear  # projects the learned queries: static
    assert type(hair.model.convtail.convd32x.conv2d) is torch.nn.ConvTranspose2d  # the tail: static
    # the blocks share boxes although their stochastic-depth rates differ, and keep those rates
    assert [b.drop_path.p for b in dec] == pytest.approx([0.0, 0.1 / 15])


def test_prompt_blocks_sit_in_the_decoder_half() -> None:
    with torch.device("meta"):
        air = airnet_promptir()
        tw = transweather_promptir()
    assert [i for i, g in enumerate(air.R.body) if isinstance(g, PromptedModule)] == [2, 3, 4]
    assert air.R.body[2].prompt.gen.prompts.shape == (5, 64, 67, 67)
    assert isinstance(tw.Tdec, PromptedModule) and isinstance(tw.convtail.dense_4, PromptedModule)
    assert isinstance(tw.convtail.dense_3, PromptedModule)
    shapes = [m.prompt.gen.prompts.shape for m in (tw.Tdec, tw.convtail.dense_4, tw.convtail.dense_3)]
    assert shapes == [(5, 320, 2, 2), (5, 128, 8, 8), (5, 64, 16, 16)]
    assert [m.prompt.in_channels for m in (tw.Tdec, tw.convtail.dense_4, tw.convtail.dense_3)] == [512, 320, 128]


def test_registry_entries() -> None:
    keys = list(model_info("airnet").table6)
    expected = {
        "airnet_hair": (26.27, 0.854),
        "airnet_promptir": (25.67, 0.848),
        "transweather_hair": (27.09, 0.884),
        "transweather_promptir": (26.28, 0.868),
    }
    for name, avg in expected.items():
        info = model_info(name)
        assert list(info.table6) == keys and info.table6["avg"] == avg
        assert info.paper_params and info.license_note


def test_bad_arguments() -> None:
    with pytest.raises(HairError, match="split"):
        airnet_hair(preset="tiny", split=2)
    with pytest.raises(HairError, match="num_kernels"):
        airnet_hair(preset="tiny", num_kernels=0)
    with pytest.raises(HairError, match="prompt_groups"):
        airnet_promptir(preset="tiny", prompt_groups=[1])
    with pytest.raises(HairError, match="prompt_dims"):
        transweather_promptir(preset="tiny", prompt_dims=(8, 8))
    with pytest.raises(HairError, match="unknown preset"):
        transweather_hair(preset="huge")


# ---------------------------------------------------------------- the hyper deformable convolution


@pytest.mark.parametrize("groups, bias", [(1, True), (2, False)])
def test_hyper_deform_conv_matches_a_float64_per_sample_loop(groups: int, bias: bool) -> None:
    torch.manual_seed(0)
    layer = HyperDeformConv2d(4, 6, 3, padding=1, groups=groups, bias=bias, num_kernels=3).double()
    x = torch.randn(3, 4, 7, 9, dtype=torch.float64)
    offset = 2 * torch.randn(3, 18, 7, 9, dtype=torch.float64)
    mask = torch.rand(3, 9, 7, 9, dtype=torch.float64)
    select = torch.softmax(torch.randn(3, 3, dtype=torch.float64), dim=1)
    out = layer(x, offset, mask, select=select)
    for b in range(3):
        weight = sum(select[b, i] * layer.weight_box[i] for i in range(3))
        bias_b = sum(select[b, i] * layer.bias_box[i] for i in range(3)) if bias else None
        expected = deform_conv2d(x[b : b + 1], offset[b : b + 1], weight, bias_b, padding=1, mask=mask[b : b + 1])
        torch.testing.assert_close(out[b : b + 1], expected)
        static = layer.to_static(select=select[b])
        torch.testing.assert_close(static(x[b : b + 1], offset[b : b + 1], mask[b : b + 1]), expected)


def test_hyper_deform_conv_with_its_own_selecting_net() -> None:
    layer = HyperDeformConv2d(4, 4, 3, padding=1, num_kernels=2, giv_dim=8)
    x, offset, giv = torch.randn(2, 4, 6, 6), torch.zeros(2, 18, 6, 6), torch.randn(2, 8)
    torch.testing.assert_close(layer(x, offset, giv=giv), layer(x, offset, select=layer.select(giv)))
    with pytest.raises(HairError, match="without a GIV"):
        layer(x, offset)
    with pytest.raises(HairError, match="4, H, W"):
        layer(torch.randn(2, 3, 6, 6), offset, giv=giv)


def test_hyper_deform_conv_gradients_match_the_per_sample_loop() -> None:
    torch.manual_seed(0)
    layer = HyperDeformConv2d(3, 4, 3, padding=1, num_kernels=3).double()
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    offset = torch.randn(2, 18, 6, 7, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(2, 9, 6, 7, dtype=torch.float64)
    select = torch.softmax(torch.randn(2, 3, dtype=torch.float64), dim=1).requires_grad_()
    upstream = torch.randn(2, 4, 6, 7, dtype=torch.float64)

    def grads(out: torch.Tensor) -> list[torch.Tensor]:
        return torch.autograd.grad((out * upstream).sum(), [x, offset, select, layer.weight_box, layer.bias_box])

    batched = grads(layer(x, offset, mask, select=select))
    loop = grads(torch.cat([
        deform_conv2d(x[b : b + 1], offset[b : b + 1], (select[b, :, None, None, None, None] * layer.weight_box).sum(0),
                      (select[b, :, None] * layer.bias_box).sum(0), padding=1, mask=mask[b : b + 1])
        for b in range(2)
    ]))  # fmt: skip
    for got, want in zip(batched, loop):
        torch.testing.assert_close(got, want)


def test_hyper_deform_conv_repr() -> None:
    layer = HyperDeformConv2d(4, 8, 3, padding=1, groups=2, bias=False, num_kernels=5, giv_dim=16)
    assert layer.extra_repr() == "4, 8, kernel_size=(3, 3), padding=(1, 1), groups=2, bias=False, num_kernels=5, giv_dim=16"
    assert repr(HyperDeformConv2d(2, 2, 3, stride=2, dilation=2, num_kernels=2)) == (
        "HyperDeformConv2d(2, 2, kernel_size=(3, 3), stride=(2, 2), dilation=(2, 2), num_kernels=2)"
    )
