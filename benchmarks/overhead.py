"""Per-call Python overhead of a tiny ``HyperConv2d`` forward, on CPU.

The layer is so small (B = 2, 4 -> 4 channels, 3x3, 8x8 pixels, N = 3) that its arithmetic takes
a few microseconds and what is timed is mostly what runs around it: argument checks, geometry
resolution, backend choice. Timed side by side, round-robin (``_timing.round_robin``), under
``torch.no_grad()``:

* ``layer``: ``HyperConv2d(x, select=select)``, the whole stack (layer -> functional -> backend);
* ``functional``: ``mixed_conv2d(x, select, box, padding=1, backend="torch")``, without the layer;
* ``backend``: the torch backend's compute on an already-resolved geometry, no checks at all;
* ``static``: ``nn.Conv2d`` of the same size (the batch-of-one-kernel cost torch itself pays).

``layer - backend`` is the overhead of the stack; docs/performance.md records it.

Usage::

    python benchmarks/overhead.py              # 7 rounds of ~20 ms samples per callable
    python benchmarks/overhead.py --reps 15
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _timing


def measure(reps: int, threads: int, sample_ms: float) -> dict[str, float]:
    """Median seconds per call of each callable (see the module docstring)."""
    import torch
    from torch import nn

    from hairlayers import HyperConv2d
    from hairlayers.functional import mixed_conv2d, torch_backend

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layer = HyperConv2d(4, 4, 3, padding=1, num_kernels=3, backend="torch")
    static = nn.Conv2d(4, 4, 3, padding=1)
    x = torch.randn(2, 4, 8, 8)
    select = torch.softmax(torch.randn(2, 3), dim=1)
    box, bias = layer.weight_box, layer.bias_box
    spec = layer.spec  # resolved once, in __init__

    fns = {
        "layer": lambda: layer(x, select=select),
        "functional": lambda: mixed_conv2d(x, select, box, bias, padding=1, backend="torch"),
        "backend": lambda: torch_backend.conv2d(x, select, box, bias, spec),
        "static": lambda: static(x),
    }
    with torch.no_grad():
        expected = fns["backend"]()
        for name, fn in fns.items():
            if name != "static" and not torch.allclose(fn(), expected, atol=1e-6):
                raise SystemExit(f"{name} disagrees with the backend's result")
        samples = _timing.round_robin(fns, reps, warmup=20, target_s=sample_ms / 1e3)
    return {name: _timing.median(s) for name, s in samples.items()} | {
        f"{name}_spread": _timing.spread(s) for name, s in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="round-robin repetitions (default 7)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--sample-ms", type=float, default=20.0, help="length of one sample (ms)")
    args = parser.parse_args()
    _timing.reexec_with_env()
    for key, value in _timing.machine_info().items():
        print(f"{key}: {value}")
    result = measure(args.reps, args.threads, args.sample_ms)
    for name in ("layer", "functional", "backend", "static"):
        print(f"{name:>10}: {result[name] * 1e6:7.1f} us/call (spread {result[name + '_spread']:.0%})")
    print(f"{'overhead':>10}: {(result['layer'] - result['backend']) * 1e6:7.1f} us/call (layer - backend)")


if __name__ == "__main__":
    main()
