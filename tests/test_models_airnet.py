"""AirNet: exact parameter counts, the authors' state_dict names, shapes on odd sizes, gradients,
MoCo bookkeeping (momentum key encoder, queue) and the joint training loss."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from hairlayers.errors import HairError
from hairlayers.models import create_model, list_models, load_pretrained, model_info
from hairlayers.models.airnet import AIRNET_PRESETS, AirNet, DCNLayer, airnet


def n_params(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def meta_build(**kwargs) -> AirNet:
    with torch.device("meta"):
        return airnet(**kwargs)


def authors_state_dict_shapes(
    n_feats=64, n_groups=5, n_blocks=5, dims=(64, 128, 256), queue=1280, k=3, c=3
) -> dict[str, tuple[int, ...]]:
    """The key names and shapes of the authors' ``AirNet(opt).state_dict()``, enumerated from
    the published architecture (module names of net/DGRN.py, net/encoder.py, net/moco.py)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name, cin, cout, kk, bias=True):
        shapes[f"{name}.weight"] = (cout, cin, kk, kk)
        if bias:
            shapes[f"{name}.bias"] = (cout,)

    def bn(name, ch):
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.{leaf}"] = (ch,)
        shapes[f"{name}.num_batches_tracked"] = ()

    conv("R.head.0", c, n_feats, k)
    for g in range(n_groups):
        for b in range(n_blocks):
            block = f"R.body.{g}.body.{b}"
            for dgm in ("dgm1", "dgm2"):
                shapes[f"{block}.{dgm}.dcn.weight"] = (n_feats, n_feats, k, k)
                conv(f"{block}.{dgm}.dcn.conv_offset_mask", n_feats + dims[0], 3 * k * k, k)
                for branch in ("conv_gamma", "conv_beta"):
                    conv(f"{block}.{dgm}.sft.{branch}.0", dims[0], n_feats, 1, bias=False)
                    conv(f"{block}.{dgm}.sft.{branch}.2", n_feats, n_feats, 1, bias=False)
            conv(f"{block}.conv1", n_feats, n_feats, k)
            conv(f"{block}.conv2", n_feats, n_feats, k)
        conv(f"R.body.{g}.body.{n_blocks}", n_feats, n_feats, k)
    conv(f"R.body.{n_groups}", n_feats, n_feats, k)
    conv("R.tail.0", n_feats, c, k)
    for enc in ("encoder_q", "encoder_k"):
        for name, cin, cout in (("E_pre", c, dims[0]), ("E.0", dims[0], dims[1]), ("E.1", dims[1], dims[2])):
            prefix = f"E.E.{enc}.{name}"
            conv(f"{prefix}.backbone.0", cin, cout, 3, bias=False)
            bn(f"{prefix}.backbone.1", cout)
            conv(f"{prefix}.backbone.3", cout, cout, 3, bias=False)
            bn(f"{prefix}.backbone.4", cout)
            conv(f"{prefix}.shortcut.0", cin, cout, 1, bias=False)
            bn(f"{prefix}.shortcut.1", cout)
        for i in (0, 2):
            shapes[f"E.E.{enc}.mlp.{i}.weight"] = (dims[2], dims[2])
            shapes[f"E.E.{enc}.mlp.{i}.bias"] = (dims[2],)
    shapes["E.E.queue"] = (dims[2], queue)
    shapes["E.E.queue_ptr"] = (1,)
    return shapes


# ---------------------------------------------------------------- counts and names (paper size)


def test_paper_parameter_counts_exact() -> None:
    model = meta_build()
    assert n_params(model) == 8_930_313  # paper: 8.93M
    assert n_params(model, trainable_only=True) == 7_610_377  # paper: 7.61M trainable
    assert n_params(model.moco.encoder_k) == 1_319_936
    assert not any(p.requires_grad for p in model.moco.encoder_k.parameters())


def test_preset_parameter_counts() -> None:
    # Documented in the builder; a change here changes what the CPU reproduction trains.
    assert n_params(meta_build(preset="mini"), trainable_only=True) == 665_883
    assert n_params(meta_build(preset="tiny"), trainable_only=True) == 115_881


def test_state_dict_has_the_authors_names_and_shapes() -> None:
    own = {k: tuple(v.shape) for k, v in meta_build().state_dict().items()}
    assert own == authors_state_dict_shapes()
    assert len(own) == 584


def test_authors_state_dict_loads_strictly() -> None:
    cfg = AIRNET_PRESETS["tiny"]
    shapes = authors_state_dict_shapes(
        cfg["n_feats"], cfg["n_groups"], cfg["n_blocks"], cfg["encoder_dims"], cfg["queue_size"]
    )
    gen = torch.Generator().manual_seed(1)
    theirs = {
        k: (
            torch.randint(0, 7, s)
            if k.endswith(("num_batches_tracked", "queue_ptr"))
            else torch.randn(s, generator=gen)
        )
        for k, s in shapes.items()
    }
    model = airnet(preset="tiny")
    # DataParallel files carry "module."; load_pretrained strips it, then loads strictly.
    load_pretrained(model, {"module." + k: v for k, v in theirs.items()})
    own = model.state_dict()
    for key, value in theirs.items():
        assert torch.equal(own[key], value), key


def test_queue_length_mismatch_is_explained() -> None:
    file = airnet(preset="tiny", queue_size=32).state_dict()
    with pytest.raises(HairError, match=r"E\.E\.queue: file \(64, 32\) vs model \(64, 64\)"):
        load_pretrained(airnet(preset="tiny"), file)


def test_registry_entry() -> None:
    assert "airnet" in list_models()
    info = model_info("airnet")
    assert info.table6["avg"] == (25.49, 0.847)
    assert "8.93M" in info.paper_params
    assert isinstance(create_model("airnet", preset="tiny"), AirNet)


# ---------------------------------------------------------------- forward


@pytest.mark.parametrize("batch", [1, 3])
def test_forward_any_size(batch: int) -> None:
    model = airnet(preset="tiny").eval()
    x = torch.rand(batch, 3, 37, 45)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_forward_is_the_authors_eval_path() -> None:
    """Eval output = R(x, inter of the query encoder), with the encoder run in full."""
    model = airnet(preset="tiny").eval()
    x = torch.rand(2, 3, 32, 40)
    with torch.no_grad():
        _, _, inter = model.moco.encoder_q(x)
        torch.testing.assert_close(model(x), model.R(x, inter))


def test_dcn_starts_as_a_plain_convolution_with_mask_half() -> None:
    layer = DCNLayer(8, 4)
    x, inter = torch.randn(2, 8, 9, 11), torch.randn(2, 4, 9, 11)
    torch.testing.assert_close(
        layer(x, inter), 0.5 * F.conv2d(x, layer.weight, padding=1), rtol=1e-5, atol=1e-5
    )


def test_dcn_layer_offsets_follow_the_authors_split() -> None:
    """Offsets are cat(first, second third) of conv_offset_mask, mask the sigmoid of the last third."""
    from hairlayers.ops import deform_conv2d

    layer = DCNLayer(4, 2)
    torch.nn.init.normal_(layer.conv_offset_mask.weight, std=0.3)
    x, inter = torch.randn(2, 4, 6, 7), torch.randn(2, 2, 6, 7)
    raw = layer.conv_offset_mask(torch.cat([x, inter], 1))
    expected = deform_conv2d(x, raw[:, :18], layer.weight, None, 1, 1, 1, torch.sigmoid(raw[:, 18:]))
    torch.testing.assert_close(layer(x, inter), expected)


def test_state_dict_round_trip() -> None:
    a, b = airnet(preset="tiny").eval(), airnet(preset="tiny").eval()
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    x = torch.rand(2, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    assert torch.equal(a.moco.queue, b.moco.queue)


# ---------------------------------------------------------------- training


def test_joint_loss_reaches_every_trainable_parameter() -> None:
    model = airnet(preset="tiny").train()
    losses = model.training_loss(torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32))
    losses.total.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert len(trainable) == len([n for n, _ in model.named_parameters() if ".encoder_k." not in n])
    for name, p in trainable:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    # The key encoder is excluded on purpose: momentum moves it, gradients never do.
    for name, p in model.moco.encoder_k.named_parameters():
        assert not p.requires_grad and p.grad is None, name
    torch.testing.assert_close(losses.total, losses.l1 + 0.1 * losses.contrastive)


def test_encoder_phase_trains_only_the_query_encoder() -> None:
    model = airnet(preset="tiny").train()
    losses = model.training_loss(torch.rand(2, 3, 32, 32), phase="encoder")
    losses.total.backward()
    assert losses.l1 is None and losses.restored is None
    assert all(p.grad is None for p in model.R.parameters())
    assert all(p.grad is not None for p in model.moco.encoder_q.parameters())


def test_momentum_update_and_queue() -> None:
    torch.manual_seed(0)
    model = airnet(preset="tiny", queue_size=8, momentum=0.9).train()
    with torch.no_grad():  # make q and k encoders differ, so the momentum step is visible
        for p in model.moco.encoder_q.parameters():
            p.add_(0.1)
    q_before = [p.detach().clone() for p in model.moco.encoder_q.parameters()]
    k_before = [p.detach().clone() for p in model.moco.encoder_k.parameters()]
    queue_before = model.moco.queue.clone()
    query, key = torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16)
    losses = model.training_loss(query, key=key, phase="encoder")

    for q, k, k_new in zip(q_before, k_before, model.moco.encoder_k.parameters()):
        torch.testing.assert_close(k_new.detach(), 0.9 * k + 0.1 * q)
    # Keys were computed with the *updated* key encoder (in train mode, as the loss used them).
    k_enc = model.moco.encoder_k
    with torch.no_grad():
        keys = F.normalize(k_enc(key)[1], dim=1)
        queries = F.normalize(model.moco.encoder_q(query)[1], dim=1)
    torch.testing.assert_close(model.moco.queue[:, :3], keys.t(), rtol=1e-5, atol=1e-5)
    assert torch.equal(model.moco.queue[:, 3:], queue_before[:, 3:])
    assert int(model.moco.queue_ptr) == 3
    # Logits: positive first, then every queued key before this step's enqueue, over T.
    for b in range(3):
        expected = torch.cat([(queries[b] * keys[b]).sum().view(1), queries[b] @ queue_before]) / 0.07
        torch.testing.assert_close(losses.logits[b].detach(), expected, rtol=1e-4, atol=1e-4)

    model.training_loss(torch.rand(3, 3, 16, 16), phase="encoder")
    model.training_loss(torch.rand(3, 3, 16, 16), phase="encoder")  # wraps around: 6, 7, 0
    assert int(model.moco.queue_ptr) == 1


def test_eval_mode_loss_has_no_side_effects() -> None:
    model = airnet(preset="tiny").eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.training_loss(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16))
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_bad_inputs() -> None:
    model = airnet(preset="tiny")
    with pytest.raises(HairError, match="phase"):
        model.training_loss(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), phase="restorer")
    with pytest.raises(HairError, match="clean"):
        model.training_loss(torch.rand(2, 3, 8, 8))
    with pytest.raises(HairError, match="same shape"):
        model.training_loss(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 9))
    with pytest.raises(HairError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(2, 4, 8, 8))
    with pytest.raises(HairError, match="does not fit a queue"):
        airnet(preset="tiny", queue_size=2).training_loss(torch.rand(3, 3, 8, 8), phase="encoder")
    with pytest.raises(HairError, match="unknown preset"):
        airnet(preset="huge")
    with pytest.raises(HairError, match="encoder_dims"):
        airnet(preset="tiny", encoder_dims=(8, 16))
