"""hairify / specialize / unhairify on tiny networks the tests build themselves."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import torch.nn as nn

from _tiny_models import MODELS, FlatNet, TinyRestormer, TinyUNet, TokenDecoderNet
from hairlayers.errors import HairError
from hairlayers.layers import HyperLayer
from hairlayers.transform import HairModel, hairify, specialize, unhairify

CONVERTIBLE = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # The test machine is shared: two intra-op threads on a loaded CPU make tiny convs 50x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _x(batch: int = 2, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(batch, 3, 32, 32, dtype=dtype)


def _upstream(model: nn.Module, name: str) -> bool:
    return any(name == u or name.startswith(u + ".") for u in type(model).UPSTREAM)


def _scramble_selectors(hair: HairModel) -> None:
    """Make every selecting net clearly non-uniform (a freshly initialised one is nearly uniform)."""
    with torch.no_grad():
        for hsn in hair.selectors.values():
            for p in hsn.parameters():
                p.normal_(0, 0.3)  # larger weights saturate the softmax into the same one-hot


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_split_is_where_a_person_would_put_it(kind: str) -> None:
    model = MODELS[kind]()
    hair = hairify(model, example_input=_x())
    assert hair.plan.split.name == type(model).EXPECTED_SPLIT
    assert hair.plan.split.side == "output"
    assert f"lowest resolution {type(model).EXPECTED_LOWEST}" in hair.plan.split.reason


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_upstream_untouched_and_downstream_hyper(kind: str) -> None:
    model = MODELS[kind]()
    before = {n: (type(m), dict(m.named_parameters())) for n, m in model.named_modules()}
    hair = hairify(model, example_input=_x(), inplace=True)
    assert hair.model is model
    modules = dict(model.named_modules())
    converted = {n for b in hair.plan.blocks for n in b.layers}
    for name, (cls, params) in before.items():
        if _upstream(model, name):
            assert type(modules[name]) is cls, name
            for pname, p in modules[name].named_parameters():
                assert p is params[pname], f"{name}.{pname} is not the same Parameter object"
        elif cls in CONVERTIBLE and name:
            if name in type(model).EXPECTED_STATIC:
                assert type(modules[name]) is cls and name not in converted, name
            else:
                assert isinstance(modules[name], HyperLayer), f"{name} should be hyper"
                assert name in converted
    assert set(hair.plan.static) == set(type(model).EXPECTED_STATIC)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_copy_init_is_the_original_function(kind: str) -> None:
    model = MODELS[kind]().double()
    x = _x(dtype=torch.float64)
    hair = hairify(model, example_input=x)
    _scramble_selectors(hair)  # any convex mix of identical experts is the original layer
    torch.testing.assert_close(hair(x), model(x), rtol=0, atol=1e-10)
    model32 = MODELS[kind]()
    hair32 = hairify(model32, example_input=_x())
    x32 = _x()
    torch.testing.assert_close(hair32(x32), model32(x32), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_images_of_one_batch_get_their_own_kernels(kind: str) -> None:
    model = MODELS[kind]()
    hair = hairify(model, example_input=_x(), init="fresh").eval()
    _scramble_selectors(hair)
    x = torch.cat([_x(batch=1), 4 * torch.rand(1, 3, 32, 32) + 1])  # two images, different statistics
    selects = hair.selects(x)
    assert all(not torch.allclose(s[0], s[1], atol=1e-3) for s in selects.values())
    # Reference: each image alone (batch of 1) — per-sample routing must match the batched call.
    batched = hair(x)
    alone = torch.cat([hair(x[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(batched, alone, rtol=1e-4, atol=1e-5)
    # ... and the images really use different weights: swap the GIVs, the output changes.
    static0 = specialize(hair, x[:1])
    assert not torch.allclose(static0(x[1:]), batched[1:], atol=1e-4)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_gradients_reach_classifier_selecting_nets_and_boxes(kind: str) -> None:
    model = MODELS[kind]()
    hair = hairify(model, example_input=_x(), init="copy+noise")
    hair(_x()).square().mean().backward()
    for name, p in hair.classifier.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"classifier.{name}"
    for key, hsn in hair.selectors.items():
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hsn.parameters()), key
    for block in hair.plan.blocks:
        for name in block.layers:
            box = hair.model.get_submodule(name).weight_box
            assert box.grad is not None and box.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_specialize_equals_hair_on_that_image(kind: str) -> None:
    model = MODELS[kind]()
    hair = hairify(model, example_input=_x(), init="fresh").eval()
    _scramble_selectors(hair)
    x = _x()
    out = hair(x)
    for i in range(2):
        static = specialize(hair, x[i:i + 1])
        assert type(static) is type(model)
        assert not any(isinstance(m, HyperLayer) for m in static.modules())
        assert not any(m._forward_hooks or m._forward_pre_hooks for m in static.modules())
        torch.testing.assert_close(static(x[i:i + 1]), out[i:i + 1], rtol=1e-4, atol=1e-5)
    with pytest.raises(HairError, match="ONE image"):
        specialize(hair, x)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_unhairify_round_trips_the_original(kind: str) -> None:
    model = MODELS[kind]()
    reference = copy.deepcopy(model.state_dict())
    hair = hairify(model, example_input=_x(), init="copy+noise")
    back = unhairify(hair)
    assert [type(m) for m in back.modules()] == [type(m) for m in model.modules()]
    state = back.state_dict()
    assert list(state) == list(reference)
    for key, value in reference.items():
        assert torch.equal(state[key], value), key
    x = _x()
    torch.testing.assert_close(back(x), model(x), rtol=0, atol=0)
    uniform = unhairify(hair, weights="uniform")
    assert [type(m) for m in uniform.modules()] == [type(m) for m in model.modules()]


def test_discovery_leaves_batchnorm_statistics_alone() -> None:
    model = TinyUNet()
    stats = model.enc1[1].running_mean.clone()
    hairify(model, example_input=_x() + 3, inplace=True)
    assert torch.equal(model.enc1[1].running_mean, stats) and model.training


def test_a_hyper_layer_without_giv_raises_instead_of_reusing_a_stale_one() -> None:
    hair = hairify(TinyUNet(), example_input=_x())
    hair(_x())
    with pytest.raises(HairError, match="outside its HairModel"):
        hair.model(_x())
    assert hair(_x(batch=3)).shape == (3, 3, 32, 32)  # a new batch size: vectors are per call


def test_threads_and_data_parallel_get_their_own_vectors() -> None:
    hair = hairify(TokenDecoderNet(), example_input=_x(), init="fresh").eval()
    _scramble_selectors(hair)
    inputs = [_x(batch=b) for b in (1, 2, 3, 2)]
    with torch.no_grad():
        expected = [hair(x) for x in inputs]
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(hair, inputs))
        parallel = nn.DataParallel(hair)(inputs[1])
    for a, b in zip(expected, got):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(parallel, expected[1], rtol=0, atol=0)


def test_deepcopy_is_independent() -> None:
    hair = hairify(TinyUNet(), example_input=_x(), init="fresh").eval()
    twin = copy.deepcopy(hair)
    x = _x()
    torch.testing.assert_close(twin(x), hair(x))
    _scramble_selectors(twin)
    with torch.no_grad():
        for p in twin.classifier.parameters():
            p.add_(1.0)
    assert not torch.allclose(twin(x), hair(x), atol=1e-4)  # the copy's hooks use the copy's nets
    torch.testing.assert_close(hair(x), copy.deepcopy(hair)(x))


def test_split_variants_for_table5() -> None:
    model = TinyRestormer()
    x = _x()
    # stages 32 → 16 → 8 → 16 → 32: split=k is "after stage k"
    names = [hairify(model, k, example_input=x).plan.split.name for k in (1, 2, 3, 4)]
    assert names == ["down1", "down2", "up2", "up1"]
    late = hairify(model, 3, example_input=x)
    converted = {n for b in late.plan.blocks for n in b.layers}
    assert not any(n.startswith("latent") for n in converted) and "reduce2" in converted
    by_input = hairify(model, "latent:input", example_input=x)
    mid = hairify(model, example_input=x)
    assert by_input.plan.split.side == "input"
    assert [b.layers for b in by_input.plan.blocks] == [b.layers for b in mid.plan.blocks]
    assert hairify(model, 0.5, example_input=x).plan.split.name.startswith(("latent", "down2", "encoder2"))
    with pytest.raises(HairError, match="1..4"):
        hairify(model, 5, example_input=x)


def test_blocks_levels_and_box_sharing() -> None:
    model = TinyRestormer()
    x = _x()
    hair = hairify(model, example_input=x, num_kernels=[3, 4, 5], init="fresh")
    blocks = {b.name: b for b in hair.plan.blocks}
    assert blocks["latent.0"].level == 3 and blocks["latent.0"].num_kernels == 5
    assert blocks["decoder1.1"].num_kernels == 3 and blocks["refinement.0"].level == 1
    assert len(blocks["latent.0"].layers) == 6  # the six convolutions of a transformer block
    get = hair.model.get_submodule
    assert get("latent.0.attn.qkv").weight_box is get("latent.1.attn.qkv").weight_box
    assert get("decoder1.0.ffn.dwconv").weight_box is get("refinement.0.ffn.dwconv").weight_box
    assert get("latent.0.attn.qkv").weight_box is not get("decoder2.0.attn.qkv").weight_box
    assert hair.plan.share_boxes and "box level3_TransformerBlock" in hair.summary()
    # copy init: no sharing by default (each block keeps its own weights) ...
    copied = hairify(model, example_input=x, num_kernels={1: 3, 2: 4, 3: 5})
    qkv = copied.model.get_submodule
    assert qkv("latent.0.attn.qkv").weight_box is not qkv("latent.1.attn.qkv").weight_box
    # ... unless asked: then the box starts from the first block's weights
    shared = hairify(model, example_input=x, share_boxes=True)
    box = shared.model.get_submodule("latent.1.attn.qkv").weight_box
    assert box is shared.model.get_submodule("latent.0.attn.qkv").weight_box
    torch.testing.assert_close(box[2], model.latent[0].attn.qkv.weight)
    with pytest.raises(HairError, match="one entry per level"):
        hairify(model, example_input=x, num_kernels=[5, 7])
    lean = hairify(model, example_input=x, blocks_only=True, init="fresh")
    assert {n for n, why in lean.plan.static.items() if "blocks_only" in why} == {
        "up2.0", "reduce2", "up1.0", "output"}
    assert all(len(b.layers) == 6 for b in lean.plan.blocks)
    explicit = hairify(model, example_input=x, block_types=[type(model.latent[0].ffn)])
    assert "latent.0.ffn" in {b.name for b in explicit.plan.blocks}


def test_include_exclude_and_min_params() -> None:
    model = TinyUNet()
    hair = hairify(model, example_input=_x(), exclude=["head"], min_params=300)
    assert hair.plan.static["head"] == "excluded"
    only = hairify(model, example_input=_x(), include="dec2*")
    converted = {n for b in only.plan.blocks for n in b.layers}
    assert converted == {"dec2.0", "dec2.1.conv1", "dec2.1.conv2", "dec2.2.conv1", "dec2.2.conv2"}
    assert only.plan.static["up1"] == "not included"
    small = hairify(model, example_input=_x(), min_params=100)
    assert "min_params" in small.plan.static["head"]  # 8·3 + 3 = 27 parameters


def test_embed_mode_is_the_original_function_at_step_0_and_trains() -> None:
    model = TinyRestormer()
    x = _x()
    hair = hairify(model, example_input=x, mode="embed")
    assert not any(isinstance(m, HyperLayer) for m in hair.modules())
    torch.testing.assert_close(hair(x), model(x), rtol=1e-5, atol=1e-5)
    hair(x).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hair.embeddings.parameters())
    with torch.no_grad():
        for p in hair.embeddings.parameters():
            p.normal_()
    static = specialize(hair, x[:1])
    torch.testing.assert_close(static(x[:1]), hair(x[:1]), rtol=1e-4, atol=1e-5)
    assert "embeddings" in hair.summary()


def test_free_mode_has_one_learned_giv_per_block() -> None:
    model = TinyUNet()
    hair = hairify(model, example_input=_x(), mode="free", init="fresh")
    assert hair.classifier is None and set(hair.free_givs) == set(hair.selectors)
    selects = hair.selects(_x())
    assert all(torch.equal(s[0], s[1]) for s in selects.values())
    with pytest.raises(HairError, match="no classifier"):
        hair.giv(_x())
    hair(_x()).mean().backward()
    assert all(p.grad is not None for p in hair.free_givs.values())
    static = specialize(hair)
    x = _x(batch=1)
    torch.testing.assert_close(static(x), hair(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(HairError, match="no classifier"):
        hairify(model, example_input=_x(), mode="free", classifier=nn.Identity())


def test_custom_classifier_and_giv_shape() -> None:
    classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 12))
    hair = hairify(TinyUNet(), example_input=_x(), classifier=classifier, giv_dim=12)
    assert hair.classifier is classifier and hair.giv(_x()).shape == (2, 12)
    bad = hairify(TinyUNet(), example_input=_x(), classifier=nn.Sequential(nn.Flatten()), giv_dim=12)
    with pytest.raises(HairError, match=r"\(B, giv_dim\)"):
        bad(_x())


def test_summary_and_print() -> None:
    hair = hairify(TinyUNet(), example_input=_x())
    text = hair.summary()
    for needle in ("output of 'pool2'", "input of 'bottleneck'", "lowest resolution", "level 3",
                   "dec2.1 [ResBlock]", "skip_proj: ", "parameters: original"):
        assert needle in text, needle
    assert text.splitlines()[0] in repr(hair)


def test_clear_errors() -> None:
    with pytest.raises(HairError, match="no spatial downsampling"):
        hairify(FlatNet(), example_input=_x())
    with pytest.raises(HairError, match=r"unknown split 'latnet'.*'latent'"):
        hairify(TinyRestormer(), "latnet", example_input=_x())
    with pytest.raises(HairError, match="nothing convertible after the split"):
        hairify(TinyUNet(), "head", example_input=_x())
    with pytest.raises(HairError, match="example input"):
        hairify(TinyUNet(), example_input=torch.randn(2, 5, 32, 32))
    with pytest.raises(TypeError, match="example_input"):
        hairify(TinyUNet(), example_input="image.png")
    with pytest.raises(HairError, match="mode"):
        hairify(TinyUNet(), mode="hypernet")
    with pytest.raises(HairError, match="already a HairModel"):
        hairify(hairify(TinyUNet(), example_input=_x()))


def test_default_example_input() -> None:
    hair = hairify(TinyUNet())
    assert hair.plan.example_shape == (2, 3, 64, 64) and hair.plan.split.name == "pool2"


def _train(hair: nn.Module, steps: int, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    opt = torch.optim.AdamW(hair.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (hair(x) - y).abs().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("kind", ["unet", pytest.param("restormer", marks=pytest.mark.slow)])
def test_trains_under_torch_compile(kind: str) -> None:
    torch._dynamo.reset()
    hair = hairify(MODELS[kind](), example_input=_x(), init="copy+noise")
    twin = copy.deepcopy(hair)
    x, y = _x(), _x()
    eager = _train(hair, 3, x, y)
    # fullgraph: the GIV route (hooks, per-call state, providers) must not break the graph
    compiled = _train(torch.compile(twin, backend="aot_eager", fullgraph=True), 3, x, y)
    assert eager[-1] < eager[0]
    torch.testing.assert_close(torch.tensor(compiled), torch.tensor(eager), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(twin(x), hair(x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_inductor_fullgraph() -> None:
    torch._dynamo.reset()
    hair = hairify(TokenDecoderNet(), example_input=_x(), init="copy+noise")
    x = _x()
    compiled = torch.compile(hair, fullgraph=True)
    torch.testing.assert_close(compiled(x), hair(x), rtol=1e-4, atol=1e-5)


class _CallsHair(nn.Module):
    """Runs another HAIR model on the first three channels (a HAIR model nested in a HAIR model)."""

    def __init__(self, hair: HairModel) -> None:
        super().__init__()
        self.hair = hair

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.hair(features[:, :3]), features[:, 3:]], dim=1)


def test_nested_hair_models_keep_their_own_vectors() -> None:
    inner = hairify(TinyUNet(), example_input=_x(), init="fresh").eval()
    _scramble_selectors(inner)
    model = TinyUNet().eval()
    model.skip_proj = _CallsHair(inner)  # runs in the middle of the outer decoder
    outer = hairify(model, example_input=_x()).eval()
    _scramble_selectors(outer)
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(outer(x), model(x), rtol=1e-5, atol=1e-5)  # copy init
    assert "skip_proj.hair.model.head" not in {n for b in outer.plan.blocks for n in b.layers}
    back = unhairify(outer)
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x), rtol=1e-5, atol=1e-5)  # inner still hooked
    assert outer.training is False and not outer.classifier.training


def test_levels_override_and_state_dict_round_trip(tmp_path) -> None:
    model = TinyRestormer()
    x = _x()
    hair = hairify(model, example_input=x, levels={"refinement*": 3}, num_kernels={1: 3, 2: 4, 3: 5},
                   init="fresh")
    assert {b.name: b.num_kernels for b in hair.plan.blocks}["refinement.0"] == 5
    assert "refinement.0" in hair.summary()
    _scramble_selectors(hair)
    torch.manual_seed(1)
    fresh = hairify(model, example_input=x, levels={"refinement*": 3}, num_kernels={1: 3, 2: 4, 3: 5},
                    init="fresh")
    fresh.load_state_dict(hair.state_dict())
    torch.testing.assert_close(fresh(x), hair(x), rtol=0, atol=0)
    torch.save(hair, tmp_path / "hair.pt")
    loaded = torch.load(tmp_path / "hair.pt", weights_only=False)
    torch.testing.assert_close(loaded(x), hair(x), rtol=0, atol=0)


def test_using_giv_replaces_the_classifier_for_tiles() -> None:
    hair = hairify(TinyUNet(), example_input=_x(), init="fresh").eval()
    _scramble_selectors(hair)
    image = torch.cat([_x(batch=1), 4 * torch.rand(1, 3, 32, 32) + 1])
    tile = image[:, :, :16, :16]
    with torch.no_grad():
        giv = hair.giv(image)
        with hair.using_giv(giv):
            tiled = hair(tile)
            inner = hair.giv(tile)
        own = hair(tile)
        reference = torch.cat([specialize(hair, image[i:i + 1])(tile[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(inner, giv)
    torch.testing.assert_close(tiled, reference, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(own, tiled, atol=1e-4)  # outside the block: the tile's own GIV again
    with pytest.raises(HairError, match="using_giv expects"):
        hair.using_giv(torch.zeros(2, 3))
    import hairlayers  # restore() recognises a HairModel: one whole-image GIV for every tile

    with torch.no_grad():
        assert hairlayers.restore(hair, image[0], tile=16, overlap=4).shape == (3, 32, 32)


@pytest.mark.parametrize("name", ["restormer", "promptir"])
def test_zoo_models_split_at_the_latent_and_keep_their_function(name: str) -> None:
    from hairlayers.models import create_model

    model = create_model(name, preset="tiny").eval()
    x = torch.rand(2, 3, 32, 32)
    hair = hairify(model, example_input=x)
    assert hair.plan.split.describe() == "output of 'down3_4' (= input of 'latent')"  # the paper's 3+4
    assert {b.name for b in hair.plan.blocks} >= {"latent.0", "decoder_level1.0", "output"}
    with torch.no_grad():
        torch.testing.assert_close(hair(x), model(x), rtol=1e-5, atol=1e-5)


def test_blocks_that_differ_only_in_a_parameterless_setting_share_a_box() -> None:
    """Dropout / drop-path rates vary per block in many transformers; the weights can still be shared."""
    from hairlayers.transform.blocks import signature

    a = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Dropout(0.1))
    b = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Dropout(0.3))
    c = nn.Sequential(nn.Conv2d(4, 4, 3, padding=2, dilation=2), nn.Dropout(0.1))
    assert signature(a) == signature(b)
    assert signature(a) != signature(c)  # a parametrised layer's settings still count
