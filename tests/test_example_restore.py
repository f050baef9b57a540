"""examples/restore.py restores a file end to end (tiled, tiny model)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "restore.py"


def test_restore_example_writes_an_image_of_the_input_size(tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (70, 52, 3), dtype=np.uint8)).save(source)
    target = tmp_path / "out.png"
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), str(source), "--preset", "tiny", "--tile", "48", "--overlap", "8",
         "--output", str(target)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "one GIV for the whole image" in result.stdout
    assert Image.open(target).size == (52, 70)
