"""Every model of the zoo trains with the trainer (one step, tiny preset) and evaluates."""

from __future__ import annotations

import math

import pytest
import torch

from hairlayers.models import create_model, list_models
from hairlayers.train import TrainConfig, evaluate, train


def _data(n: int, size: int) -> list[tuple[torch.Tensor, torch.Tensor, str]]:
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(n, 3, size, size, generator=g)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    return [(noisy[i], clean[i], "denoise_25") for i in range(n)]


@pytest.mark.slow  # builds and trains every registered model
@pytest.mark.parametrize("name", list_models())
def test_zoo_model_trains_and_evaluates(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, preset="tiny")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(model, _data(2, 32), TrainConfig(steps=1, batch_size=2, progress="off", log_every=1))
    assert result.steps == 1 and math.isfinite(result.final_loss)
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, f"{name}: no parameter changed after a training step"
    scores = evaluate(model, _data(1, 48))
    assert math.isfinite(scores["average"]["psnr"]) and -1 <= scores["average"]["ssim"] <= 1  # SSIM may be < 0
