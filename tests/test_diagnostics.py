"""The specialisation diagnostics on models whose selection is known by construction."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from hairlayers import GIVClassifier, HairError, HyperConv2d, HyperSelectingNet
from hairlayers.diagnostics import (
    entropy,
    gradient_norms,
    kernel_separation,
    record_selections,
    selection_summary,
    specialisation_report,
    weight_change,
)
from hairlayers.models import create_model


class KnownSelection(nn.Module):
    """GIV = per-channel image means; one selecting net with a hand-set linear map, one hyper conv.

    ``select = softmax(gain · giv)``, so images bright in channel 0 pick expert 0 and images bright
    in channel 1 pick expert 1.
    """

    def __init__(self, gain: float) -> None:
        super().__init__()
        self.hsn = HyperSelectingNet(giv_dim=2, num_kernels=2, hidden=())
        with torch.no_grad():
            self.hsn.fcnn[0].weight.copy_(gain * torch.eye(2))
            self.hsn.fcnn[0].bias.zero_()
        self.conv = HyperConv2d(2, 1, 1, num_kernels=2, bias=False)
        with torch.no_grad():
            self.conv.weight_box.copy_(torch.tensor([1.0, 0.0, -2.0, 3.0]).reshape(2, 1, 2, 1, 1))

    def giv(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x, select=self.hsn(self.giv(x)))


def _images() -> tuple[torch.Tensor, list[str]]:
    a = torch.zeros(3, 2, 4, 4)
    a[:, 0] = torch.tensor([1.0, 0.8, 0.9])[:, None, None]
    b = torch.zeros(3, 2, 4, 4)
    b[:, 1] = torch.tensor([0.7, 1.0, 0.6])[:, None, None]
    return torch.cat([a, b]), ["a"] * 3 + ["b"] * 3


def test_entropy_of_known_rows() -> None:
    p = torch.tensor([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    torch.testing.assert_close(entropy(p), torch.tensor([math.log(4), 0.0, math.log(2)], dtype=torch.float64))


def test_selection_and_kernel_separation_match_hand_computation() -> None:
    model = KnownSelection(gain=4.0)
    images, labels = _images()
    rec = record_selections(model, images, labels, batch_size=4)  # two batches: 4 + 2 images
    giv = images.mean(dim=(2, 3)).double()
    expected = torch.softmax(4.0 * giv, dim=1)
    torch.testing.assert_close(rec.selects["hsn"], expected)
    torch.testing.assert_close(rec.layer_selects["conv"], expected)
    torch.testing.assert_close(rec.logits["hsn"], 4.0 * giv)
    torch.testing.assert_close(rec.givs, giv)

    summary = selection_summary(rec)
    net = summary["nets"]["hsn"]
    mean_a, mean_b = expected[:3].mean(0), expected[3:].mean(0)
    assert net["tasks"]["a"]["mean_select"] == pytest.approx(mean_a.tolist(), abs=1e-6)
    assert net["tasks"]["a"]["entropy_of_mean"] == pytest.approx(float(entropy(mean_a[None])[0]))
    assert net["tasks"]["b"]["mean_entropy"] == pytest.approx(float(entropy(expected[3:]).mean()))
    assert net["task_distance"] == pytest.approx(0.5 * float((mean_a - mean_b).abs().sum()))
    assert net["logit_std"] == pytest.approx(float((4.0 * giv).std(1, unbiased=False).mean()))
    assert summary["normalised_entropy"] == pytest.approx(float(entropy(expected).mean()) / math.log(2))
    assert summary["normalised_entropy"] < 0.8  # a peaked selection is seen as one
    assert summary["task_entropy"] == pytest.approx(
        {"a": float(entropy(expected[:3]).mean()) / math.log(2), "b": float(entropy(expected[3:]).mean()) / math.log(2)}
    )

    # two experts: the label-mean kernels are 2·|s̄_a,0 − s̄_b,0| expert spreads apart
    kernels = kernel_separation(model, rec)
    assert kernels["layers"]["conv"]["separation"] == pytest.approx(2 * abs(float(mean_a[0] - mean_b[0])))
    w = model.conv.weight_box.detach().double().flatten(1)
    spread = float((w[0] - w[1]).norm() / 2)
    assert kernels["layers"]["conv"]["relative_spread"] == pytest.approx(spread / float(w.mean(0).norm()))


def test_a_selection_that_ignores_the_giv_is_uniform_and_separates_nothing() -> None:
    model = KnownSelection(gain=0.0)
    images, labels = _images()
    report = specialisation_report(model, images, labels, k=2)
    assert report["selection"]["normalised_entropy"] == pytest.approx(1.0)
    assert report["selection"]["task_distance"] == pytest.approx(0.0, abs=1e-12)
    assert report["selection"]["logit_image_std"] == pytest.approx(0.0, abs=1e-12)
    assert report["kernels"]["separation"] == pytest.approx(0.0, abs=1e-12)
    assert report["giv_knn"] == 1.0  # the GIVs themselves do separate the two labels
    assert report["giv_knn_chance"] == 0.5


def test_weight_change_tells_experts_moving_together_from_moving_apart() -> None:
    model = KnownSelection(gain=1.0)
    model.static = nn.Conv2d(1, 1, 1, bias=False)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    step = torch.tensor([0.1, -0.2]).reshape(1, 2, 1, 1)
    with torch.no_grad():
        model.conv.weight_box += step  # the same update for both experts
        model.static.weight.mul_(1.5)
    together = weight_change(initial, model)
    assert together["hyper"]["conv"]["differential"] == pytest.approx(0.0, abs=1e-6)  # float32 rounding
    norms0 = initial["conv.weight_box"].double().flatten(1).norm(dim=1)
    assert together["hyper_relative_change"] == pytest.approx(float((step.double().norm() / norms0).mean()))
    assert together["static"]["static"] == pytest.approx(0.5)
    with torch.no_grad():
        model.conv.weight_box.copy_(initial["conv.weight_box"])
        model.conv.weight_box[0] += step[0]
        model.conv.weight_box[1] -= step[0]  # opposite updates: the mean does not move
    assert weight_change(initial, model)["hyper_differential"] == pytest.approx(1.0)
    assert weight_change(initial, model, within=("nothing",))["hyper"] == {}


def test_gradient_norms_group_parameters_by_role() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.classifier = GIVClassifier(2, 4, width=4, stages=1)
            self.hsn = HyperSelectingNet(4, 3, hidden=(5,))
            self.conv = HyperConv2d(2, 2, 1, num_kernels=3)
            self.head = nn.Conv2d(2, 2, 1)

    net = Net()
    fills = {"classifier": 1.0, "hsn": 2.0, "conv": 3.0, "head": 4.0}
    for name, p in net.named_parameters():
        p.grad = torch.full_like(p, fills[name.split(".")[0]])
    norms = gradient_norms(net)
    for group, module, value in (("classifier", net.classifier, 1.0), ("selecting nets", net.hsn, 2.0),
                                 ("weight boxes", net.conv, 3.0), ("other", net.head, 4.0)):
        numel = sum(p.numel() for p in module.parameters())
        assert norms[group]["numel"] == numel
        assert norms[group]["norm"] == pytest.approx(value * math.sqrt(numel))
        assert norms[group]["rms"] == pytest.approx(value)


def test_record_selections_on_res_hair_sees_every_selector_and_layer() -> None:
    torch.manual_seed(0)
    net = create_model("res_hair", preset="tiny")
    images = torch.rand(3, 3, 24, 24)
    rec = record_selections(net, images, ["x", "y", "x"], batch_size=2)
    assert len(rec.selects) == 5  # latent (2 blocks) + three decoder levels of one block each
    assert all(v.shape == (3, net.latent.box.num_kernels) for k, v in rec.selects.items() if k.startswith("latent"))
    assert len(rec.layer_selects) == 6 * 5  # six generated convolutions per hyper block
    assert rec.givs is not None and rec.givs.shape == (3, net.giv_dim)
    assert net.training  # the training flag is restored


def test_record_selections_refuses_bad_input() -> None:
    model = KnownSelection(gain=1.0)
    with pytest.raises(HairError, match="3 images but 2 labels"):
        record_selections(model, torch.rand(3, 2, 4, 4), ["a", "b"])
    with pytest.raises(HairError, match=r"\(n, C, H, W\)"):
        record_selections(model, torch.rand(2, 4, 4), ["a", "b"])
    with pytest.raises(HairError, match="no selecting nets"):
        record_selections(nn.Conv2d(2, 2, 1), torch.rand(2, 2, 4, 4), ["a", "b"])


# --- the defects the diagnostics found (docs/analysis.md, "Why HAIR did not specialise") -----------


def test_selecting_net_init_keeps_the_givs_variation() -> None:
    """torch's default Linear init shrank the logits' image-to-image spread ~60-fold over four layers."""
    torch.manual_seed(0)
    giv = torch.randn(256, 96)
    hsn = HyperSelectingNet(96, 7)  # the paper's (48, 24, 12) hidden widths
    with torch.no_grad():
        logits = hsn.fcnn(giv)
    assert logits.std(0).mean() > 0.3  # the default init gave about 0.02 here
    assert all(float(m.bias.abs().max()) == 0.0 for m in hsn.fcnn if isinstance(m, nn.Linear))


def test_giv_classifier_passes_gradient_and_image_differences_at_1x1_maps() -> None:
    """A 6x6 split map reaches 1x1 after three stride-2 stages; a two-channel GroupNorm there is a sign function."""
    torch.manual_seed(0)
    clf = GIVClassifier(in_channels=64, giv_dim=32, width=48)
    assert all(m.num_channels // m.num_groups >= 8 for m in clf.modules() if isinstance(m, nn.GroupNorm))
    features = torch.randn(8, 64, 6, 6, requires_grad=True)
    giv = clf(features)
    giv.pow(2).sum().backward()
    assert features.grad.abs().mean() > 1e-4
    # small changes of the input move the GIV smoothly instead of flipping a binary code
    nudged = clf(features.detach() + 1e-3 * torch.randn_like(features))
    assert 0 < float((nudged - giv.detach()).abs().max()) < 0.05
