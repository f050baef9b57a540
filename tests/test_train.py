"""The trainer: schedule, sampler, determinism, bit-exact resume, loss hook, AMP, evaluation."""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hairlayers.errors import HairError
from hairlayers.train import (
    EpochBatches,
    TrainConfig,
    evaluate,
    format_results,
    latest_checkpoint,
    load_checkpoint,
    make_scheduler,
    paper_lr,
    save_results,
    train,
)
from hairlayers.train.progress import Progress


class TinyNet(nn.Module):
    """A residual conv net with dropout, so that resuming must also restore the torch RNG."""

    def __init__(self, width: int = 6) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.GELU(), nn.Dropout(0.2), nn.Conv2d(width, 3, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class GlobalRngData:
    """Noisy crops drawn with the *global* RNGs (torch and numpy), like many user datasets."""

    def __init__(self, n: int = 8, size: int = 12) -> None:
        g = torch.Generator().manual_seed(123)
        self.images = torch.rand(n, 3, 20, 20, generator=g)
        self.size = size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        top, left = (int(v) for v in torch.randint(0, 20 - self.size + 1, (2,)))
        clean = self.images[i, :, top : top + self.size, left : left + self.size]
        noise = torch.from_numpy(np.random.standard_normal(clean.shape).astype(np.float32))
        return (clean + 0.1 * noise).clamp(0, 1), clean, "denoise_25"


def _config(**kw) -> TrainConfig:
    base = {"steps": 10, "batch_size": 2, "progress": "off", "log_every": 1, "seed": 7}
    base.update(kw)
    return TrainConfig(**base)


def _fresh_model() -> nn.Module:
    torch.manual_seed(0)
    return TinyNet()


def _params_equal(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


# ---------------------------------------------------------------------------------------- schedule


def test_paper_schedule_is_150_plus_10_epochs() -> None:
    lrs = [paper_lr(s, 160) for s in range(160)]
    assert lrs.count(2e-4) == 150 and lrs.count(2e-5) == 10 and lrs[149] == 2e-4 and lrs[150] == 2e-5


@settings(max_examples=25, deadline=None)
@given(total=st.integers(1, 200), fraction=st.sampled_from([0.0, 1 / 16, 0.25, 0.5]))
def test_scheduler_follows_paper_lr(total: int, fraction: float) -> None:
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=2e-4)
    sched = make_scheduler(opt, total, final_fraction=fraction)
    for step in range(total):
        assert math.isclose(opt.param_groups[0]["lr"], paper_lr(step, total, final_fraction=fraction))
        opt.step()
        sched.step()
    low = sum(paper_lr(s, total, final_fraction=fraction) < 2e-4 for s in range(total))
    assert low == math.ceil(total * fraction - 1e-9)  # the low phase is never rounded away


# ----------------------------------------------------------------------------------------- sampler


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 60), batch=st.integers(1, 4), world=st.integers(1, 3), epoch=st.integers(0, 5))
def test_sharded_batches_equal_one_big_batch(n: int, batch: int, world: int, epoch: int) -> None:
    if n < batch * world:
        with pytest.raises(HairError, match="fewer than one global batch"):
            EpochBatches(n, batch, seed=1, world_size=world)
        return
    shards = [EpochBatches(n, batch, seed=1, rank=r, world_size=world).batches(epoch) for r in range(world)]
    single = EpochBatches(n, batch * world, seed=1).batches(epoch)
    assert [list(itertools.chain(*parts)) for parts in zip(*shards)] == single
    flat = list(itertools.chain(*single))
    assert len(set(flat)) == len(flat) == (n // (batch * world)) * batch * world  # no repeats in an epoch
    # resuming at batch k gives the tail of the same epoch
    k = len(single) // 2
    assert EpochBatches(n, batch * world, seed=1).batches(epoch, start=k) == single[k:]


def test_epochs_are_reshuffled_and_seeded() -> None:
    s = EpochBatches(20, 4, seed=3)
    assert s.order(0) != s.order(1)
    assert s.order(1) == EpochBatches(20, 4, seed=3).order(1) != EpochBatches(20, 4, seed=4).order(1)
    assert sorted(s.order(2)) == list(range(20))


# ------------------------------------------------------------------------------------- determinism


def test_training_is_deterministic_and_learns() -> None:
    data = GlobalRngData()
    a, b = _fresh_model(), _fresh_model()
    ra = train(a, data, _config(steps=12, lr=3e-3, final_lr=3e-4))
    rb = train(b, data, _config(steps=12, lr=3e-3, final_lr=3e-4))
    assert _params_equal(a, b)
    assert [r["loss"] for r in ra.history] == [r["loss"] for r in rb.history]
    # the run changes the model and lowers the loss (mean of the first vs last 3 steps)
    losses = [r["loss"] for r in ra.history]
    assert sum(losses[-3:]) < sum(losses[:3])
    assert not _params_equal(a, _fresh_model())
    c = _fresh_model()
    train(c, data, _config(steps=12, lr=3e-3, final_lr=3e-4, seed=8))
    assert not _params_equal(a, c)  # the seed matters


def test_worker_processes_do_not_change_the_data() -> None:
    data = GlobalRngData(n=8)
    a, b = _fresh_model(), _fresh_model()
    train(a, data, _config(steps=5))
    train(b, data, _config(steps=5, num_workers=2))
    assert _params_equal(a, b)


def test_epochs_option_counts_batches() -> None:
    result = train(_fresh_model(), GlobalRngData(n=9), _config(steps=None, epochs=2, batch_size=2))
    assert result.steps == 2 * (9 // 2)
    assert [r["epoch"] for r in result.history] == [0] * 4 + [1] * 4


class _Kill(Exception):
    pass


def _kill_after(step_to_die: int):
    def hook(step: int, stats: dict) -> None:
        if step == step_to_die:
            raise _Kill

    return hook


@pytest.mark.parametrize("stop", [5, 8])  # mid-epoch and at an epoch boundary (4 batches/epoch)
def test_resume_is_bit_exact(tmp_path, stop: int) -> None:
    data = GlobalRngData(n=8)
    total = 11  # crosses two epoch boundaries and the lr drop at step 10
    reference = _fresh_model()
    ref_result = train(reference, data, _config(steps=total))

    model = _fresh_model()
    ckpt = tmp_path / "ckpt"
    with pytest.raises(_Kill):  # checkpoint at `stop`, then killed two steps later
        train(model, data, _config(steps=total, checkpoint_dir=str(ckpt), checkpoint_every=stop), on_step=_kill_after(stop + 2))
    assert latest_checkpoint(ckpt).name == f"step_{stop:08d}.pt"
    assert not _params_equal(model, reference)

    resumed_model = _fresh_model()  # a new process would rebuild the model from scratch
    result = train(resumed_model, data, _config(steps=total, checkpoint_dir=str(ckpt), resume=str(ckpt)))
    assert result.steps == total
    assert _params_equal(resumed_model, reference)
    assert [r["loss"] for r in result.history] == [r["loss"] for r in ref_result.history]
    final = load_checkpoint(ckpt)
    assert final["step"] == total and final["epoch"] == 2


def test_resume_with_builtin_dataset(tmp_path) -> None:
    import hairlayers.data as data_mod
    data = data_mod.BuiltinTrainDataset(patch_size=16, length=6, seed=0)
    reference = _fresh_model()
    train(reference, data, _config(steps=5))
    model = _fresh_model()
    with pytest.raises(_Kill):
        train(model, data, _config(steps=5, checkpoint_dir=str(tmp_path), checkpoint_every=2), on_step=_kill_after(3))
    resumed = _fresh_model()
    train(resumed, data, _config(steps=5, resume=str(tmp_path)))
    assert _params_equal(resumed, reference)


def test_checkpoint_contents_and_keep_last(tmp_path) -> None:
    train(_fresh_model(), GlobalRngData(), _config(steps=6, checkpoint_dir=str(tmp_path), checkpoint_every=2, keep_last=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000004.pt", "step_00000006.pt"]
    state = load_checkpoint(tmp_path / "step_00000004.pt")
    for key in ("model", "optimizer", "scheduler", "scaler", "rng", "epoch", "batch_in_epoch", "config", "history"):
        assert key in state
    assert set(state["rng"][0]) == {"python", "torch", "cuda", "numpy"}
    assert (state["epoch"], state["batch_in_epoch"]) == (1, 0)  # 4 batches/epoch, step 4 ended epoch 0


def test_resume_rejects_other_run_length(tmp_path) -> None:
    train(_fresh_model(), GlobalRngData(), _config(steps=4, checkpoint_dir=str(tmp_path)))
    with pytest.raises(HairError, match="run of 4 steps"):
        train(_fresh_model(), GlobalRngData(), _config(steps=6, resume=str(tmp_path)))
    with pytest.raises(HairError, match="not a hairlayers training checkpoint"):
        torch.save({"x": 1}, tmp_path / "bad.pt")
        load_checkpoint(tmp_path / "bad.pt")


# -------------------------------------------------------------------------------- hook, AMP, errors


class HookNet(TinyNet):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def training_loss(self, degraded: torch.Tensor, clean: torch.Tensor):
        self.calls.append((tuple(degraded.shape), tuple(clean.shape)))
        l1 = (self(degraded) - clean).abs().mean()
        extra = self.body[0].weight.pow(2).mean()
        return l1 + extra, {"extra": extra}


def test_model_loss_hook_replaces_l1() -> None:
    model = HookNet()
    result = train(model, GlobalRngData(), _config(steps=3))
    assert model.calls == [((2, 3, 12, 12), (2, 3, 12, 12))] * 3
    assert all("extra" in r and r["loss"] > r["extra"] > 0 for r in result.history)


def test_hook_may_return_an_object_with_total() -> None:
    from dataclasses import dataclass

    @dataclass
    class Losses:
        total: torch.Tensor
        l1: torch.Tensor
        restored: torch.Tensor  # not a scalar: not logged

    class ObjNet(TinyNet):
        def training_loss(self, degraded, clean):
            out = self(degraded)
            l1 = (out - clean).abs().mean()
            return Losses(total=2 * l1, l1=l1, restored=out)

    result = train(ObjNet(), GlobalRngData(), _config(steps=2))
    assert all(r["loss"] == pytest.approx(2 * r["l1"]) and "restored" not in r for r in result.history)


def test_bad_hook_output_is_reported() -> None:
    class Bad(TinyNet):
        def training_loss(self, degraded, clean):
            return (self(degraded) - clean).abs().mean()

    with pytest.raises(HairError, match="must return \\(loss, logs_dict\\) or an object"):
        train(Bad(), GlobalRngData(), _config(steps=1))


def test_bf16_autocast_on_cpu() -> None:
    model = _fresh_model()
    result = train(model, GlobalRngData(), _config(steps=3, amp=True))
    assert all(math.isfinite(r["loss"]) for r in result.history)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not _params_equal(model, _fresh_model())


def test_config_and_data_errors() -> None:
    with pytest.raises(HairError, match="exactly one of steps or epochs"):
        TrainConfig()
    with pytest.raises(HairError, match="exactly one of steps or epochs"):
        TrainConfig(steps=2, epochs=1)
    with pytest.raises(HairError, match="positive int"):
        TrainConfig(steps=0)
    with pytest.raises(HairError, match="needs checkpoint_dir"):
        TrainConfig(steps=2, checkpoint_every=1)
    with pytest.raises(HairError, match="fewer than one global batch"):
        train(_fresh_model(), GlobalRngData(n=3), _config(batch_size=4))
    with pytest.raises(HairError, match=r"\(degraded, clean, \.\.\.\)"):
        train(_fresh_model(), [torch.rand(3, 8, 8)] * 4, _config(steps=1))
    with pytest.raises(TypeError, match="TrainConfig"):
        train(_fresh_model(), GlobalRngData(), {"steps": 1})


def test_non_finite_loss_stops_the_run() -> None:
    data = [(torch.full((3, 8, 8), float("nan")), torch.zeros(3, 8, 8), "derain")] * 4
    with pytest.raises(HairError, match="loss became nan at step 1"):
        train(_fresh_model(), data, _config(steps=2))


def test_progress_lines_report_loss_and_throughput() -> None:
    out = io.StringIO()
    bar = Progress(total=4, mode="lines", log_every=2, stream=out, desc="t")
    for step in range(1, 5):
        bar.update(step, {"loss": 0.25, "lr": 2e-4, "img/s": 3.0})
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines == ["t step 2/4 loss 0.2500 lr 2.00e-04 img/s 3.0", "t step 4/4 loss 0.2500 lr 2.00e-04 img/s 3.0"]


# --------------------------------------------------------------------------------------- evaluation


class _Shift(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.9 + 0.05


def test_evaluate_matches_scikit_image_per_image() -> None:
    import skimage.metrics as skm
    g = torch.Generator().manual_seed(0)
    items = []
    for k, label in enumerate(["denoise_15", "denoise_25", "derain", "derain", "dehaze"]):
        clean = torch.rand(3, 16 + 8 * (k % 2), 24, generator=g)
        items.append(((clean + 0.05 * torch.randn(clean.shape, generator=g)).clamp(0, 1), clean, label))
    res = evaluate(_Shift(), items)
    ref: dict[str, list[tuple[float, float]]] = {}
    for degraded, clean, label in items:
        out = (degraded.double() * 0.9 + 0.05).clamp(0, 1).permute(1, 2, 0).numpy()
        gt = clean.double().permute(1, 2, 0).numpy()
        ref.setdefault(label, []).append(
            (skm.peak_signal_noise_ratio(gt, out, data_range=1), skm.structural_similarity(gt, out, data_range=1, channel_axis=-1))
        )
    assert list(res["tasks"]) == ["denoise_15", "denoise_25", "derain", "dehaze"]  # σ kept apart
    for label, values in ref.items():
        assert res["tasks"][label]["images"] == len(values)
        assert res["tasks"][label]["psnr"] == pytest.approx(np.mean([p for p, _ in values]), abs=1e-4)
        assert res["tasks"][label]["ssim"] == pytest.approx(np.mean([s for _, s in values]), abs=1e-5)
    assert res["average"]["psnr"] == pytest.approx(np.mean([t["psnr"] for t in res["tasks"].values()]))


def test_evaluate_named_sets_and_modes() -> None:
    clean = torch.full((3, 8, 8), 0.5)
    mixed = [(clean + 0.1, clean, "denoise_15"), (clean + 0.2, clean, "denoise_50")]
    model = _Shift().train()
    res = evaluate(model, {"SOTS": [(clean + 0.1, clean, "dehaze")] * 3, "BSD68": mixed}, max_images=2)
    assert model.training  # mode restored
    assert list(res["tasks"]) == ["SOTS", "BSD68/denoise_15", "BSD68/denoise_50"]
    assert res["tasks"]["SOTS"]["images"] == 2 and res["images"] == 4
    table = format_results({"shift": res})
    assert table.splitlines()[0].split(" | ")[0].strip() == "model" and "SOTS" in table


def test_evaluate_rejects_shape_change_and_saves_json(tmp_path) -> None:
    clean = torch.rand(3, 8, 8)
    with pytest.raises(HairError, match="differs from input"):
        evaluate(nn.Conv2d(3, 3, 3), [(clean, clean, "derain")])
    res = evaluate(nn.Identity(), [(clean, clean, "derain")])
    assert res["tasks"]["derain"]["psnr"] == math.inf
    text = save_results(res, tmp_path / "r.json").read_text()
    assert '"inf"' in text


# ------------------------------------------------------------------ checkpoint safety (issue 11)


class _Planted:
    """Pickles to a call that leaves a marker file: what a malicious checkpoint would run."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _two_checkpoints(directory) -> None:
    train(_fresh_model(), GlobalRngData(), _config(steps=4, checkpoint_dir=str(directory), checkpoint_every=2))


def test_checkpoints_load_with_weights_only(tmp_path) -> None:
    _two_checkpoints(tmp_path)
    state = torch.load(tmp_path / "step_00000004.pt", weights_only=True)  # no Python objects inside
    rng = state["rng"][0]
    assert isinstance(rng["torch"], torch.Tensor) and isinstance(rng["python"]["state"], torch.Tensor)
    assert isinstance(rng["numpy"]["key"], torch.Tensor)
    from hairlayers.train import save_checkpoint

    with pytest.raises(HairError, match=r"state\['extra'\]\['x'\] is a .*object"):
        save_checkpoint({"step": 9, "extra": {"x": object()}}, tmp_path)
    assert not (tmp_path / "step_00000009.pt").exists() and not list(tmp_path.glob("*.tmp"))


def test_planted_checkpoint_runs_no_code(tmp_path) -> None:
    _two_checkpoints(tmp_path)
    marker = tmp_path / "pwned"
    planted = tmp_path / "step_99999999.pt"
    torch.save({"format": "hairlayers.train/2", "step": 99999999, "x": _Planted(str(marker))}, planted)
    with pytest.raises(HairError, match="weights_only=True"):
        load_checkpoint(planted)
    with pytest.warns(UserWarning, match=r"skipped checkpoint .*step_99999999\.pt.*weights_only=True.*using step_00000004\.pt"):
        state = load_checkpoint(tmp_path)
    assert state["step"] == 4 and not marker.exists()
    with pytest.warns(UserWarning, match="step_99999999"):
        result = train(_fresh_model(), GlobalRngData(), _config(steps=4, resume=str(tmp_path)))
    assert result.steps == 4 and not marker.exists()


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_resume_falls_back_to_the_newest_checkpoint_that_loads(tmp_path, damage: str) -> None:
    data = GlobalRngData()
    reference = _fresh_model()
    train(reference, data, _config(steps=6))
    with pytest.raises(_Kill):
        train(_fresh_model(), data, _config(steps=6, checkpoint_dir=str(tmp_path), checkpoint_every=2),
              on_step=_kill_after(5))
    newest = tmp_path / "step_00000004.pt"
    content = newest.read_bytes()
    newest.write_bytes(b"" if damage == "empty" else content[: len(content) // 3])
    with pytest.warns(UserWarning, match=rf"skipped checkpoint {newest}.*(empty|cannot read).*using step_00000002\.pt"):
        resumed = _fresh_model()
        train(resumed, data, _config(steps=6, resume=str(tmp_path)))
    assert _params_equal(resumed, reference)  # from step 2, still bit-exact
    (tmp_path / "step_00000002.pt").write_bytes(b"")
    with pytest.raises(HairError, match=r"(?s)no checkpoint in .* loads.*step_00000004.pt.*step_00000002.pt"):
        load_checkpoint(tmp_path)


def test_checkpoint_is_fsynced_before_rename_and_old_ones_deleted_after(tmp_path, monkeypatch) -> None:
    import os

    from hairlayers.train import save_checkpoint
    from hairlayers.train import checkpoint as checkpoint_mod

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(checkpoint_mod.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(checkpoint_mod.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    for step in (1, 2):
        save_checkpoint({"step": step}, tmp_path, keep_last=1)
    assert events[:3] == ["fsync", "replace", "fsync"]  # file, rename, folder
    assert [p.name for p in tmp_path.iterdir()] == ["step_00000002.pt"]

    def failing_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_mod.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 3}, tmp_path, keep_last=1)
    # the new file never became durable: the old one is kept, no half-written file is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000002.pt"]


# ---------------------------------------------------------------- resume: config and history


def _without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "images_per_s"} for r in history]


def test_resumed_history_equals_uninterrupted_history(tmp_path) -> None:
    data = GlobalRngData()
    settings = dict(steps=12, log_every=4)
    reference = train(_fresh_model(), data, _config(**settings))
    with pytest.raises(_Kill):  # checkpoint at 5: one step into the window that ends at 8
        train(_fresh_model(), data, _config(**settings, checkpoint_dir=str(tmp_path), checkpoint_every=5),
              on_step=_kill_after(7))
    resumed = train(_fresh_model(), data, _config(**settings, resume=str(tmp_path)))
    assert [r["step"] for r in resumed.history] == [4, 8, 12]
    assert _without_timing(resumed.history) == _without_timing(reference.history)


def test_resume_refuses_a_changed_config_naming_each_field(tmp_path) -> None:
    train(_fresh_model(), GlobalRngData(), _config(steps=4, checkpoint_dir=str(tmp_path), checkpoint_every=2))
    with pytest.raises(HairError) as info:
        train(_fresh_model(), GlobalRngData(), _config(steps=4, lr=1e-3, seed=8, batch_size=4, resume=str(tmp_path)))
    message = str(info.value)
    for field in ("lr: 0.0002 -> 0.001", "seed: 7 -> 8", "batch_size: 2 -> 4"):
        assert field in message
    assert "resume_overrides" in message
    # where and how a run executes may change
    train(_fresh_model(), GlobalRngData(), _config(steps=4, resume=str(tmp_path), progress="off", num_workers=0,
                                                   checkpoint_dir=str(tmp_path / "elsewhere")))


def test_resume_override_applies_the_new_value(tmp_path) -> None:
    with pytest.raises(_Kill):
        train(_fresh_model(), GlobalRngData(), _config(steps=8, checkpoint_dir=str(tmp_path), checkpoint_every=2),
              on_step=_kill_after(3))
    result = train(_fresh_model(), GlobalRngData(),
                   _config(steps=8, lr=1e-3, final_lr=1e-4, resume=str(tmp_path), resume_overrides=("lr", "final_lr")))
    lrs = [r["lr"] for r in result.history]
    assert lrs[:2] == [2e-4, 2e-4] and lrs[2:7] == [1e-3] * 5 and lrs[7] == pytest.approx(1e-4)
    with pytest.raises(HairError, match="unknown TrainConfig field"):
        _config(resume_overrides=("learning_rate",))


@pytest.mark.parametrize("name, value", [("batch_size", "8"), ("batch_size", 0), ("log_every", 2.5),
                                         ("keep_last", -1), ("num_workers", "2"), ("checkpoint_every", 1.5)])
def test_config_sizes_must_be_ints(name: str, value) -> None:
    """Issue 11: a string for an int argument gave Python's "'<' not supported" instead of a clear error."""
    with pytest.raises(HairError, match=rf"{name} must be a positive int, got {value!r}"):
        TrainConfig(steps=2, checkpoint_dir="x", **{name: value})


# ---------------------------------------------------------------- which seed wins (issue 13, step 5)


def test_dataset_seed_wins_over_the_trainers_for_its_own_draws() -> None:
    """Items are seeded twice: a dataset drawing from its own generator(dataset.seed, epoch, i)
    decides its data (TrainConfig.seed does not change it); the trainer's (seed, epoch, i)
    decides only what an item draws from the global generators."""
    from hairlayers import data as data_mod
    from hairlayers.train.trainer import _SeededItems

    ds = data_mod.BuiltinTrainDataset(patch_size=16, length=3, seed=0)
    for i in range(3):
        a, b = _SeededItems(ds, 1, 0)[i], _SeededItems(ds, 2, 0)[i]
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    other = data_mod.BuiltinTrainDataset(patch_size=16, length=3, seed=5)
    assert not torch.equal(_SeededItems(other, 1, 0)[0][1], _SeededItems(ds, 1, 0)[0][1])

    class GlobalDraws:
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int):
            x = torch.rand(1, 4, 4)
            return x, x

    g = GlobalDraws()
    assert torch.equal(_SeededItems(g, 1, 0)[0][0], _SeededItems(g, 1, 0)[0][0])
    assert not torch.equal(_SeededItems(g, 1, 0)[0][0], _SeededItems(g, 2, 0)[0][0])
