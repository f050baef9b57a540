"""Whole-model cost of HAIR: Res-HAIR against the Restormer it is built on, side by side in one run.

Three networks are timed round-robin (``_timing.round_robin``), so machine noise hits all alike:

* ``restormer``: the static baseline;
* ``res_hair``: the library's Res-HAIR, every hyper layer on its default backend;
* ``res_hair_grouped``: the same weights, every hyper convolution run as one grouped convolution
  with the batch folded into the groups (torch backend, ``groups = B·g``), the formulation of the
  official HAIR code. Its output is checked against ``res_hair``'s before anything is timed.

Per network: inference (``eval()``, ``no_grad``) and, with ``--train``, a training step (forward, L1
loss, backward, AdamW step). Options add bf16/fp16 autocast, ``torch.compile`` (``--compile-mode
reduce-overhead`` = CUDA graphs on a GPU) and a profiler breakdown of where Res-HAIR's extra time
goes (``--profile``: aten ops, Res-HAIR minus Restormer).

Targets (issue 12): on a 2-core CPU, batch-1 inference of a 256² image <= 1.10x Restormer (the
default command); on an H100/H200 at the paper's size, B = 8, 128²: training step <= 1.10x,
inference <= 1.05x, and faster than the grouped formulation.

Usage::

    python benchmarks/models.py                                    # CPU: B=1, 256², paper size
    python benchmarks/models.py --train --preset mini --batch 2 --size 64
    python benchmarks/models.py --device cuda --train --batch 8 --size 128 --dtype bf16 --compile
    python benchmarks/models.py --dry-run                          # seconds: tiny models, 1 rep
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
from collections.abc import Callable, Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _timing  # noqa: E402

NETWORKS = ("restormer", "res_hair", "res_hair_grouped")
DTYPES = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}


@contextlib.contextmanager
def grouped_formulation() -> Iterator[None]:
    """While open, the torch backend runs every mixed convolution as one batch-folded grouped conv."""
    from hairlayers.functional import torch_backend

    rule = torch_backend.conv2d_path
    torch_backend.conv2d_path = lambda x, spec, out_channels: "grouped"
    try:
        yield
    finally:
        torch_backend.conv2d_path = rule


def build(preset: str, device: str, decoder_layout: str = "auto"):
    """``{name: model}`` for :data:`NETWORKS`; ``res_hair_grouped`` shares nothing with ``res_hair``
    but its initial weights. Restormer and Res-HAIR get the same ``decoder_layout`` (with
    ``"auto"`` both run CPU inference on batches batch-inner); the official formulation keeps the
    input's layout, as the official code does."""
    import torch

    from hairlayers import HyperLayer
    from hairlayers.models import create_model

    torch.manual_seed(0)
    restormer = create_model("restormer", preset=preset).to(device)
    torch.manual_seed(0)
    res_hair = create_model("res_hair", preset=preset).to(device)
    grouped = copy.deepcopy(res_hair)
    for layer in grouped.modules():
        if isinstance(layer, HyperLayer) and hasattr(layer, "backend"):
            layer.backend = "torch"
    restormer.decoder_layout = res_hair.decoder_layout = decoder_layout
    grouped.decoder_layout = "input"
    return {"restormer": restormer, "res_hair": res_hair, "res_hair_grouped": grouped}


def _context(name: str):
    return grouped_formulation() if name == "res_hair_grouped" else contextlib.nullcontext()


def check_grouped_matches(models: dict, x) -> float:
    """Max relative difference of ``res_hair_grouped``'s output from ``res_hair``'s (fp32, eval)."""
    import torch

    with torch.no_grad():
        a = models["res_hair"].eval()(x)
        with grouped_formulation():
            b = models["res_hair_grouped"].eval()(x)
    return float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))


def callables(models: dict, x, y, *, train: bool, dtype: str, compile_mode: str | None, lr: float = 1e-4):
    """``{"<network> <mode>": fn}`` of one inference or training step each."""
    import torch
    import torch.nn.functional as F

    autocast_dtype = getattr(torch, DTYPES[dtype]) if DTYPES[dtype] else None
    device_type = x.device.type
    sync = torch.cuda.synchronize if device_type == "cuda" else (lambda: None)

    def autocast():
        if autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=autocast_dtype)

    fns: dict[str, Callable[[], object]] = {}
    for name, model in models.items():
        run = torch.compile(model, mode=compile_mode) if compile_mode else model
        if not train:
            model.eval()

            def infer(run=run, name=name) -> None:
                with torch.no_grad(), autocast(), _context(name):
                    run(x)
                sync()

            fns[f"{name} inference"] = infer
        else:
            model.train()
            optimiser = torch.optim.AdamW(model.parameters(), lr=lr)

            def step(run=run, name=name, optimiser=optimiser) -> None:
                optimiser.zero_grad(set_to_none=True)
                with autocast(), _context(name):
                    loss = F.l1_loss(run(x).float(), y)
                loss.backward()
                optimiser.step()
                sync()

            fns[f"{name} train step"] = step
    return fns


def profile_breakdown(fns: dict, calls: int = 3) -> list[tuple[str, float, float]]:
    """``(aten op, Restormer ms, Res-HAIR ms)`` of self time per call for every op either network
    runs, the largest extra of Res-HAIR first and its largest saving last."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    per_model = {}
    for name in ("restormer", "res_hair"):
        fn = next(f for key, f in fns.items() if key.startswith(name + " "))
        fn()  # warm
        with profile(activities=activities) as prof:
            for _ in range(calls):  # one call's profile is too noisy on a shared CPU
                fn()
        attr = "self_device_time_total" if cuda else "self_cpu_time_total"
        per_model[name] = {e.key: getattr(e, attr) / 1e3 / calls for e in prof.key_averages()}
    ops = set(per_model["restormer"]) | set(per_model["res_hair"])
    rows = [(op, per_model["restormer"].get(op, 0.0), per_model["res_hair"].get(op, 0.0)) for op in ops]
    rows.sort(key=lambda r: r[2] - r[1], reverse=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--preset", default=None, help="model preset (default: paper; tiny with --dry-run)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 1)")
    parser.add_argument("--size", type=int, default=None, help="image side in pixels (default 256)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32", help="autocast dtype (default fp32: none)")
    parser.add_argument("--train", action="store_true", help="time training steps instead of inference")
    parser.add_argument("--decoder-layout", choices=("auto", "batch_inner", "input"), default="auto",
                        help="decoder_layout of Restormer and Res-HAIR (default auto: batch-inner for CPU "
                        "inference on batches; docs/batch_inner.md)")
    parser.add_argument("--memory-format", choices=("contiguous", "channels_last"), default="contiguous",
                        help="memory format of every network and its input (default contiguous: NCHW)")
    parser.add_argument("--compile", action="store_true", help="run every network under torch.compile")
    parser.add_argument("--compile-mode", default=None,
                        help="torch.compile mode (implies --compile; reduce-overhead = CUDA graphs)")
    parser.add_argument("--profile", action="store_true", help="print the per-op breakdown of Res-HAIR's extra time")
    parser.add_argument("--reps", type=int, default=None, help="round-robin repetitions (default 5)")
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--dry-run", action="store_true", help="tiny models, 32², 1 rep: checks that the script runs")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        _timing.reexec_with_env()

    import torch

    preset = args.preset or ("tiny" if args.dry_run else "paper")
    batch = args.batch or 1
    size = args.size or (32 if args.dry_run else 256)
    reps = args.reps or (1 if args.dry_run else 5)
    compile_mode = args.compile_mode or ("default" if args.compile else None)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device visible to torch")
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True

    info = _timing.machine_info(args.device)
    for key, value in info.items():
        print(f"{key}: {value}")
    mode = "train step (fwd + L1 + bwd + AdamW)" if args.train else "inference (eval, no_grad)"
    print(f"models: preset {preset!r}, batch {batch}, {size}x{size}, {args.dtype}, "
          f"compile={compile_mode or 'off'}, {mode}, decoder_layout={args.decoder_layout!r}, "
          f"memory format {args.memory_format}, {reps} round-robin reps")

    models = build(preset, args.device, args.decoder_layout)
    memory_format = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format
    for model in models.values():
        model.to(memory_format=memory_format)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, size, size, generator=generator).to(args.device).contiguous(memory_format=memory_format)
    y = torch.rand(batch, 3, size, size, generator=generator).to(args.device).contiguous(memory_format=memory_format)
    difference = check_grouped_matches(models, x)
    print(f"check: res_hair_grouped vs res_hair output, max relative difference {difference:.2e}")
    if not difference < 1e-4:
        raise SystemExit("the grouped formulation disagrees with the library's: the comparison would be meaningless")

    fns = callables(models, x, y, train=args.train, dtype=args.dtype, compile_mode=compile_mode)
    samples = _timing.round_robin(fns, reps, warmup=1 if args.dry_run else 2, target_s=0.0)
    baseline = _timing.median(next(s for k, s in samples.items() if k.startswith("restormer ")))
    rows = []
    print(f"\n{'network':<34} {'ms':>10} {'spread':>7} {'/ restormer':>12}")
    for key, s in samples.items():
        ms = _timing.median(s) * 1e3
        rows.append({"network": key, "ms": ms, "spread": _timing.spread(s), "ratio": ms / (baseline * 1e3)})
        print(f"{key:<34} {ms:>10.1f} {rows[-1]['spread']:>6.0%} {rows[-1]['ratio']:>11.2f}x")

    breakdown = []
    if args.profile:
        breakdown = profile_breakdown(fns)
        print(f"\nwhere Res-HAIR's extra time goes (self time per call, ms; {args.device})")
        print(f"{'op':<44} {'restormer':>10} {'res_hair':>10} {'extra':>9}")
        # The ops Res-HAIR spends more on, then those it spends less on (an op can move between
        # formulations, e.g. a 1x1 conv that runs as a bmm), then the totals.
        savings = [r for r in breakdown[12:] if r[2] - r[1] < -0.005][-5:]
        for op, base_ms, hair_ms in breakdown[:12] + ([("...", 0.0, 0.0)] if savings else []) + savings:
            print(f"{op[:44]:<44} {base_ms:>10.2f} {hair_ms:>10.2f} {hair_ms - base_ms:>+9.2f}")
        base_total, hair_total = (sum(r[i] for r in breakdown) for i in (1, 2))
        print(f"{'total self time':<44} {base_total:>10.2f} {hair_total:>10.2f} {hair_total - base_total:>+9.2f}")

    if args.json:
        record = {
            "machine": info, "preset": preset, "batch": batch, "size": size, "dtype": args.dtype,
            "train": args.train, "compile_mode": compile_mode, "reps": reps, "decoder_layout": args.decoder_layout,
            "memory_format": args.memory_format,
            "grouped_max_rel_difference": difference, "rows": rows,
            "profile": [{"op": op, "restormer_ms": a, "res_hair_ms": b} for op, a, b in breakdown],
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
