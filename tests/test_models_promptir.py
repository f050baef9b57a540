"""PromptIR and the PromptBlock plug-in: counts, the authors' layout, prompt maths against a
per-sample float64 loop, promptify on a small U-Net, forward/backward on odd sizes."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hairlayers.errors import HairError
from hairlayers.models import create_model, list_models
from hairlayers.models.prompt import PromptBlock, PromptedModule, PromptGen, promptify
from hairlayers.models.promptir import (
    PROMPTIR_UNUSED_KEYS,
    PromptIR,
    promptir,
    remap_promptir_checkpoint,
)
from hairlayers.models.restormer import TransformerBlock


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_build(**kwargs) -> nn.Module:
    with torch.device("meta"):
        return promptir(**kwargs)


# Shapes of the authors' unused layers at dim 48 (facts read from their code).
UNUSED_SHAPES = {
    "chnl_reduce1.weight": (64, 64, 1, 1),
    "chnl_reduce2.weight": (128, 128, 1, 1),
    "chnl_reduce3.weight": (256, 320, 1, 1),
    "reduce_noise_channel_1.weight": (48, 112, 1, 1),
    "reduce_noise_channel_2.weight": (96, 224, 1, 1),
    "reduce_noise_channel_3.weight": (192, 448, 1, 1),
}

# The authors' prompt-part names, spelled out independently of the module under test.
TO_AUTHORS = {
    "prompt_latent.gen.prompts": "prompt3.prompt_param",
    "prompt_latent.gen.linear.": "prompt3.linear_layer.",
    "prompt_latent.gen.conv.": "prompt3.conv3x3.",
    "prompt_latent.fuse.": "noise_level3.",
    "prompt_latent.reduce.": "reduce_noise_level3.",
    "prompt_dec3.gen.prompts": "prompt2.prompt_param",
    "prompt_dec3.gen.linear.": "prompt2.linear_layer.",
    "prompt_dec3.gen.conv.": "prompt2.conv3x3.",
    "prompt_dec3.fuse.": "noise_level2.",
    "prompt_dec3.reduce.": "reduce_noise_level2.",
    "prompt_dec2.gen.prompts": "prompt1.prompt_param",
    "prompt_dec2.gen.linear.": "prompt1.linear_layer.",
    "prompt_dec2.gen.conv.": "prompt1.conv3x3.",
    "prompt_dec2.fuse.": "noise_level1.",
    "prompt_dec2.reduce.": "reduce_noise_level1.",
}


def to_authors(state_dict: dict, with_unused: bool = True) -> dict:
    """Our state_dict in the authors' layout (names, 5-D prompts, unused layers added)."""
    out = {}
    for key, value in state_dict.items():
        for ours, theirs in TO_AUTHORS.items():
            if key.startswith(ours):
                key = theirs + key[len(ours):]
                if theirs.endswith("prompt_param"):
                    value = value.unsqueeze(0)
                break
        out[key] = value
    if with_unused:
        for key, shape in UNUSED_SHAPES.items():
            out[key] = torch.zeros(shape, device=next(iter(state_dict.values())).device)
    return out


# ---------------------------------------------------------------- counts and layout


def test_paper_parameter_count_exact() -> None:
    net = meta_build()
    assert n_params(net) == 35_376_967
    unused = sum(torch.Size(s).numel() for s in UNUSED_SHAPES.values())
    assert unused == 215_296
    assert n_params(net) + unused == 35_592_263  # the count of the authors' code
    assert set(PROMPTIR_UNUSED_KEYS) == set(UNUSED_SHAPES)


def test_preset_parameter_counts() -> None:
    assert n_params(meta_build(preset="mini")) == 2_719_157
    assert n_params(meta_build(preset="tiny")) == 1_255_364


AUTHORS_SHAPES = {
    "prompt3.prompt_param": (1, 5, 320, 16, 16),
    "prompt3.linear_layer.weight": (5, 384),
    "prompt3.linear_layer.bias": (5,),
    "prompt3.conv3x3.weight": (320, 320, 3, 3),
    "noise_level3.attn.temperature": (4, 1, 1),
    "noise_level3.attn.qkv.weight": (2112, 704, 1, 1),
    "reduce_noise_level3.weight": (192, 704, 1, 1),
    "up4_3.body.0.weight": (384, 192, 3, 3),
    "reduce_chan_level3.weight": (192, 288, 1, 1),
    "prompt2.prompt_param": (1, 5, 128, 32, 32),
    "noise_level2.ffn.project_in.weight": (1702, 320, 1, 1),
    "reduce_noise_level2.weight": (192, 320, 1, 1),
    "prompt1.prompt_param": (1, 5, 64, 64, 64),
    "prompt1.linear_layer.weight": (5, 96),
    "noise_level1.norm1.body.weight": (160,),
    "noise_level1.attn.temperature": (4, 1, 1),
    "reduce_noise_level1.weight": (96, 160, 1, 1),
    **UNUSED_SHAPES,
}


def test_authors_layout_maps_onto_ours() -> None:
    ours = meta_build().state_dict()
    theirs = to_authors(ours)
    assert len(theirs) == 548  # entries in the authors' state_dict
    for key, shape in AUTHORS_SHAPES.items():
        assert tuple(theirs[key].shape) == shape, key
    back = remap_promptir_checkpoint(theirs)
    assert list(back) == list(ours)
    assert all(back[k].shape == ours[k].shape for k in ours)


def test_remap_passes_our_own_names_through() -> None:
    sd = promptir(preset="tiny").state_dict()
    assert remap_promptir_checkpoint(sd).keys() == sd.keys()


def test_remap_rejects_batched_prompts() -> None:
    with pytest.raises(HairError, match=r"\(1, L, D, S, S\)"):
        remap_promptir_checkpoint({"prompt1.prompt_param": torch.zeros(2, 5, 4, 3, 3)})


# ---------------------------------------------------------------- prompt maths vs a loop


def ref_prompt_gen(x: torch.Tensor, gen: PromptGen) -> torch.Tensor:
    outs = []
    for i in range(x.shape[0]):
        pooled = x[i].mean(dim=(1, 2))
        logits = gen.linear.weight @ pooled + gen.linear.bias
        w = torch.exp(logits - logits.max())
        w = w / w.sum()
        mixed = sum(w[j] * gen.prompts[j] for j in range(gen.prompts.shape[0]))
        resized = F.interpolate(mixed[None], size=x.shape[-2:], mode="bilinear", align_corners=False)
        outs.append(F.conv2d(resized, gen.conv.weight, padding=1))
    return torch.cat(outs)


@pytest.mark.parametrize("size", [(4, 4), (7, 5), (13, 9)])
def test_prompt_gen_matches_float64_loop(size) -> None:
    gen = PromptGen(6, prompt_dim=4, prompt_len=3, prompt_size=4).double()
    x = torch.randn(3, 6, *size, dtype=torch.float64) * 3
    torch.testing.assert_close(gen(x), ref_prompt_gen(x, gen), rtol=1e-10, atol=1e-10)
    weights = gen.prompt_weights(x)
    assert weights.shape == (3, 3)
    torch.testing.assert_close(weights.sum(1), torch.ones(3, dtype=torch.float64))


def test_prompt_block_is_gen_fuse_reduce() -> None:
    block = PromptBlock(8, prompt_dim=4, prompt_size=4, out_channels=6, num_heads=2).double()
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
    expected = block.reduce(block.fuse(torch.cat([x, ref_prompt_gen(x, block.gen)], 1)))
    torch.testing.assert_close(block(x), expected)
    assert isinstance(block.fuse, TransformerBlock)
    assert block(x).shape == (2, 6, 5, 6)


def test_prompt_block_errors() -> None:
    with pytest.raises(HairError, match="divisible by num_heads=4"):
        PromptBlock(8, prompt_dim=6, num_heads=4)
    with pytest.raises(HairError, match="prompt_len must be a positive int"):
        PromptGen(8, prompt_dim=4, prompt_len=0)
    with pytest.raises(HairError, match=r"\(B, 8, H, W\)"):
        PromptBlock(8, prompt_dim=4)(torch.randn(1, 7, 4, 4))


# ---------------------------------------------------------------- PromptIR forward


@pytest.fixture(scope="module")
def tiny() -> PromptIR:
    torch.manual_seed(0)
    return promptir(preset="tiny").eval()


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(37, 45), (5, 3)])
def test_any_size_and_batch(tiny, batch, size) -> None:
    x = torch.rand(batch, 3, *size)
    with torch.no_grad():
        y = tiny(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_batch_equals_per_sample_loop(tiny) -> None:
    x = torch.rand(3, 3, 21, 30)
    with torch.no_grad():
        looped = torch.cat([tiny(x[i : i + 1]) for i in range(3)])
        torch.testing.assert_close(tiny(x), looped, rtol=1e-5, atol=1e-5)


def test_every_parameter_gets_a_gradient() -> None:
    net = promptir(preset="tiny")
    net(torch.rand(2, 3, 16, 16)).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_state_dict_round_trip(tiny) -> None:
    buffer = io.BytesIO()
    torch.save(tiny.state_dict(), buffer)
    buffer.seek(0)
    other = promptir(preset="tiny").eval()
    other.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(other(x), tiny(x))


def test_bfloat16_forward(tiny) -> None:
    net = promptir(preset="tiny").eval()
    net.load_state_dict(tiny.state_dict())
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        ref = net(x)
        low = net.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    assert (low.float() - ref).abs().max() < 0.1


def test_registry_and_prompt_options() -> None:
    assert "promptir" in list_models()
    net = create_model("promptir", preset="tiny", prompt_dims=(16, 8, 8), prompt_len=3)
    assert net.prompt_latent.gen.prompts.shape == (3, 16, 4, 4)
    assert net.prompt_latent.reduce.out_channels == 64  # the latent block halves 8C -> 4C
    assert net.prompt_dec2.fuse.attn.num_heads == 4  # prompt blocks use level-3 heads
    with pytest.raises(HairError, match="need 3 entries"):
        promptir(preset="tiny", prompt_dims=(8, 8))


# ---------------------------------------------------------------- promptify


class TinyUNet(nn.Module):
    """Two-level U-Net: enc (16 ch) -> down -> mid (32 ch) -> up -> dec (16 ch) -> out."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.GELU())
        self.down = nn.Conv2d(16, 32, 2, stride=2)
        self.mid = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.GELU())
        self.up = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec = nn.Sequential(nn.Conv2d(32, 16, 3, padding=1), nn.GELU())
        self.out = nn.Conv2d(16, 3, 3, padding=1)
        self.unused = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.enc(x)
        m = self.mid(self.down(e))
        d = self.dec(torch.cat([self.up(m), e], 1))
        return self.out(d) + x


def test_promptify_infers_channels_and_sizes() -> None:
    net = TinyUNet().train()
    original_mid = net.mid
    promptify(net, ["mid", "dec.0"], torch.rand(1, 3, 24, 32), prompt_dim=8, num_heads=2)
    assert isinstance(net.mid, PromptedModule) and net.mid.base is original_mid
    assert net.mid.prompt.in_channels == net.mid.prompt.out_channels == 32
    assert net.mid.prompt.gen.prompts.shape == (5, 8, 16, 16)  # max(H, W) at the mid level
    assert isinstance(net.dec[0], PromptedModule)
    assert net.dec[0].prompt.gen.prompts.shape == (5, 8, 32, 32)
    assert net.training and net.mid.prompt.training  # training flag restored and propagated
    y = net(torch.rand(2, 3, 20, 28))
    assert y.shape == (2, 3, 20, 28)
    y.square().mean().backward()
    assert net.mid.prompt.gen.prompts.grad is not None
    assert net.dec[0].prompt.fuse.attn.qkv.weight.grad is not None


def test_promptify_output_equals_manual_composition() -> None:
    torch.manual_seed(1)
    net = TinyUNet().eval()
    promptify(net, {"mid": {"prompt_dim": 4, "prompt_len": 2}}, torch.rand(1, 3, 16, 16),
              prompt_dim=16, num_heads=4)
    block = net.mid.prompt
    assert block.gen.prompts.shape == (2, 4, 8, 8)  # the per-point option wins
    x = torch.rand(2, 3, 16, 16)
    e = net.enc(x)
    m = block(net.mid.base(net.down(e)))
    expected = net.out(net.dec(torch.cat([net.up(m), e], 1))) + x
    torch.testing.assert_close(net(x), expected)


def test_promptify_nested_points_and_restormer() -> None:
    from hairlayers.models.restormer import restormer

    net = restormer(preset="tiny")
    promptify(net, ["decoder_level3", "decoder_level3.0"], torch.rand(1, 3, 32, 32),
              prompt_dim=16, num_heads=4)
    assert isinstance(net.decoder_level3, PromptedModule)
    assert isinstance(net.decoder_level3.base[0], PromptedModule)
    assert net(torch.rand(2, 3, 19, 23)).shape == (2, 3, 19, 23)


def test_promptify_errors() -> None:
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(HairError, match="did you mean 'mid'"):
        promptify(TinyUNet(), ["midd"], x)
    with pytest.raises(HairError, match="did not run"):
        promptify(TinyUNet(), ["unused"], x, prompt_dim=1)
    with pytest.raises(HairError, match="unknown option"):
        promptify(TinyUNet(), {"mid": {"prompt_dims": 4}}, x)
    with pytest.raises(TypeError, match="list of module names"):
        promptify(TinyUNet(), "mid", x)

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.flat = nn.Flatten()

        def forward(self, x):
            return self.flat(x)

    with pytest.raises(HairError, match=r"must return a \(B, C, H, W\) tensor"):
        promptify(Wrapper(), ["flat"], x)
    net = TinyUNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(HairError):
        promptify(net, ["mid", "nope"], x)
    assert net.state_dict().keys() == before.keys()  # nothing changed on failure


def test_promptify_finds_promptirs_places_like_hairify_finds_its_split() -> None:
    from hairlayers.models.prompt import PromptedModule, promptify
    from hairlayers.models.restormer import restormer

    net = restormer(preset="tiny")
    x = torch.rand(2, 3, 32, 32)
    promptify(net, example_input=x, prompt_dim=8, num_heads=1)
    wrapped = [n for n, m in net.named_modules() if isinstance(m, PromptedModule)]
    assert wrapped == ["latent", "decoder_level3", "decoder_level2"]  # PromptIR's three blocks
    assert net(torch.rand(1, 3, 37, 45)).shape == (1, 3, 37, 45)


def test_promptify_on_a_unet_prompts_each_decoder_stage_but_the_last() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from _tiny_models import TinyUNet

    from hairlayers import HairError
    from hairlayers.models.prompt import PromptedModule, promptify

    net = TinyUNet()
    x = torch.rand(2, 3, 32, 32)
    before = net(x).shape
    promptify(net, example_input=x, prompt_dim=4, num_heads=1)
    wrapped = [n for n, m in net.named_modules() if isinstance(m, PromptedModule)]
    assert len(wrapped) >= 1 and net(x).shape == before
    with pytest.raises(HairError, match="split must be 'mid' or an int stage"):
        promptify(TinyUNet(), example_input=x, split="nowhere")
