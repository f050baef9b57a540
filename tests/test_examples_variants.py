"""The AirNet and TransWeather Table-6 examples run end to end (``--preset smoke``)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ROWS = {
    "airnet": {"AirNet": "airnet", "AirNet+PromptIR": "airnet_promptir", "AirNet+HAIR": "airnet_hair"},
    "transweather": {
        "Transweather": "transweather",
        "Transweather+PromptIR": "transweather_promptir",
        "Transweather+HAIR": "transweather_hair",
    },
}


def _run(baseline: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    script = ROOT / "examples" / f"{baseline}_hair.py"
    return subprocess.run(
        [sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize("baseline", sorted(ROWS))
def test_paper_preset_needs_data_root(baseline: str, tmp_path: Path) -> None:
    run = _run(baseline, "--preset", "paper", "--out", str(tmp_path), timeout=120)
    assert run.returncode == 2 and "--data-root" in run.stderr


@pytest.mark.slow  # three tiny models train 3 steps each and are evaluated: 1-4 min on 2 shared cores
@pytest.mark.parametrize("baseline", sorted(ROWS))
def test_smoke_run(baseline: str, tmp_path: Path) -> None:
    run = _run(baseline, "--preset", "smoke", "--out", str(tmp_path), "--progress", "off")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = (tmp_path / "table6.txt").read_text()
    assert "measured, built-in synthetic benchmark, tiny size" in table
    assert (tmp_path / "table6.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((tmp_path / "results.json").read_text())
    assert {d: e["registry_name"] for d, e in results["models"].items()} == ROWS[baseline]
    for display, entry in results["models"].items():
        assert entry["params"] > 0 and display in table
        (run_0,) = entry["runs"]
        assert run_0["train"]["steps"] == 3 and math.isfinite(run_0["train"]["final_loss"])
        for col in ["SOTS", "Rain100L", "BSD68 σ25", "GoPro", "LOLv1", "avg"]:
            cell = entry["summary"][col]
            assert math.isfinite(cell["psnr"]) and -1 <= cell["ssim"] <= 1, (display, col, cell)
        assert entry["paper"]["avg"] == list(_paper_avg(display))


def _paper_avg(display: str) -> tuple[float, float]:
    return {
        "AirNet": (25.49, 0.847), "AirNet+PromptIR": (25.67, 0.848), "AirNet+HAIR": (26.27, 0.854),
        "Transweather": (25.22, 0.836), "Transweather+PromptIR": (26.28, 0.868), "Transweather+HAIR": (27.09, 0.884),
    }[display]  # fmt: skip


def _harness_module():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import table6_harness
    finally:
        sys.path.remove(str(ROOT / "examples"))
    return table6_harness


@pytest.mark.parametrize("name", ["airnet_promptir", "airnet_hair", "transweather_promptir", "transweather_hair"])
def test_mini_plan_can_time_a_training_step(name: str) -> None:
    """The default (mini) run first times one training step of every model to fit its budget."""
    table6 = _harness_module()
    seconds = table6.measure_step_seconds(name, "tiny", 1, 24, torch.device("cpu"), False)
    assert math.isfinite(seconds) and seconds > 0
