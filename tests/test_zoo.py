"""Every registered model honours the zoo's contract (timm-style tests over list_models())."""

from __future__ import annotations

import pytest
import torch

from hairlayers.models import create_model, list_models, model_info

MODELS = list_models()


def test_the_table6_networks_are_registered() -> None:
    expected = {"restormer", "res_hair", "promptir", "airnet", "airnet_hair", "airnet_promptir",
                "transweather", "transweather_hair", "transweather_promptir"}
    assert expected <= set(MODELS), sorted(expected - set(MODELS))


@pytest.mark.parametrize("name", MODELS)
def test_metadata_for_the_zoo_page(name: str) -> None:
    info = model_info(name)
    assert info.paper_params and info.license_note and info.checkpoint_format
    assert set(info.table6) == {"SOTS", "Rain100L", "BSD68 σ25", "GoPro", "LOLv1", "avg"}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("name", MODELS)
def test_half_precision_forward_on_odd_sizes(name: str, dtype: torch.dtype) -> None:
    model = create_model(name, preset="tiny").eval().to(dtype)
    x = torch.rand(3, 3, 37, 45, dtype=dtype)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and y.dtype == dtype and torch.isfinite(y).all()


@pytest.mark.parametrize("name", MODELS)
def test_batch_independence(name: str) -> None:
    """Sample 0's output does not depend on the other samples of its batch (no leaking state)."""
    model = create_model(name, preset="tiny").eval()
    x = torch.rand(3, 3, 40, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[:1], model(x[:1]), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_one_training_step_under_autocast(name: str) -> None:
    """AMP: float32 parameters, bfloat16 autocast; the loss is the trainer's (AirNet: its own)."""
    from hairlayers.train import loss_of

    model = create_model(name, preset="tiny")
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = loss_of(model, x, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())


# ---------------------------------------------------------------- registry data (issue 13, step 4)


def test_every_model_carries_presets_and_a_table6_row() -> None:
    from hairlayers.models import paper_table6

    for name in list_models():
        info = model_info(name)
        assert {"paper", "mini", "tiny"} <= set(info.presets), name
        row = paper_table6(name)
        assert row["params"].endswith("M"), name
        assert list(row)[1:] == list(info.table6) and list(row)[-1] == "avg", name
        row["params"] = "changed"  # a fresh dict: the registry is not modified
        assert paper_table6(name)["params"] != "changed"


def test_preset_config_names_the_model_on_a_bad_preset() -> None:
    from hairlayers.errors import HairError
    from hairlayers.models._builder import preset_config

    assert preset_config("airnet", "tiny", n_feats=8)["n_feats"] == 8
    with pytest.raises(HairError, match="airnet: unknown preset 'huge'"):
        preset_config("airnet", "huge")
    with pytest.raises(HairError, match="unknown model"):
        preset_config("no_such_model", None)


def test_old_loader_module_path_still_imports() -> None:
    from hairlayers.models import pretrained
    from hairlayers.models.checkpoints import load_pretrained

    assert load_pretrained is pretrained.load_pretrained
