"""hairify on networks that fold the image batch into a layer's rows (issue 14).

Window attention (Swin family) runs its linears on ``(B·nW, tokens, C)``, video nets on
``(B·T, C, H, W)`` frames, attention code on ``(B·heads, L, d)``, tiled decoders on tiles stacked
into the batch. Image ``b``'s selection must drive exactly the rows that came from image ``b``, at
every input size (the number of windows changes with the size). The reference is always a loop of
``specialize`` over the images: a plain network per image, run on that image alone.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hairlayers.errors import HairError
from hairlayers.layers import HyperLayer, HyperLinear
from hairlayers.transform import HairModel, hairify, specialize, unhairify
from hairlayers.transform import folding
from hairlayers.transform.routing import FoldedRows


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- the networks ----------------------------------------------------------------------------


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B·nW, ws·ws, C)``, the windows of image 0 first (Swin's order)."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """``(B·nW, ws·ws, C)`` -> ``(B, H, W, C)``."""
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


class WindowBlock(nn.Module):
    """Swin-style block on a map: (shifted) window self-attention, then a token MLP."""

    def __init__(self, dim: int, heads: int = 2, ws: int = 4, shift: bool = False) -> None:
        super().__init__()
        self.heads, self.ws, self.shift = heads, ws, ws // 2 if shift else 0
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, c, h, w = x.shape
        t = x.permute(0, 2, 3, 1)
        y = self.norm1(t)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(y, self.ws)
        n, length, _ = windows.shape
        q, k, v = self.qkv(windows).reshape(n, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) * (c // self.heads) ** -0.5).softmax(-1)
        y = self.proj((attn @ v).transpose(1, 2).reshape(n, length, c))
        y = window_reverse(y, self.ws, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        t = t + y
        t = t + self.fc2(F.gelu(self.fc1(self.norm2(t))))
        return t.permute(0, 3, 1, 2)


class WindowUNet(nn.Module):
    """A small Swin U-Net: window blocks at three levels, strided convs down, transposed up.

    Traced at 16×16, the bottleneck (4×4) holds ONE window per image: its linears see B rows
    there and B·nW rows at any larger size.
    """

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.enc1 = WindowBlock(c)
        self.down1 = nn.Conv2d(c, 2 * c, 2, stride=2)
        self.enc2 = WindowBlock(2 * c, shift=True)
        self.down2 = nn.Conv2d(2 * c, 4 * c, 2, stride=2)
        self.bottleneck = nn.Sequential(WindowBlock(4 * c), WindowBlock(4 * c, shift=True))
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.reduce2 = nn.Conv2d(4 * c, 2 * c, 1)
        self.dec2 = nn.Sequential(WindowBlock(2 * c), WindowBlock(2 * c, shift=True))
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec1 = WindowBlock(c, shift=True)
        self.head = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(self.stem(x))
        e2 = self.enc2(self.down1(e1))
        b = self.bottleneck(self.down2(e2))
        d2 = self.dec2(self.reduce2(torch.cat([self.up2(b), e2], 1)))
        return x + self.head(self.dec1(self.up1(d2) + e1))


class VideoNet(nn.Module):
    """Early fusion of T frames ``(B, T, 3, H, W)`` in the encoder, a per-frame decoder on
    ``(B·T, c, h, w)`` (the batch folded with time), frames back to ``(B, T, 3, H, W)``."""

    def __init__(self, frames: int = 3, c: int = 8) -> None:
        super().__init__()
        self.frames, self.c = frames, c
        self.enc = nn.Conv2d(3 * frames, 2 * c, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.mid = nn.Conv2d(2 * c, frames * c, 3, padding=1)
        self.frame_dec = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.GELU(), nn.Conv2d(c, c, 3, padding=1))
        self.up = nn.ConvTranspose2d(c, c, 2, stride=2)
        self.head = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        b, t, _, h, w = video.shape
        f = self.pool(F.gelu(self.enc(video.reshape(b, t * 3, h, w))))
        f = self.mid(f).reshape(b * t, self.c, h // 2, w // 2)  # (B·T, c, h, w): rows b·T + t
        out = self.head(F.gelu(self.up(self.frame_dec(f))))
        return video + out.reshape(b, t, 3, h, w)


class HeadsNet(nn.Module):
    """A token decoder with a per-head projection: ``(B, L, C)`` -> ``(B·heads, L, C/heads)``
    before a Linear (the ``(B·heads)`` reshape of attention code)."""

    def __init__(self, c: int = 8, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.stem = nn.Conv2d(3, 4 * c, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(4 * c)
        self.qkv = nn.Linear(4 * c, 12 * c)
        self.head_mix = nn.Linear(c, c)  # runs on (B·heads, L, d)
        self.proj = nn.Linear(4 * c, 4 * c)
        self.up = nn.ConvTranspose2d(4 * c, 3, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.stem(x)
        b, c, h, w = f.shape
        t = f.flatten(2).transpose(1, 2)
        q, k, v = self.qkv(self.norm(t)).chunk(3, dim=-1)

        def split_heads(z: torch.Tensor) -> torch.Tensor:
            return z.reshape(b, h * w, self.heads, c // self.heads).transpose(1, 2).reshape(b * self.heads, h * w, -1)

        q, k, v = split_heads(q), split_heads(k), self.head_mix(split_heads(v))
        out = ((q @ k.transpose(1, 2)) * q.shape[-1] ** -0.5).softmax(-1) @ v
        out = out.reshape(b, self.heads, h * w, -1).transpose(1, 2).reshape(b, h * w, c)
        t = t + self.proj(out)
        return x + self.up(t.transpose(1, 2).reshape(b, c, h, w))


def _tiles(f: torch.Tensor) -> torch.Tensor:
    """The four quadrants of a map stacked into the batch, quadrant-major: ``(4·B, C, h/2, w/2)``,
    row ``q·B + b`` = quadrant ``q`` of image ``b``."""
    h, w = f.shape[-2] // 2, f.shape[-1] // 2
    return torch.cat([f[..., :h, :w], f[..., :h, w:], f[..., h:, :w], f[..., h:, w:]], 0)


def _untile(t: torch.Tensor) -> torch.Tensor:
    a, b, c, d = t.chunk(4, 0)
    return torch.cat([torch.cat([a, b], -1), torch.cat([c, d], -1)], -2)


class TiledNet(nn.Module):
    """A decoder that processes its map as four tiles stacked into the batch (batch innermost).

    The tiles are no smaller than the split's map, so they are not a resolution stage."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.down = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(c, c, 3, padding=1), nn.MaxPool2d(2))
        self.up1 = nn.ConvTranspose2d(c, c, 2, stride=2)
        self.tile_conv = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.GELU(), nn.Conv2d(c, c, 3, padding=1))
        self.up2 = nn.ConvTranspose2d(c, c, 2, stride=2)
        self.head = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.up1(self.down(F.gelu(self.stem(x))))
        f = _untile(self.tile_conv(_tiles(f)))
        return x + self.head(F.gelu(self.up2(f)))


class SplitOnTilesNet(nn.Module):
    """The lowest map is only ever seen as tiles: the split features fold the batch."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.tile_conv = nn.Conv2d(c, c, 3, padding=1)
        self.up = nn.ConvTranspose2d(c, 3, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.pool(self.stem(x))
        return x + self.up(_untile(self.tile_conv(_tiles(f))))


class SequenceFirstNet(nn.Module):
    """Tokens transposed to sequence-first ``(L, B, C)`` before a Linear: every row holds every image."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, stride=2, padding=1)
        self.mix = nn.Linear(c, c)
        self.up = nn.ConvTranspose2d(c, 3, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.stem(x)
        b, c, h, w = f.shape
        tokens = f.flatten(2).permute(2, 0, 1)  # (L, B, C)
        f = self.mix(tokens).permute(1, 2, 0).reshape(b, c, h, w)
        return x + self.up(f)


class ShuffledWindowsNet(nn.Module):
    """Windows of all images put in a fixed random order before a Linear: no fold of the batch."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, stride=2, padding=1)
        self.mix = nn.Linear(c, c)
        self.up = nn.ConvTranspose2d(c, 3, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.stem(x)
        b, c, h, w = f.shape
        windows = window_partition(f.permute(0, 2, 3, 1), 4)
        order = torch.randperm(windows.shape[0], generator=torch.Generator().manual_seed(3))
        mixed = self.mix(windows[order])[order.argsort()]
        return x + self.up(window_reverse(mixed, 4, h, w).permute(0, 3, 1, 2))


# --- helpers -----------------------------------------------------------------------------------


def _scramble(hair: HairModel) -> None:
    """Selecting nets far from uniform, so that images get clearly different kernels."""
    with torch.no_grad():
        for hsn in hair.selectors.values():
            for p in hsn.parameters():
                p.normal_(0, 0.3)


def _images(batch: int, *size: int) -> torch.Tensor:
    """A batch whose images differ in statistics (and so in GIV and selection)."""
    x = torch.rand(batch, *size)
    return x * torch.linspace(0.5, 3.0, batch).reshape(batch, *([1] * len(size))) + torch.arange(batch).reshape(
        batch, *([1] * len(size)))


def _per_image(hair: HairModel, x: torch.Tensor) -> torch.Tensor:
    """The obviously correct reference: each image through its own specialised plain network."""
    with torch.no_grad():
        return torch.cat([specialize(hair, x[i:i + 1])(x[i:i + 1]) for i in range(x.shape[0])])


def _check_per_image(hair: HairModel, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = hair(x)
    torch.testing.assert_close(out, _per_image(hair, x), rtol=1e-4, atol=1e-5)
    return out


def _set_regroup(hair: HairModel, regroup: bool) -> int:
    """Switch the folded Linears between the fast path (B kernels on (B, k, ...)) and the slow
    one (the selection repeated to every row); returns how many layers were switched."""
    hooks = [h for m in hair.model.modules() if isinstance(m, HyperLinear)
             for h in m._forward_pre_hooks.values() if isinstance(h, FoldedRows) and h.fold != "batch"]
    for hook in hooks:
        hook.regroup = regroup
    return len(hooks)


# --- window attention ----------------------------------------------------------------------------


def test_window_unet_folds_are_measured_at_a_second_size() -> None:
    hair = hairify(WindowUNet(), example_input=torch.rand(2, 3, 16, 16))
    folds = hair.plan.folds
    assert hair.plan.split.name == "down2"
    # windows: batch-major (row b·nW + w), also where the traced size had one window per image
    for name in ("bottleneck.0.qkv", "bottleneck.1.proj", "dec2.0.qkv", "dec1.proj"):
        assert folds[name] == "major", (name, folds[name])
    # the token MLP and the convolutions see one row per image
    for name in ("bottleneck.0.fc1", "dec1.fc2", "up2", "reduce2", "head"):
        assert folds[name] == "batch", (name, folds[name])
    assert "major" in hair.summary()


@pytest.mark.parametrize("size", [(32, 32), (32, 48)])
def test_window_unet_is_the_original_at_init_at_other_sizes(size: tuple[int, int]) -> None:
    model = WindowUNet().double()
    hair = hairify(model, example_input=torch.rand(2, 3, 16, 16, dtype=torch.float64))
    _scramble(hair)  # any mix of identical experts is the original layer
    x = _images(3, 3, *size).double()
    with torch.no_grad():
        torch.testing.assert_close(hair(x), model(x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("size", [(32, 32), (32, 48)])
def test_window_rows_use_their_own_images_kernels(size: tuple[int, int]) -> None:
    hair = hairify(WindowUNet(), example_input=torch.rand(2, 3, 16, 16), init="fresh").eval()
    _scramble(hair)
    x = _images(3, 3, *size)
    selects = hair.selects(x)
    for key, s in selects.items():
        assert not torch.allclose(s[0], s[1], atol=1e-3) and not torch.allclose(s[1], s[2], atol=1e-3), key
    out = _check_per_image(hair, x)
    # different images really get different kernels: image 0's network on image 1 differs
    other = specialize(hair, x[:1])(x[1:2])
    assert not torch.allclose(other, out[1:2], atol=1e-4)


def test_folded_linear_fast_path_equals_the_repeated_selection() -> None:
    hair = hairify(WindowUNet(), example_input=torch.rand(2, 3, 16, 16), init="fresh").eval()
    _scramble(hair)
    x = _images(2, 3, 32, 48)
    with torch.no_grad():
        fast = hair(x)
        assert _set_regroup(hair, False) > 0
        slow = hair(x)
        _set_regroup(hair, True)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(slow, _per_image(hair, x), rtol=1e-4, atol=1e-5)


def test_window_unet_trains_with_folded_rows() -> None:
    hair = hairify(WindowUNet(), example_input=torch.rand(2, 3, 16, 16), init="copy+noise")
    x = _images(2, 3, 32, 32)
    hair(x).square().mean().backward()
    for name in ("bottleneck.0.qkv", "dec1.proj"):
        assert hair.model.get_submodule(name).weight_box.grad.abs().sum() > 0, name
    assert all(p.grad is not None for p in hair.selectors.parameters())


def test_window_unet_round_trips_and_specialises() -> None:
    model = WindowUNet()
    hair = hairify(model, example_input=torch.rand(2, 3, 16, 16))
    back = unhairify(hair)
    assert not any(isinstance(m, HyperLayer) for m in back.modules())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in back.modules())
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(back(x), model(x), rtol=0, atol=0)


def test_window_unet_under_torch_compile() -> None:
    torch._dynamo.reset()
    hair = hairify(WindowUNet(), example_input=torch.rand(2, 3, 16, 16), init="fresh").eval()
    _scramble(hair)
    x = _images(2, 3, 32, 32)
    compiled = torch.compile(hair, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), hair(x), rtol=1e-4, atol=1e-5)


# --- video frames, heads, tiles ------------------------------------------------------------------


def test_video_frames_folded_with_the_batch() -> None:
    model = VideoNet().double()
    hair = hairify(model, example_input=torch.rand(2, 3, 3, 16, 16, dtype=torch.float64))
    assert hair.plan.folds["frame_dec.0"] == "major" and hair.plan.folds["head"] == "major"
    assert hair.plan.folds["mid"] == "batch"
    _scramble(hair)
    x = _images(3, 3, 3, 24, 16).double()
    with torch.no_grad():
        torch.testing.assert_close(hair(x), model(x), rtol=0, atol=1e-10)
    fresh = hairify(VideoNet(), example_input=torch.rand(2, 3, 3, 16, 16), init="fresh").eval()
    _scramble(fresh)
    out = _check_per_image(fresh, _images(3, 3, 3, 24, 16))
    assert out.shape == (3, 3, 3, 24, 16)


def test_heads_folded_with_the_batch() -> None:
    model = HeadsNet().double()
    hair = hairify(model, split="stem", example_input=torch.rand(2, 3, 16, 16, dtype=torch.float64))
    assert hair.plan.folds["head_mix"] == "major" and hair.plan.folds["proj"] == "batch"
    _scramble(hair)
    x = _images(3, 3, 24, 24).double()
    with torch.no_grad():
        torch.testing.assert_close(hair(x), model(x), rtol=0, atol=1e-10)
    fresh = hairify(HeadsNet(), split="stem", example_input=torch.rand(2, 3, 16, 16), init="fresh").eval()
    _scramble(fresh)
    _check_per_image(fresh, _images(3, 3, 24, 24))


def test_tiles_stacked_batch_innermost() -> None:
    model = TiledNet().double()
    hair = hairify(model, example_input=torch.rand(2, 3, 16, 16, dtype=torch.float64))
    assert hair.plan.split.name == "down"
    assert hair.plan.folds["tile_conv.0"] == "minor" and hair.plan.folds["up2"] == "batch"
    _scramble(hair)
    x = _images(3, 3, 32, 24).double()
    with torch.no_grad():
        torch.testing.assert_close(hair(x), model(x), rtol=0, atol=1e-10)
    fresh = hairify(TiledNet(), example_input=torch.rand(2, 3, 16, 16), init="fresh").eval()
    _scramble(fresh)
    _check_per_image(fresh, _images(3, 3, 32, 24))


def test_expand_select_orders() -> None:
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    major = folding.expand_select(s, 6, "major")
    minor = folding.expand_select(s, 6, "minor")
    for r in range(6):  # the definitions, row by row
        assert torch.equal(major[r], s[r // 2]) and torch.equal(minor[r], s[r % 3])


# --- refusals ------------------------------------------------------------------------------------


def test_rows_holding_several_images_are_refused() -> None:
    with pytest.raises(HairError, match=r"'mix'.*row 0 of its 64-row input depends on images \[0, 1\].*"
                                        r"sequence-first.*exclude='mix'"):
        hairify(SequenceFirstNet(), split="stem", example_input=torch.rand(2, 3, 16, 16))
    hair = hairify(SequenceFirstNet(), split="stem", example_input=torch.rand(2, 3, 16, 16), exclude="mix")
    assert hair.plan.static["mix"] == "excluded"


def test_rows_in_no_fold_order_are_refused() -> None:
    with pytest.raises(HairError, match=r"'mix'.*8 rows = 4·2 follow no fold of the batch: row \d+ comes "
                                        r"from image \d.*exclude='mix'"):
        hairify(ShuffledWindowsNet(), split="stem", example_input=torch.rand(2, 3, 16, 16))


def test_split_features_that_fold_the_batch_are_refused() -> None:
    with pytest.raises(HairError, match=r"split features \(the input of 'tile_conv'\) do not hold one row "
                                        r"per image: it has 8 rows for a batch of 2 images.*choose a split"):
        hairify(SplitOnTilesNet(), example_input=torch.rand(2, 3, 16, 16))


def test_a_batch_of_one_cannot_show_the_order() -> None:
    with pytest.raises(HairError, match=r"'tile_conv.0'.*batch of 1.*at least 2 different images"):
        hairify(TiledNet(), example_input=torch.rand(1, 3, 16, 16))


def test_an_unobserved_fold_raises_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the second probe size, the bottleneck's windows (one per image at 16×16) are unseen.
    monkeypatch.setattr(folding, "_larger", lambda args: None)
    hair = hairify(WindowUNet(), example_input=torch.rand(2, 3, 16, 16)).eval()
    assert hair.plan.folds["bottleneck.0.qkv"] == "batch"
    hair(torch.rand(2, 3, 16, 16))  # the traced size still works
    with pytest.raises(HairError, match=r"'bottleneck.0.qkv' gets 8 rows for a batch of 2 images.*one row "
                                        r"per image.*example_input.*exclude='bottleneck.0.qkv'"):
        hair(torch.rand(2, 3, 32, 32))


# --- init="copy" and training ----------------------------------------------------------------------


def _small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ConvTranspose2d(8, 3, 2, stride=2))


def test_training_a_copy_init_model_warns() -> None:
    x = torch.rand(2, 3, 16, 16)
    hair = hairify(_small().eval(), example_input=x)
    assert hair.experts_identical()
    with pytest.warns(UserWarning, match=r"init='copy'.*per-image kernels \(nearly\) equal.*selecting nets.*no gradient.*init='copy\+noise'.*init='fresh'"):
        hair.train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hair.eval()  # eval mode is what init='copy' is for
        with torch.no_grad():
            hair(x)
        for init in ("copy+noise", "fresh"):
            other = hairify(_small(), example_input=x, init=init)
            assert not other.experts_identical()
            other.train()
            other(x).mean().backward()


def test_first_training_step_of_a_copy_init_model_warns_once() -> None:
    x = torch.rand(2, 3, 16, 16)
    hair = hairify(_small(), example_input=x)  # a fresh module is in training mode: no .train() call
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = hair(x)  # a forward alone (checking the function at init) is no training step
    with pytest.warns(UserWarning, match="init='copy'"):
        out.mean().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hair(x).mean().backward()  # once per model


def test_why_copy_init_is_a_bad_start_for_training() -> None:
    """The cause the warning names: with identical experts the selecting nets get no gradient."""
    x = _images(2, 3, 16, 16)

    def selector_gradient(init: str) -> float:
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hair = hairify(_small(), example_input=x, init=init)
            (hair(x) - x.flip(0)).square().mean().backward()
        return sum(float(p.grad.norm()) for p in hair.selectors.parameters())

    assert selector_gradient("copy") < 1e-6  # float rounding of the mix only
    assert selector_gradient("copy+noise") > 1e-4
