"""Hyper (mixed) convolutions against static ``nn.Conv2d`` on the Restormer decoder shapes, on CPU.

For every layer of a Restormer block at each decoder level (1x1 C->3C, C->C, C->2h, h->C and the
depthwise 3x3 convs on 3C and 2h channels, h = int(2.66 C), C paired with its level's resolution:
48 @ 128², 96 @ 64², 192 @ 32², 384 @ 16²), batch B and box size N, this times side by side, in
one round-robin:

* ``static``: the best of a static ``nn.Conv2d`` on NCHW, on channels_last and on batch-inner
  input (memory ``(H, W, B, C)``, :func:`hairlayers.functional.batch_inner.conv2d`): the layer a
  hyper layer replaces, in its own best layout;
* ``hyper``: ``mixed_conv2d(..., backend="torch")`` on NCHW, channels_last and batch-inner input,
  with the backend's fixed rule or (``--autotune``) the formulation measured fastest for each case;
* ``grouped``: the plain batch-folded grouped convolution (the official HAIR formulation) on NCHW
  input, its natural layout;
* ``loop``: the per-sample reference loop (NCHW);
* ``mix``: the mix alone (eq. 4, one ``(B, N) @ (N, Cout*Cin*k*k)`` matmul), timed so that the
  *floor* ``(static + mix) / static`` shows how much of a hyper layer's cost is the mix itself: at
  batch one the mix reads all N kernels for one image's worth of convolution, so on the small
  deep levels (16², 32²) the floor itself lies above 1.10.

The two baselines are timed at the middle N only: N changes nothing but the tiny mix.

Forward is timed under ``torch.no_grad()``; forward+backward computes the gradients of the input
and of every weight (``torch.autograd.grad``). Before timing, every mixed path is compared with
the float64 per-sample reference (outputs, and gradients at the first N of each case); the script
aborts on a mismatch. Ratios are medians of the side-by-side runs; the summary gives geometric
means against the targets (hyper over best static, forward and forward+backward: <= 1.10 at
batch one, <= 1.30 for batches).

Usage::

    PYTHONPATH=src python benchmarks/layers.py --quick            # < 2 minutes
    PYTHONPATH=src python benchmarks/layers.py --json layers.json # full table
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _timing

CL = None  # torch.channels_last, bound in main() after the allocator re-exec


@dataclass(frozen=True)
class Layer:
    """One convolution of a Restormer block."""

    name: str
    c_in: int
    c_out: int
    kernel: int
    groups: int

    @property
    def kind(self) -> str:
        return "1x1" if self.kernel == 1 else "dw3x3"


LEVELS = ((48, 128), (96, 64), (192, 32), (384, 16))  # (C, image side) of decoder levels 1..4


def block_layers(c: int) -> list[Layer]:
    """The six convolutions of a Restormer block of width ``c``."""
    h = int(2.66 * c)
    return [
        Layer("qkv 1x1 C>3C", c, 3 * c, 1, 1),
        Layer("proj 1x1 C>C", c, c, 1, 1),
        Layer("ffn-in 1x1 C>2h", c, 2 * h, 1, 1),
        Layer("ffn-out 1x1 h>C", h, c, 1, 1),
        Layer("qkv dw3x3 3C", 3 * c, 3 * c, 3, 3 * c),
        Layer("ffn dw3x3 2h", 2 * h, 2 * h, 3, 2 * h),
    ]


def grouped_formulation(x, select, weight_box, padding: int, groups: int):
    """The plain formulation: mix, fold the batch into the groups, one grouped conv."""
    import torch.nn.functional as F

    from hairlayers.functional import mix

    batch, c_in, height, width = x.shape
    weight = mix(select, weight_box)
    out = F.conv2d(
        x.reshape(1, batch * c_in, height, width),
        weight.reshape(-1, *weight.shape[2:]),
        padding=padding,
        groups=batch * groups,
    )
    return out.view(batch, -1, *out.shape[2:])


def check_close(name: str, got, want, rtol: float = 1e-4) -> None:
    """Abort the benchmark when a fast path disagrees with the float64 reference."""
    err = (got.double() - want.double()).abs().max().item()
    scale = want.double().abs().max().item() + 1e-6
    if not err <= rtol * scale:
        raise SystemExit(f"MISMATCH {name}: max error {err:.3g} vs tolerance {rtol * scale:.3g}; no timing")


def run_case(level: tuple[int, int], layer: Layer, batch: int, box_sizes: list[int], reps: int, check_grads: bool,
             clock: str = "wall", target_s: float = 0.02, tuned: bool = False):
    """Self-check then time every formulation of one (level, layer, batch) for every N.

    With ``tuned`` (autotuning switched on by the caller), each case of the hyper layers is tuned (forward, and
    forward+backward) before anything is timed, and ``paths`` reports the choices as ``fwd/f+b``.
    """
    import torch

    from hairlayers.functional import autotune, batch_inner, mixed_conv2d, reference
    from hairlayers.functional.geometry import conv_spec
    from hairlayers.functional.mixing import mix_flat
    from hairlayers.functional.torch_backend import autotune_key, conv2d_path

    _, side = level
    pad = layer.kernel // 2
    gen = torch.Generator().manual_seed(zlib.crc32(f"{level} {layer.name} {batch}".encode()))
    x = torch.randn(batch, layer.c_in, side, side, generator=gen)
    inputs = {"nchw": x, "cl": x.contiguous(memory_format=CL), "bi": batch_inner.to_batch_inner(x)}
    static = torch.nn.Conv2d(layer.c_in, layer.c_out, layer.kernel, padding=pad, groups=layer.groups, bias=False)
    statics = {"nchw": static, "cl": torch.nn.Conv2d(layer.c_in, layer.c_out, layer.kernel, padding=pad,
                                                     groups=layer.groups, bias=False).to(memory_format=CL)}
    grad_out = torch.randn(batch, layer.c_out, side, side, generator=gen)
    grads_out = {"nchw": grad_out, "cl": grad_out.contiguous(memory_format=CL), "bi": batch_inner.to_batch_inner(grad_out)}

    fwd: dict[str, Callable[[], object]] = {}
    fb: dict[str, Callable[[], object]] = {}
    leaves = {k: v.detach().clone(memory_format=torch.preserve_format).requires_grad_() for k, v in inputs.items()}

    def add(name: str, fn: Callable, layout: str, params: tuple) -> None:
        x_req, x_nograd = leaves[layout], inputs[layout]
        g = grads_out[layout]

        def forward():
            with torch.no_grad():
                return fn(x_nograd)

        def forward_backward():
            out = fn(x_req)
            return torch.autograd.grad(out, (x_req, *params), g)

        fwd[name], fb[name] = forward, forward_backward

    for layout in ("nchw", "cl"):
        add(f"static_{layout}", statics[layout], layout, tuple(statics[layout].parameters()))
    # The static layer on batch-inner input: one oneDNN conv on the same memory (functional.batch_inner).
    add("static_bi", lambda t: batch_inner.conv2d(t, static), "bi", tuple(static.parameters()))

    def add_mix(n: int, select, box) -> None:
        """The mix alone (eq. 4, one small matmul): what a hyper layer must add to the static conv."""
        grad_flat = torch.randn(batch, box[0].numel(), generator=gen)

        def forward():
            with torch.no_grad():
                return mix_flat(select, box)

        def forward_backward():
            return torch.autograd.grad(mix_flat(select, box), (select, box), grad_flat)

        fwd[f"mix/{n}"], fb[f"mix/{n}"] = forward, forward_backward

    paths = {}
    for n in box_sizes:
        box = (torch.randn(n, layer.c_out, layer.c_in // layer.groups, layer.kernel, layer.kernel, generator=gen)
               * static.weight.detach().std()).requires_grad_()
        select = torch.softmax(torch.randn(batch, n, generator=gen), dim=1).requires_grad_()
        spec = conv_spec(x, select, box, None, 1, pad, 1, layer.groups)
        want = reference.conv2d(x, select.detach(), box.detach(), None, spec, upcast=True)

        def hyper(t, select=select, box=box):
            return mixed_conv2d(t, select, box, padding=pad, groups=layer.groups, backend="torch")

        def loop(t, select=select, box=box):
            return mixed_conv2d(t, select, box, padding=pad, groups=layer.groups, backend="reference")

        def grouped(t, select=select, box=box):
            return grouped_formulation(t, select, box, pad, layer.groups)

        add_mix(n, select, box)
        for layout in LAYOUTS:
            paths[layout] = conv2d_path(inputs[layout], spec, layer.c_out)
            with torch.no_grad():
                out = hyper(inputs[layout])
                check_close(f"hyper {layout} {layer.name} B={batch} N={n}", out, want)
                if layout == "cl" and not out.is_contiguous(memory_format=CL):
                    raise SystemExit(f"hyper {layer.name}: channels_last input gave strides {out.stride()}")
                if layout == "bi" and batch > 1 and not batch_inner.is_batch_inner(out):
                    raise SystemExit(f"hyper {layer.name}: batch-inner input gave strides {out.stride()}")
            add(f"hyper_{layout}/{n}", hyper, layout, (select, box))
            if tuned:
                fb[f"hyper_{layout}/{n}"]()  # tune the training case now, not inside a timed sample
                chosen = autotune.choices()
                paths[layout] = "/".join(chosen[autotune_key(inputs[layout], box, None, spec, grad)]
                                         for grad in (False, True))
        if n == box_sizes[len(box_sizes) // 2]:
            # The baselines hardly depend on N (only the tiny mix does): time them at the middle N.
            with torch.no_grad():
                check_close(f"grouped {layer.name} B={batch} N={n}", grouped(x), want)
                check_close(f"loop {layer.name} B={batch} N={n}", loop(x), want)
            add("grouped_nchw", grouped, "nchw", (select, box))
            add("loop_nchw", loop, "nchw", (select, box))

        if check_grads and n == box_sizes[0]:
            leaves64 = [t.detach().double().requires_grad_() for t in (x, select, box)]
            ref_out = reference.conv2d(leaves64[0], leaves64[1], leaves64[2], None, spec)
            want_grads = torch.autograd.grad(ref_out, leaves64, grad_out.double())
            for layout in LAYOUTS:
                got = fb[f"hyper_{layout}/{n}"]()
                for what, a, b in zip(("x", "select", "weight_box"), got, want_grads):
                    check_close(f"grad {what} hyper {layout} {layer.name} B={batch} N={n}", a, b)

    results = {}
    if reps == 0:  # --check-only
        return results, paths
    for mode, fns in (("fwd", fwd), ("fb", fb)):
        samples = _timing.round_robin(fns, reps, clock=clock, target_s=target_s)
        results[mode] = {name: {"median_ms": 1e3 * _timing.median(s), "min_ms": 1e3 * min(s),
                                "spread": _timing.spread(s)} for name, s in samples.items()}
    return results, paths


#: The input layouts every hyper and static layer is timed in: NCHW, channels_last, batch-inner.
LAYOUTS = ("nchw", "cl", "bi")


def target_for(batch: int) -> float:
    """Issue 12's CPU targets, hyper over best static: 1.10 at batch one, 1.30 for batches (fwd and f+b)."""
    return 1.10 if batch == 1 else 1.30


def summarise_row(level, layer: Layer, batch: int, n: int, res: dict, stat: str = "median") -> dict:
    row = {"C": level[0], "side": level[1], "layer": layer.name, "kind": layer.kind, "B": batch, "N": n}
    for mode in ("fwd", "fb"):
        t = {name.split("/")[0]: v[f"{stat}_ms"] for name, v in res[mode].items()
             if "/" not in name or name.endswith(f"/{n}")}
        static = min(t[f"static_{layout}"] for layout in LAYOUTS)
        hyper = min(t[f"hyper_{layout}"] for layout in LAYOUTS)
        row[mode] = {
            **{k: round(v, 4) for k, v in t.items()},
            "ratio": hyper / static,
            "ratio_nchw": t["hyper_nchw"] / t["static_nchw"],
            "ratio_cl": t["hyper_cl"] / t["static_cl"],
            "ratio_bi": t["hyper_bi"] / t["static_bi"],
            "floor_ratio": (static + t["mix"]) / static,
            "over_floor": hyper / (static + t["mix"]),
            "grouped_ratio": t["grouped_nchw"] / static,
            "loop_ratio": t["loop_nchw"] / static,
            "hyper_vs_grouped": hyper / t["grouped_nchw"],
            "hyper_nchw_vs_grouped": t["hyper_nchw"] / t["grouped_nchw"],
        }
    return row


_COLUMNS = (f"{'hyN':>6} {'hyCL':>6} {'hyBI':>6} {'hy/st':>6} {'flr':>5} {'N/N':>5} {'CL/CL':>5} {'BI/BI':>5} "
            f"{'grp':>5} {'loop':>5}")
HEADER = (f"{'C':>4} {'HW':>4} {'layer':<16} {'B':>2} {'N':>2} | "
          f"{'fwd ms: st':>10} {_COLUMNS} | {'f+b ms: st':>10} {_COLUMNS}")


def format_row(row: dict) -> str:
    parts = [f"{row['C']:>4} {row['side']:>4} {row['layer']:<16} {row['B']:>2} {row['N']:>2} |"]
    for mode in ("fwd", "fb"):
        m = row[mode]
        parts.append(
            f"{min(m[f'static_{layout}'] for layout in LAYOUTS):>10.3f} {m['hyper_nchw']:>6.2f} "
            f"{m['hyper_cl']:>6.2f} {m['hyper_bi']:>6.2f} {m['ratio']:>6.2f} {m['floor_ratio']:>5.2f} {m['ratio_nchw']:>5.2f} "
            f"{m['ratio_cl']:>5.2f} {m['ratio_bi']:>5.2f} {m['grouped_ratio']:>5.2f} {m['loop_ratio']:>5.2f} |"
        )
    return " ".join(parts)


def summary(rows: list[dict]) -> dict:
    gm = _timing.geomean
    out: dict = {}
    for mode in ("fwd", "fb"):
        s = {
            "geomean_ratio": gm([r[mode]["ratio"] for r in rows]),
            "geomean_ratio_nchw": gm([r[mode]["ratio_nchw"] for r in rows]),
            "geomean_ratio_cl": gm([r[mode]["ratio_cl"] for r in rows]),
            "geomean_ratio_bi": gm([r[mode]["ratio_bi"] for r in rows]),
            "geomean_grouped_ratio": gm([r[mode]["grouped_ratio"] for r in rows]),
            "geomean_loop_ratio": gm([r[mode]["loop_ratio"] for r in rows]),
            "geomean_floor_ratio": gm([r[mode]["floor_ratio"] for r in rows]),
            "geomean_over_floor": gm([r[mode]["over_floor"] for r in rows]),
        }
        for kind in ("1x1", "dw3x3"):
            s[f"geomean_ratio_{kind}"] = gm([r[mode]["ratio"] for r in rows if r["kind"] == kind])
        for b in sorted({r["B"] for r in rows}):
            s[f"geomean_ratio_B{b}"] = gm([r[mode]["ratio"] for r in rows if r["B"] == b])
            s[f"geomean_floor_ratio_B{b}"] = gm([r[mode]["floor_ratio"] for r in rows if r["B"] == b])
        # "never slower than grouped", per layout, with a 5% allowance for timing noise
        s["slower_than_grouped"] = [
            f"{r['layer']} C={r['C']} B={r['B']} N={r['N']} {key}: {r[mode][key]:.2f}x"
            for r in rows for key in ("hyper_vs_grouped", "hyper_nchw_vs_grouped") if r[mode][key] > 1.05
        ]
        out[mode] = s
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset (< 2 minutes)")
    parser.add_argument("--json", metavar="PATH", help="also write every measurement to PATH")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--reps", type=int, default=None, help="round-robin repetitions (default 5 quick, 7 full)")
    parser.add_argument("--levels", help="comma-separated widths C to run (default: all of the mode)")
    parser.add_argument("--batches", help="comma-separated batch sizes (default: 1,4,8; quick: 4)")
    parser.add_argument("--box-sizes", help="comma-separated N (default: 5,7,9; quick: 7)")
    parser.add_argument("--layers", help="only layers whose name contains this text, e.g. dw3x3")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="statistic of the repetitions the ratios use (default median; min resists bursts of load)")
    parser.add_argument("--clock", choices=tuple(_timing.CLOCKS), default="wall",
                        help="wall-clock time (default) or process CPU time with OMP_WAIT_POLICY=PASSIVE "
                        "(robust on a busy shared machine)")
    parser.add_argument("--sample-ms", type=float, default=20.0,
                        help="minimum length of one timed sample; short ops are repeated to reach it (default 20)")
    parser.add_argument("--autotune", action="store_true",
                        help="run the hyper layers with hairlayers.functional.autotune on (each case tuned "
                        "before timing) instead of the fixed rule")
    parser.add_argument("--check-only", action="store_true",
                        help="only compare every mixed path with the float64 reference; time nothing")
    parser.add_argument("--no-glibc-tunables", action="store_true",
                        help="run with the default glibc allocator instead of re-executing with GLIBC_TUNABLES")
    args = parser.parse_args()
    _timing.reexec_with_env(glibc_tunables=not args.no_glibc_tunables, passive_omp=args.clock == "cpu")

    import torch

    global CL
    CL = torch.channels_last
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from hairlayers.functional import autotune

    autotune.set_enabled(args.autotune)  # only the hyper layers consult it

    if args.quick:
        levels, batches, box_sizes, reps = LEVELS[1:3], [4], [7], args.reps or 5
    else:
        levels, batches, box_sizes, reps = LEVELS, [1, 4, 8], [5, 7, 9], args.reps or 7
    if args.levels:
        widths = [int(v) for v in args.levels.split(",")]
        levels = tuple(lv for lv in LEVELS if lv[0] in widths)
    reps = 0 if args.check_only else reps
    batches = [int(v) for v in args.batches.split(",")] if args.batches else batches
    box_sizes = [int(v) for v in args.box_sizes.split(",")] if args.box_sizes else box_sizes

    info = _timing.machine_info()
    print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()))
    print(f"mode={'quick' if args.quick else 'full'} reps={reps} levels={levels} B={batches} N={box_sizes} "
          f"stat={args.stat} clock={args.clock} hyper paths={'autotuned' if args.autotune else 'fixed rule'}")
    print(f"times are {args.stat}s (ms); ratios: hy/st = best hyper layout / best static layout; N/N, CL/CL and "
          "BI/BI = same layout (BI: batch-inner, memory H, W, B, C); grp = grouped (NCHW) / best static; "
          "loop = per-sample loop (NCHW) / best static")
    print(HEADER)
    started = time.time()
    rows, spreads, other_rows = [], [], []
    other_stat = "min" if args.stat == "median" else "median"
    for level in levels:
        for layer in block_layers(level[0]):
            if args.layers and args.layers not in layer.name:
                continue
            for batch in batches:
                res, paths = run_case(level, layer, batch, box_sizes, reps, check_grads=True, clock=args.clock,
                                       target_s=args.sample_ms / 1e3, tuned=args.autotune)
                if args.check_only:
                    print(f"checked C={level[0]} {layer.name} B={batch} N={box_sizes}: paths "
                          f"nchw={paths['nchw']} cl={paths['cl']} bi={paths['bi']}", flush=True)
                    continue
                spreads += [v["spread"] for mode in res.values() for v in mode.values()]
                for n in box_sizes:
                    row = summarise_row(level, layer, batch, n, res, args.stat)
                    row["paths"] = paths
                    rows.append(row)
                    other_rows.append(summarise_row(level, layer, batch, n, res, other_stat))
                    print(format_row(row), f"paths nchw={paths['nchw']} cl={paths['cl']} bi={paths['bi']}", flush=True)

    if args.check_only:
        print(f"all mixed paths match the float64 reference ({time.time() - started:.0f} s); nothing timed")
        return
    s = summary(rows)
    s_other = summary(other_rows)
    info["load_average_at_end"] = _timing.load_average()
    noise = sorted(spreads)[len(spreads) // 2]
    print(f"\n{len(rows)} rows in {time.time() - started:.0f} s; load average at end {info['load_average_at_end']}; "
          f"median relative interquartile spread of the samples {noise:.1%}")
    for mode, label in (("fwd", "forward"), ("fb", "forward+backward")):
        m = s[mode]
        verdicts = ", ".join(
            f"B={b}: {v:.3f} ({'meets' if v <= target_for(b) else 'MISSES'} {target_for(b)})"
            for b, v in ((int(k[len("geomean_ratio_B"):]), v) for k, v in m.items() if k.startswith("geomean_ratio_B"))
        )
        print(f"{label:>17}: geomean hyper/static {m['geomean_ratio']:.3f}; targets {verdicts}; "
              f"same layout NCHW {m['geomean_ratio_nchw']:.3f}, CL {m['geomean_ratio_cl']:.3f}, "
              f"BI {m['geomean_ratio_bi']:.3f}; "
              f"1x1 {m['geomean_ratio_1x1']:.3f}, dw3x3 {m['geomean_ratio_dw3x3']:.3f}; "
              f"grouped {m['geomean_grouped_ratio']:.3f}; loop {m['geomean_loop_ratio']:.3f}")
        print(" " * 19 + f"with the {other_stat} instead: geomean hyper/static "
              f"{s_other[mode]['geomean_ratio']:.3f}, 1x1 {s_other[mode]['geomean_ratio_1x1']:.3f}, "
              f"dw3x3 {s_other[mode]['geomean_ratio_dw3x3']:.3f}, grouped {s_other[mode]['geomean_grouped_ratio']:.3f}")
        floors = ", ".join(f"B={k[len('geomean_floor_ratio_B'):]}: {v:.3f}" for k, v in m.items()
                           if k.startswith("geomean_floor_ratio_B"))
        print(" " * 19 + f"floor (best static + the mix alone) / best static: {floors}; hyper / floor "
              f"{m['geomean_over_floor']:.3f}")
        slower = m["slower_than_grouped"]
        print(" " * 19 + (f"hyper (best layout, or NCHW vs NCHW) slower than grouped (>5%) in {len(slower)} "
                          f"of {2 * len(rows)}: "
                          + "; ".join(slower[:8]) + (" ..." if len(slower) > 8 else "")
                          if slower else "hyper never slower than grouped (5% allowance)"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "mode": "quick" if args.quick else "full", "reps": reps, "stat": args.stat,
                       "clock": args.clock, "autotune": args.autotune,
                       "noise_median_spread": noise, "summary": s,
                       f"summary_{other_stat}": s_other, "rows": rows, f"rows_{other_stat}": other_rows}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
