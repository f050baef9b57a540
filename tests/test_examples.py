"""The Table-6 example runs end to end (``--preset smoke``) and writes a table, a JSON and a PNG."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hairlayers.models import list_models

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "restormer_hair.py"
NEEDED = {"Restormer": "restormer", "Restormer+PromptIR": "promptir", "Restormer+HAIR": "res_hair"}


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@pytest.mark.slow  # three tiny models train 3 steps each: ~30-90 s on 2 shared cores
def test_restormer_hair_smoke(tmp_path: Path) -> None:
    assert set(NEEDED.values()) <= set(list_models())
    run = _run("--preset", "smoke", "--out", str(tmp_path), "--progress", "off")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    # what was measured, on which machine, is printed
    assert "torch " in run.stdout and "threads" in run.stdout and "UTC" in run.stdout
    table = (tmp_path / "table6.txt").read_text()
    assert "paper, real data, full size" in table and "measured, built-in synthetic benchmark" in table
    png = (tmp_path / "table6.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000

    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["models"]) == list(NEEDED)
    for display, entry in results["models"].items():
        assert entry["registry_name"] == NEEDED[display]
        assert entry["params"] > 0
        assert display in table
        for col in ["SOTS", "Rain100L", "BSD68 σ25", "GoPro", "LOLv1", "avg"]:
            cell = entry["summary"][col]
            assert _finite(cell["psnr"]) and -1 <= cell["ssim"] <= 1, (display, col, cell)
            assert f"{cell['psnr']:.2f}/{cell['ssim']:.3f}" in table
        (run_0,) = entry["runs"]
        assert run_0["train"]["steps"] == 3 and _finite(run_0["train"]["final_loss"])
    paper_avg = {d: e["paper"]["avg"] for d, e in results["models"].items()}
    assert paper_avg == {"Restormer": [27.60, 0.881], "Restormer+PromptIR": [29.77, 0.905], "Restormer+HAIR": [30.37, 0.914]}
    for key in ("cpu", "torch", "torch_threads", "date_utc", "device"):
        assert results["machine"][key] not in (None, "")

    # HAIR's paired differences (one seed: no significance) and its specialisation diagnostics
    assert set(results["comparisons"]) == {"Restormer+HAIR − Restormer", "Restormer+HAIR − Restormer+PromptIR"}
    assert results["comparisons"]["Restormer+HAIR − Restormer"]["avg"]["psnr"]["significant"] is None
    assert "HAIR's differences" in table and "Do the hyper layers specialise?" in table
    assert results["models"]["Restormer"]["specialisation"] is None  # a static model has no selection
    spec = results["models"]["Restormer+HAIR"]["specialisation"]
    for when in ("step0", "trained"):
        assert set(spec[when]["task_entropy"]) == {"SOTS", "Rain100L", "BSD68 σ25", "GoPro", "LOLv1"}
        assert all(0 < v <= 1 for v in spec[when]["task_entropy"].values())
        assert 0 <= spec[when]["giv_knn"] <= 1 and spec[when]["giv_knn_chance"] == pytest.approx(0.2)
    (hair_run,) = results["models"]["Restormer+HAIR"]["runs"]
    assert set(hair_run["diagnostics"]) == {"step0", "trained"}


def test_paper_preset_needs_data_root(tmp_path: Path) -> None:
    run = _run("--preset", "paper", "--out", str(tmp_path), timeout=120)
    assert run.returncode == 2 and "--data-root" in run.stderr


def test_missing_model_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    table6_harness = _harness_module()
    monkeypatch.setitem(
        table6_harness.BASELINES, "restormer", (("Restormer", "restormer"), ("Restormer+HAIR", "no_such_model_hair"))
    )
    code = table6_harness.main(["--preset", "smoke", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "'no_such_model_hair' (for the Restormer+HAIR row)" in err and "nothing was run" in err
    assert not (tmp_path / "results.json").exists()


def _fake_allinone_root(root: Path) -> Path:
    """One tiny image pair per task in the PromptIR folder layout (train and test)."""
    from PIL import Image

    g = torch.Generator().manual_seed(0)

    def save(rel: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = (torch.rand(40, 48, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(path)

    for rel in (
        "Train/Denoise/a.png", "Train/Derain/rainy/rain-1.png", "Train/Derain/gt/norain-1.png",
        "Train/Dehaze/synthetic/part1/0001_0.8_0.2.png", "Train/Dehaze/original/0001.png",
        "Train/Deblur/blur/x.png", "Train/Deblur/sharp/x.png", "Train/Enhance/low/x.png", "Train/Enhance/gt/x.png",
        "test/denoise/bsd68/a.png", "test/derain/Rain100L/input/rain-1.png", "test/derain/Rain100L/target/norain-1.png",
        "test/dehaze/input/0001_0.8.png", "test/dehaze/target/0001.png", "test/deblur/gopro/input/x.png",
        "test/deblur/gopro/target/x.png", "test/enhance/lol/input/x.png", "test/enhance/lol/target/x.png",
    ):  # fmt: skip
        save(rel)
    return root


@pytest.mark.slow  # the real-data code path of the example, with tiny models on a fake layout
def test_real_data_path_with_tiny_models(tmp_path: Path) -> None:
    root = _fake_allinone_root(tmp_path / "data")
    run = _run("--preset", "smoke", "--data-root", str(root), "--steps", "2", "--out", str(tmp_path / "out"), "--progress", "off")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["settings"]["data"] == str(root)
    assert results["labels"]["measured"].startswith("measured, real data, tiny size")
    for entry in results["models"].values():
        (run_0,) = entry["runs"]
        assert run_0["train"]["steps"] == 2
        assert list(run_0["eval"]["tasks"]) == ["SOTS", "Rain100L", "BSD68 σ25", "GoPro", "LOLv1"]
        assert all(t["images"] == 1 for t in run_0["eval"]["tasks"].values())


def _harness_module():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import table6_harness
    finally:
        sys.path.remove(str(ROOT / "examples"))
    return table6_harness


def test_mini_budget_plan(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    t6 = _harness_module()
    step_s = {"restormer": 0.5, "promptir": 0.7, "res_hair": 0.8}
    monkeypatch.setattr(t6, "measure_step_seconds", lambda name, *a: step_s[name])
    monkeypatch.setattr(t6, "measure_eval_seconds", lambda name, *a: 10.0)
    rows = t6.model_rows(["restormer"])
    settings = t6.resolve_settings(t6.parse_args(["--budget-minutes", "10", "--seeds", "2"], ("restormer",)))
    steps, epochs, plan = t6.plan_length(settings, rows)
    # per seed: 600 s - 4 % setup - 30 s eval = 546 s over 2.0 s per step of the three models
    assert (steps, epochs) == (273, None)
    assert plan["estimated_s"] <= 2 * 600 and plan["budget_s_per_seed"] == 600
    out = capsys.readouterr().out
    assert "Restormer+HAIR" in out and "273 steps" in out and "10.0 minutes per seed × 2 seed(s)" in out


def test_run_settings_resolve_presets_and_flags() -> None:
    t6 = _harness_module()
    default = t6.resolve_settings(t6.parse_args([], ("restormer",)))
    assert (default.preset, default.seeds, default.budget_minutes, default.steps) == ("mini", 3, 5.0, None)
    assert default.diagnostics and not default.amp
    assert t6.resolve_settings(t6.parse_args(["--quick"], ("restormer",))).seeds == 1
    gpu = t6.resolve_settings(t6.parse_args(["--preset", "gpu", "--device", "cpu"], ("restormer",)))
    assert (gpu.model_preset, gpu.patch_size, gpu.amp, gpu.seeds) == ("mini", 128, True, 3)
    assert not t6.resolve_settings(t6.parse_args(["--preset", "gpu", "--device", "cpu", "--no-amp"], ("restormer",))).amp
    fixed = t6.resolve_settings(t6.parse_args(["--steps", "7", "--batch-size", "3"], ("restormer",)))
    assert (fixed.steps, fixed.batch_size) == (7, 3)
    assert t6.plan_length(fixed, t6.model_rows(["restormer"])) == (7, None, {})


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--quick", "--seeds", "3"], "--quick means one seed"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--budget-minutes", "0"], "--budget-minutes must be > 0"),
        (["--amp", "--no-amp"], "not allowed with argument"),
    ],
)
def test_contradictory_flags_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    t6 = _harness_module()
    with pytest.raises(SystemExit):
        t6.parse_args(argv, ("restormer",))
    assert message in capsys.readouterr().err


def _fake_run(seed: int, psnr: dict[str, float]) -> dict:
    tasks = {col: {"psnr": v, "ssim": 0.5 + v / 100} for col, v in psnr.items()}
    avg = sum(psnr.values()) / len(psnr)
    return {"seed": seed, "eval": {"tasks": tasks, "average": {"psnr": avg, "ssim": 0.5 + avg / 100}}}


def test_hair_differences_are_paired_by_seed_and_marked() -> None:
    t6 = _harness_module()
    cols = list(t6.COLUMNS)
    base = [20.0, 21.0, 22.0]  # a large seed-to-seed spread that every model shares
    runs = {
        "Restormer": [_fake_run(s, {c: base[s] for c in cols}) for s in range(3)],
        "Restormer+PromptIR": [_fake_run(s, {c: base[s] + (0.5 if c == "SOTS" else 0.0) for c in cols}) for s in range(3)],
        "Restormer+HAIR": [_fake_run(s, {c: base[s] + (0.3, 0.2, 0.4)[s] for c in cols}) for s in range(3)],
    }
    diffs = t6.compare_to_hair(runs, ["restormer"])
    vs_base = diffs["Restormer+HAIR − Restormer"]
    # +0.3, +0.2, +0.4 over the shared spread: mean 0.3, SE 0.0577 -> significant
    assert vs_base["GoPro"]["psnr"]["mean"] == pytest.approx(0.3)
    assert vs_base["GoPro"]["psnr"]["se"] == pytest.approx(0.1 / math.sqrt(3))
    assert vs_base["GoPro"]["psnr"]["significant"] is True
    vs_prompt = diffs["Restormer+HAIR − Restormer+PromptIR"]
    assert vs_prompt["SOTS"]["psnr"]["mean"] == pytest.approx(-0.2) and vs_prompt["SOTS"]["psnr"]["significant"] is True
    assert vs_prompt["avg"]["psnr"]["mean"] == pytest.approx(0.3 - 0.1)

    results = {"settings": {"seeds": 3}, "comparisons": diffs}
    text = "\n".join(t6.render_comparisons(results))
    assert "over 3 seeds; * = |mean| > 2 SE" in text
    assert "+0.30±0.06*" in text and "-0.20±0.06*" in text


def test_one_seed_tables_claim_nothing() -> None:
    t6 = _harness_module()
    cols = list(t6.COLUMNS)
    runs = {d: [_fake_run(0, {c: 20.0 + k for c in cols})] for k, (d, _) in enumerate(t6.BASELINES["restormer"])}
    text = "\n".join(t6.render_comparisons({"settings": {"seeds": 1}, "comparisons": t6.compare_to_hair(runs, ["restormer"])}))
    assert "one seed: no standard error" in text and "*" not in text.split("\n", 1)[1]
    assert "+2.00 / +0.020" in text


def test_a_missing_model_stops_the_run_before_any_work(monkeypatch, capsys) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import table6_harness
    finally:
        sys.path.remove(str(ROOT / "examples"))
    rows = (("Restormer", "restormer"), ("Restormer+Nothing", "no_such_model"))
    monkeypatch.setitem(table6_harness.BASELINES, "restormer", rows)
    assert table6_harness.missing_models(rows) == [("Restormer+Nothing", "no_such_model")]
    code = table6_harness.main(["--preset", "smoke", "--out", "unused"], default_baselines=("restormer",))
    assert code != 0
    assert "'no_such_model'" in capsys.readouterr().err
