"""The CPU benchmark script runs end to end on a tiny subset (its numbers are not checked here:
timings belong to benchmark runs, not tests; this only keeps the script from rotting)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "layers.py"
TINY = ["--levels", "384", "--batches", "1,2", "--box-sizes", "3", "--layers", "proj"]


def _run(*args: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), *TINY, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_check_only_compares_every_path_with_the_reference() -> None:
    out = _run("--check-only")
    assert "checked C=384 proj 1x1 C>C B=2 N=[3]: paths nchw=pointwise cl=pointwise" in out
    assert "all mixed paths match the float64 reference" in out


def test_autotuned_timing_run_reports_choices_and_the_summary(tmp_path: Path) -> None:
    import json

    out = _run("--reps", "1", "--sample-ms", "1", "--autotune", "--json", str(tmp_path / "r.json"))
    assert "hyper paths=autotuned" in out
    assert "forward: geomean hyper/static" in out and "forward+backward: geomean hyper/static" in out
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["autotune"] is True and len(record["rows"]) == 2
    assert "floor (best static + the mix alone) / best static: B=1:" in out
    for row in record["rows"]:  # the floor is the best static layer plus the timed mix
        for mode in ("fwd", "fb"):
            m = row[mode]
            static = min(m[f"static_{layout}"] for layout in ("nchw", "cl", "bi"))
            assert m["mix"] > 0 and abs(m["floor_ratio"] - (static + m["mix"]) / static) < 1e-2
    for row in record["rows"]:  # "forward choice/training choice" per layout
        for layout in ("nchw", "cl"):
            forward, training = row["paths"][layout].split("/")
            assert {forward, training} <= {"pointwise", "static", "per_sample", "grouped"}


def test_whole_model_benchmark_checks_the_grouped_formulation_and_reports_ratios(tmp_path: Path) -> None:
    import json

    script = BENCHMARK.parent / "models.py"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, str(script), "--dry-run", "--train", "--json", str(tmp_path / "m.json")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["grouped_max_rel_difference"] < 1e-4  # same function, other formulation
    assert [r["network"] for r in record["rows"]] == [
        "restormer train step", "res_hair train step", "res_hair_grouped train step"]
    assert record["rows"][0]["ratio"] == 1.0 and all(r["ms"] > 0 for r in record["rows"])


def test_layout_benchmark_checks_the_batch_inner_decoder_and_times_every_layout() -> None:
    script = BENCHMARK.parent / "batch_inner.py"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, str(script), "--dry-run", "--threads", "1"], capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("restormer", "res_hair"):
        assert f"{name}: batch-inner output vs input layout, max relative difference" in result.stdout
        for layout in ("nchw", "channels_last", "batch_inner"):
            assert f"{name} {layout}" in result.stdout
    assert "/ fastest Restormer  1.00" in result.stdout


def test_device_script_runs_each_whole_model_run_in_its_own_process(tmp_path: Path, monkeypatch) -> None:
    """``gpu_kernels.py --all``'s model part: one child per run, its JSON in OUT, its status kept."""
    import importlib
    import json

    monkeypatch.syspath_prepend(str(BENCHMARK.parent))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    gpu_kernels = importlib.import_module("gpu_kernels")
    monkeypatch.setattr(gpu_kernels, "MODEL_RUNS", (
        ("infer_fp32", [], 120),
        ("broken", ["--dtype", "no-such-dtype"], 120),
        ("compiled", ["--compile"], 120),  # left out of a dry run (minutes of compiling on CPU)
    ))
    runs = gpu_kernels.run_models(dry_run=True, out_dir=str(tmp_path))
    assert runs == [{"run": "infer_fp32", "status": "ok"}, {"run": "broken", "status": "exit 2"}]
    record = json.loads((tmp_path / "models_infer_fp32.json").read_text())
    assert [r["network"] for r in record["rows"]][0] == "restormer inference"
    assert not (tmp_path / "models_broken.json").exists()
