"""``python -m hairlayers info``: versions, backends with reasons, autotuning state."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import hairlayers


def _info(**env: str) -> str:
    environ = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), **env)
    environ.pop("TRITON_INTERPRET", None)
    result = subprocess.run(
        [sys.executable, "-m", "hairlayers", "info"], capture_output=True, text=True, env=environ, check=True
    )
    return result.stdout


def test_info_lists_versions_and_every_backend_with_its_status() -> None:
    out = _info(HAIRLAYERS_AUTOTUNE="0")
    assert out.startswith(f"hairlayers {hairlayers.__version__}\n")
    assert f"torch      {torch.__version__}" in out
    lines = out.splitlines()
    for name in ("triton", "torch", "reference"):
        (line,) = [ln for ln in lines if ln.startswith(f"  {name} ")]
        assert line.split()[1] in ("usable", "unavailable:")
    assert any(ln.startswith("  torch ") and ln.split()[1] == "usable" for ln in lines)
    if not torch.cuda.is_available():
        assert "triton     unavailable: no CUDA device" in out or "Triton is not installed" in out
    assert "autotune   off (HAIRLAYERS_AUTOTUNE=1 turns it on)" in out


def test_info_reports_autotuning_switched_on_by_the_environment() -> None:
    assert "autotune   on:" in _info(HAIRLAYERS_AUTOTUNE="1")


def test_unknown_command_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    from hairlayers.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
