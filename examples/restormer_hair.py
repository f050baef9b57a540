"""Table 6, Restormer block: Restormer vs Restormer+PromptIR vs Restormer+HAIR (Res-HAIR).

Trains the three models with the paper's recipe (L1, AdamW, lr 2e-4 then 2e-5 for the last 1/16)
and evaluates PSNR/SSIM per degradation, printing the result beside the paper's Table 6 rows.

    python examples/restormer_hair.py                      # mini: built-in benchmark, ~15 min on 2 CPU cores
    python examples/restormer_hair.py --preset smoke       # seconds; checks the pipeline only
    python examples/restormer_hair.py --seeds 3            # mean ± std over three seeds
    python examples/restormer_hair.py --baselines restormer airnet transweather   # the whole table
    python examples/restormer_hair.py --preset paper --data-root /data/allinone   # full size, real data, GPU

Writes ``results.json``, ``table6.txt`` and ``table6.png`` to ``--out`` (default ``runs/table6``).
Run it from the repository root with ``PYTHONPATH=src`` or with hairlayers installed
(``pip install "hairlayers[examples]"``). See docs/reproduce.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared table6_harness module lives beside this file

from table6_harness import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(default_baselines=("restormer",)))
