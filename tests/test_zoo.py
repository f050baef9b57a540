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
