"""Res-HAIR: sizes, per-image kernels, the GIV override, and loading the release's layout."""

from __future__ import annotations

import pytest
import torch

from hairlayers import HairError
from hairlayers.models import create_model, load_pretrained
from hairlayers.models.res_hair import BLOCK_CONVS, HyperLevel, res_hair


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_at_paper_size() -> None:
    assert _count(res_hair(variant="official")) == 28_559_846  # the authors' release
    paper = _count(res_hair())
    assert abs(paper - 29e6) / 29e6 < 0.03, paper  # paper: 29M


@pytest.mark.parametrize("variant", ["paper", "official"])
@pytest.mark.parametrize("batch", [1, 3])
def test_forward_odd_sizes_and_gradients(variant: str, batch: int) -> None:
    torch.manual_seed(0)
    model = res_hair(variant=variant, preset="tiny")
    # The release's classifier attends over the pixels of its last map: give it more than one.
    x = torch.rand(batch, 3, 29, 35) if variant == "paper" else torch.rand(batch, 3, 61, 67)
    y = model(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_images_of_one_batch_get_different_kernels() -> None:
    torch.manual_seed(0)
    model = res_hair(preset="tiny")
    x = torch.stack([torch.rand(3, 32, 32), torch.rand(3, 32, 32) * 0.2])
    giv = model.giv(x)
    assert not torch.allclose(giv[0], giv[1])
    select = model.latent.selectors[0](giv)
    assert not torch.allclose(select[0], select[1])
    # The output of image 0 does not depend on which image shares its batch.
    alone = model(x[:1])
    torch.testing.assert_close(model(x)[:1], alone, atol=1e-5, rtol=1e-5)


def test_given_giv_equals_computed_giv() -> None:
    torch.manual_seed(0)
    model = res_hair(preset="tiny").eval()
    x = torch.rand(2, 3, 24, 40)
    with torch.no_grad():
        torch.testing.assert_close(model(x, giv=model.giv(x)), model(x))


def test_levels_share_one_box_per_level() -> None:
    model = res_hair(preset="mini")
    level: HyperLevel = model.decoder_level2
    assert len(level.blocks) == 3 and len(level.selectors) == 3
    for role in BLOCK_CONVS:
        boxes = {id(block.get_submodule(role).weight_box) for block in level.blocks}
        assert len(boxes) == 1, role
    assert level.box.num_kernels == 7 and model.latent.box.num_kernels == 9
    assert model.decoder_level1.box.weights["attn__qkv"] is not model.decoder_level2.box.weights["attn__qkv"]


def _to_release_layout(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our state_dict in the authors' names: feature.*, extracts.i.net.j, flat kernel_box."""
    theirs: dict[str, torch.Tensor] = {}
    state = model.state_dict()
    levels = [n for n, m in model.named_modules() if isinstance(m, HyperLevel)]
    for key, value in state.items():
        if ".box.weights." in key or key.endswith(".weight_box"):
            continue
        key = key.replace("classifier.", "feature.", 1) if key.startswith("classifier.") else key
        theirs[key.replace(".selectors.", ".extracts.").replace(".fcnn.", ".net.")] = value
    for name in levels:
        box = model.get_submodule(name).box
        flat = [box.weights[r.replace(".", "__")].reshape(box.num_kernels, -1) for r in BLOCK_CONVS]
        theirs[f"{name}.kernel_box"] = torch.cat(flat, dim=1)
    return theirs


def test_loads_the_release_checkpoint_layout(tmp_path) -> None:
    torch.manual_seed(0)
    source = res_hair(variant="official", preset="tiny")
    path = tmp_path / "hair.ckpt"
    # A Lightning file: weights under state_dict, every key prefixed with the module name "net.".
    ckpt = {"epoch": 3, "state_dict": {"net." + k: v for k, v in _to_release_layout(source).items()}}
    torch.save(ckpt, path)
    torch.manual_seed(1)
    target = create_model("res_hair", variant="official", preset="tiny", checkpoint=str(path))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x))


def test_release_layout_of_the_wrong_width_is_refused(tmp_path) -> None:
    theirs = _to_release_layout(res_hair(variant="official", preset="tiny"))
    target = res_hair(variant="official", preset="tiny", dim=24)
    with pytest.raises(HairError, match="kernel_box has shape"):
        load_pretrained(target, {"state_dict": {"net." + k: v for k, v in theirs.items()}})


def test_bad_arguments() -> None:
    with pytest.raises(HairError, match="variant must be one of"):
        res_hair(variant="nope")
    with pytest.raises(HairError, match="num_kernels must give N"):
        res_hair(preset="tiny", num_kernels=(5, 7))


def test_expert_init_copy_starts_every_expert_equal_and_fresh_does_not() -> None:
    torch.manual_seed(0)
    copied = res_hair(preset="tiny", expert_init="copy")
    fresh = res_hair(preset="tiny")
    for net, equal in ((copied, True), (fresh, False)):
        box = net.latent.box.weights["ffn__project_in"]
        assert torch.equal(box[0], box[-1]) is equal
