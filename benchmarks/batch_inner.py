"""Res-HAIR and Restormer on CPU with the decoder in each layout (issue 12): NCHW, channels_last, batch-inner.

The batch-inner layout (memory ``(H, W, B, C)``, :mod:`hairlayers.functional.batch_inner`) turns
every per-sample convolution of a hyper decoder into one static channels_last convolution. This
script times whole networks on a batch, round-robin in one run, with ``decoder_layout`` set to
``"input"`` (NCHW images, then channels_last images) and to ``"batch_inner"``, and checks first that
the batch-inner outputs equal the input-layout ones. Ratios are to the fastest Restormer.

    PYTHONPATH=src python benchmarks/batch_inner.py                 # paper size, B = 4, 128², inference
    PYTHONPATH=src python benchmarks/batch_inner.py --train         # forward + backward instead
    PYTHONPATH=src python benchmarks/batch_inner.py --dry-run       # tiny models, seconds
"""

from __future__ import annotations

import argparse

import torch

from _timing import geomean, load_average, machine_info, median, reexec_with_env, round_robin, spread
from hairlayers.models import create_model

#: (label, memory format of the image, decoder_layout)
LAYOUTS = (
    ("nchw", torch.contiguous_format, "input"),
    ("channels_last", torch.channels_last, "input"),
    ("batch_inner", torch.channels_last, "batch_inner"),
)


def make_call(model: torch.nn.Module, image: torch.Tensor, layout: str, train: bool):
    def call() -> None:
        model.decoder_layout = layout
        if train:
            model.zero_grad(set_to_none=True)
            model(image).sum().backward()
        else:
            with torch.no_grad():
                model(image)
    return call


def check_equal(model: torch.nn.Module, image: torch.Tensor) -> float:
    """Max relative difference of the batch-inner output from the input-layout one."""
    with torch.no_grad():
        model.decoder_layout = "input"
        want = model(image)
        model.decoder_layout = "batch_inner"
        got = model(image)
    return ((got - want).abs().max() / want.abs().max()).item()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train", action="store_true", help="time forward + backward (train mode)")
    parser.add_argument("--dry-run", action="store_true", help="tiny models, 32², batch 2, 2 reps")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.preset, args.size, args.reps, args.batch = "tiny", 32, 2, 2
    if args.batch < 2:
        parser.error(f"--batch must be at least 2 (a batch of one is channels_last already), got {args.batch}")
    reexec_with_env()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image = torch.rand(args.batch, 3, args.size, args.size)
    calls = {}
    for name in ("restormer", "res_hair"):
        model = create_model(name, preset=args.preset).train(args.train)
        err = check_equal(model, image)
        print(f"{name}: batch-inner output vs input layout, max relative difference {err:.1e}")
        if not err < 1e-4:
            raise SystemExit(f"{name}: the batch-inner decoder disagrees ({err:.1e}); nothing timed")
        for label, fmt, layout in LAYOUTS:
            calls[f"{name} {label}"] = make_call(model, image.contiguous(memory_format=fmt), layout, args.train)

    samples = round_robin(calls, reps=args.reps, target_s=0.0)
    info = machine_info()
    what = "forward + backward" if args.train else "inference"
    print(f"{what}; {info['cpu']}, {args.threads} threads, torch {torch.__version__}; preset {args.preset}, "
          f"B={args.batch}, {args.size}²; medians of {args.reps} (spread "
          f"{geomean([spread(s) for s in samples.values()]):.0%}); load average {load_average()}")
    best_static = min(median(s) for name, s in samples.items() if name.startswith("restormer"))
    ratios = {}
    for name, s in samples.items():
        ratios[name] = median(s) / best_static
        print(f"  {name:24s} {median(s) * 1e3:9.1f} ms   / fastest Restormer {ratios[name]:5.2f}")
    return ratios


if __name__ == "__main__":
    main()
