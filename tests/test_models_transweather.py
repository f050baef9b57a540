"""TransWeather: exact parameter counts (ours and the authors' module), the authors' state_dict
names, attention against float64 loop references, any input size, value mapping, gradients."""

from __future__ import annotations

import io
import math

import pytest
import torch

from hairlayers.errors import HairError
from hairlayers.models import create_model, list_models, load_pretrained, model_info
from hairlayers.models.padding import pad_to_multiple
from hairlayers.models.transweather import (
    TRANSWEATHER_PRESETS,
    TRANSWEATHER_UNUSED_KEYS,
    Attention,
    DecoderAttention,
    DropPath,
    TransWeather,
    remap_transweather_checkpoint,
    transweather,
)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_build(**kwargs) -> TransWeather:
    with torch.device("meta"):
        return transweather(**kwargs)


def authors_state_dict_shapes(
    dims=(64, 128, 320, 512),
    depths=(2, 2, 2, 2),
    sr=(4, 2, 2, 1),
    mlp=2,
    dec_depth=3,
    dec_mlp=4,
    queries=48,
    tail=(16, 8),
) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the authors' ``Transweather().state_dict()``, enumerated from the
    published architecture (transweather_model.py, base_networks.py), unused layers included."""
    shapes: dict[str, tuple[int, ...]] = {}

    def affine(name, out_, *in_shape):
        shapes[f"{name}.weight"] = (out_,) + in_shape
        shapes[f"{name}.bias"] = (out_,)

    def embed(name, cin, cout, k):
        affine(f"{name}.proj", cout, cin, k, k)
        affine(f"{name}.norm", cout)

    def block(name, d, ratio, reduction, decoder=False):
        affine(f"{name}.norm1", d)
        affine(f"{name}.attn.q", d, d)
        affine(f"{name}.attn.kv", 2 * d, d)
        affine(f"{name}.attn.proj", d, d)
        if decoder:
            shapes[f"{name}.attn.task_query"] = (1, queries, d)
        if reduction > 1:
            affine(f"{name}.attn.sr", d, d, reduction, reduction)
            affine(f"{name}.attn.norm", d)
        affine(f"{name}.norm2", d)
        hidden = int(d * ratio)
        affine(f"{name}.mlp.fc1", hidden, d)
        affine(f"{name}.mlp.dwconv.dwconv", hidden, 1, 3, 3)
        affine(f"{name}.mlp.fc2", d, hidden)

    embed("Tenc.patch_embed1", 3, dims[0], 7)
    for i in (1, 2, 3):
        embed(f"Tenc.patch_embed{i + 1}", dims[i - 1], dims[i], 3)
        embed(f"Tenc.mini_patch_embed{i}", dims[i - 1], dims[i], 3)
    embed("Tenc.mini_patch_embed4", dims[0], dims[3], 3)  # built, never used
    for s in range(4):
        for j in range(depths[s]):
            block(f"Tenc.block{s + 1}.{j}", dims[s], mlp, sr[s])
        affine(f"Tenc.norm{s + 1}", dims[s])
    for s in range(3):
        block(f"Tenc.patch_block{s + 1}.0", dims[s + 1], mlp, sr[s])
        affine(f"Tenc.pnorm{s + 1}", dims[s + 1])
    embed("Tdec.patch_embed1", dims[3], dims[3], 3)
    for j in range(dec_depth):
        block(f"Tdec.block1.{j}", dims[3], dec_mlp, 1, decoder=True)
    affine("Tdec.norm1", dims[3])

    def upconv(name, cin, cout):
        shapes[f"convtail.{name}.conv2d.weight"] = (cin, cout, 4, 4)
        shapes[f"convtail.{name}.conv2d.bias"] = (cout,)

    def residual(name, c):
        for conv in ("conv1", "conv2"):
            affine(f"convtail.{name}.0.{conv}.conv2d", c, c, 3, 3)

    upconv("convd32x", dims[3], dims[3])
    upconv("convd16x", dims[3], dims[2])
    residual("dense_4", dims[2])
    upconv("convd8x", dims[2], dims[1])
    residual("dense_3", dims[1])
    upconv("convd4x", dims[1], dims[0])
    residual("dense_2", dims[0])
    upconv("convd2x", dims[0], tail[0])
    residual("dense_1", tail[0])
    upconv("convd1x", tail[0], tail[1])
    affine("convtail.conv_output.conv2d", 3, tail[1], 3, 3)  # built, never used
    affine("clean.conv2d", 3, tail[1], 3, 3)
    return shapes


def _prod(shape) -> int:
    return math.prod(shape)


# ---------------------------------------------------------------- counts and names (paper size)


def test_paper_parameter_counts_exact() -> None:
    """38.05M is the authors' module: our 37,755,411 plus their two never-run layers.

    The reference count is derived here independently, by summing the shapes of every entry of the
    authors' state_dict as enumerated from their published module definitions.
    """
    reference = authors_state_dict_shapes()
    reference_total = sum(_prod(s) for s in reference.values())
    unused = sum(_prod(reference[k]) for k in TRANSWEATHER_UNUSED_KEYS)
    assert reference_total == 38_052_078  # the paper's 38.05M
    assert unused == 296_667
    assert n_params(meta_build()) == 37_755_411 == reference_total - unused


def test_preset_parameter_counts() -> None:
    assert n_params(meta_build(preset="mini")) == 5_811_315
    assert n_params(meta_build(preset="tiny")) == 600_499


def test_state_dict_has_the_authors_names_and_shapes() -> None:
    own = {k: tuple(v.shape) for k, v in meta_build().state_dict().items()}
    theirs = authors_state_dict_shapes()
    assert set(theirs) - set(own) == set(TRANSWEATHER_UNUSED_KEYS)
    assert own == {k: s for k, s in theirs.items() if k not in TRANSWEATHER_UNUSED_KEYS}


def _tiny_authors_shapes():
    cfg = TRANSWEATHER_PRESETS["tiny"]
    return authors_state_dict_shapes(
        dims=cfg["embed_dims"],
        depths=cfg["depths"],
        dec_depth=cfg["decoder_depth"],
        queries=cfg["num_queries"],
    )


def test_authors_state_dict_loads_strictly() -> None:
    gen = torch.Generator().manual_seed(2)
    theirs = {k: torch.randn(s, generator=gen) for k, s in _tiny_authors_shapes().items()}
    model = transweather(preset="tiny")
    # Their training script saves an nn.DataParallel state_dict: every key starts with "module.".
    load_pretrained(model, {"module." + k: v for k, v in theirs.items()})
    own = model.state_dict()
    assert set(own) == set(theirs) - set(TRANSWEATHER_UNUSED_KEYS)
    for key, value in own.items():
        assert torch.equal(value, theirs[key]), key


def test_authors_file_loads_through_create_model(tmp_path) -> None:
    """Their train.py saves ``nn.DataParallel(net).state_dict()`` to a file named ``best``."""
    gen = torch.Generator().manual_seed(3)
    theirs = {"module." + k: torch.randn(s, generator=gen) for k, s in _tiny_authors_shapes().items()}
    path = tmp_path / "best"
    torch.save(theirs, path)
    model = create_model("transweather", preset="tiny", checkpoint=str(path))
    assert torch.equal(model.clean.conv2d.weight, theirs["module.clean.conv2d.weight"])


def test_remap_drops_only_the_unused_layers() -> None:
    sd = {k: torch.zeros(1) for k in _tiny_authors_shapes()}
    remapped = remap_transweather_checkpoint(sd)
    assert set(sd) - set(remapped) == set(TRANSWEATHER_UNUSED_KEYS)


def test_registry_entry() -> None:
    assert "transweather" in list_models()
    info = model_info("transweather")
    assert info.table6["avg"] == (25.22, 0.836)
    assert info.remap_checkpoint is remap_transweather_checkpoint
    assert isinstance(create_model("transweather", preset="tiny"), TransWeather)


# ---------------------------------------------------------------- attention against loops


def _loop_attention(q, k, v):
    """softmax(q·kᵀ/√d)·v for one head, row by row, float64."""
    out = torch.empty_like(q)
    for i in range(q.shape[0]):
        weights = torch.softmax((k @ q[i]) / math.sqrt(q.shape[1]), dim=0)
        out[i] = weights @ v
    return out


def _reduced_kv(attn, tokens, h, w):
    x = tokens
    if attn.sr_ratio > 1:
        m = x.transpose(0, 1).reshape(1, -1, h, w)
        x = attn.norm(attn.sr(m).flatten(2)[0].transpose(0, 1))
    kv = attn.kv(x)
    d = tokens.shape[1]
    return kv[:, :d], kv[:, d:]


@pytest.mark.parametrize("sr", [1, 2])
def test_encoder_attention_matches_loop(sr: int) -> None:
    attn = Attention(8, heads=2, sr_ratio=sr).double()
    h, w = 4, 6
    tokens = torch.randn(2, h * w, 8, dtype=torch.float64)
    got = attn(tokens, h, w)
    for b in range(2):
        k, v = _reduced_kv(attn, tokens[b], h, w)
        q = attn.q(tokens[b])
        heads = [
            _loop_attention(q[:, 4 * j : 4 * j + 4], k[:, 4 * j : 4 * j + 4], v[:, 4 * j : 4 * j + 4])
            for j in range(2)
        ]
        torch.testing.assert_close(got[b], attn.proj(torch.cat(heads, dim=1)), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("length", [5, 48, 70])
def test_decoder_attention_uses_weather_queries(length: int) -> None:
    """Token i is answered by query floor(i·48/N) (nearest resampling), whatever the image says."""
    attn = DecoderAttention(8, heads=2, num_queries=48).double()
    tokens = torch.randn(2, length, 8, dtype=torch.float64)
    got = attn(tokens, 1, length)
    queries = attn.q(attn.task_query[0])
    for b in range(2):
        k, v = _reduced_kv(attn, tokens[b], 1, length)
        q = queries[[math.floor(i * 48 / length) for i in range(length)]]
        heads = [
            _loop_attention(q[:, 4 * j : 4 * j + 4], k[:, 4 * j : 4 * j + 4], v[:, 4 * j : 4 * j + 4])
            for j in range(2)
        ]
        torch.testing.assert_close(got[b], attn.proj(torch.cat(heads, dim=1)), rtol=1e-10, atol=1e-10)


def test_drop_path() -> None:
    layer = DropPath(0.5)
    x = torch.ones(1000, 3)
    assert torch.equal(layer.eval()(x), x)
    y = layer.train()(x)
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(y[:, 0], y[:, 1])  # whole samples are dropped


# ---------------------------------------------------------------- the network


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(37, 45), (80, 96)])
def test_forward_any_size(batch: int, size: tuple[int, int]) -> None:
    model = transweather(preset="tiny").eval()
    x = torch.rand(batch, 3, *size)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all() and y.abs().max() < 1  # a tanh output


def test_padding_and_value_mapping() -> None:
    """[0, 1] in; the encoder sees the reflection-padded image mapped to [-1, 1]; cropped back."""
    model = transweather(preset="tiny").eval()
    seen = []
    model.Tenc.patch_embed1.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    x = torch.rand(2, 3, 37, 45)  # below the 64-pixel minimum: padded to 64 x 64
    with torch.no_grad():
        y = model(x)
        padded, crop = pad_to_multiple(x, 64)
        torch.testing.assert_close(seen[0], 2 * padded - 1)
        skips = model.Tenc(2 * padded - 1)
        expected = crop(torch.tanh(model.clean(model.convtail(skips, model.Tdec(skips[3])))))
    torch.testing.assert_close(y, expected)
    x = torch.rand(1, 3, 80, 100)  # large enough: padded to a multiple of 16 only
    with torch.no_grad():
        model(x)
    assert tuple(seen[-1].shape[-2:]) == (80, 112)


def test_every_parameter_gets_a_gradient() -> None:
    model = transweather(preset="tiny", drop_path_rate=0.0).train()
    x = torch.rand(3, 3, 37, 45)
    (model(x) - torch.rand_like(x)).abs().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_state_dict_round_trip() -> None:
    a, b = transweather(preset="tiny").eval(), transweather(preset="tiny").eval()
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    x = torch.rand(2, 3, 40, 36)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_bad_arguments() -> None:
    with pytest.raises(HairError, match=r"\(B, 3, H, W\)"):
        transweather(preset="tiny")(torch.rand(1, 1, 64, 64))
    with pytest.raises(HairError, match="embed_dims"):
        transweather(preset="tiny", embed_dims=(16, 32, 64))
    with pytest.raises(HairError, match="divisible"):
        transweather(preset="tiny", num_heads=(1, 3, 2, 2))
    with pytest.raises(HairError, match="unknown preset"):
        transweather(preset="large")
