"""Restore one image file with a zoo model, tiled, one GIV per image.

    python examples/restore.py INPUT.png --model res_hair --variant official \
        --checkpoint ckpt/hair5d.ckpt --output restored.png

Without ``--checkpoint`` the model keeps its random initialisation (useful only to try the
pipeline). Large images are processed in ``--tile`` × ``--tile`` tiles with ``--overlap`` pixels of
linear blending; HAIR models compute their GIV once from the whole (downscaled) image and give it to
every tile, so tiles never disagree about the degradation.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from hairlayers import restore
from hairlayers.data import load_image
from hairlayers.giv import is_hair_model
from hairlayers.models import create_model, list_models


def save_png(image: torch.Tensor, path: str) -> None:
    from PIL import Image  # optional dependency: pip install hairlayers[examples]

    array = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    Image.fromarray(array).save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="image file (PNG, JPEG, ...)")
    parser.add_argument("--model", default="res_hair", choices=list_models())
    parser.add_argument("--checkpoint", help="the authors' released weights (.pth / .ckpt)")
    parser.add_argument("--variant", help="model variant, e.g. 'official' for res_hair")
    parser.add_argument("--preset", help="model size preset (paper size when omitted)")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", default="restored.png")
    args = parser.parse_args(argv)

    kwargs = {k: v for k, v in (("variant", args.variant), ("preset", args.preset)) if v is not None}
    model = create_model(args.model, checkpoint=args.checkpoint, **kwargs).to(args.device).eval()
    if args.checkpoint is None:
        print("warning: no --checkpoint given; the model is randomly initialised", file=sys.stderr)
    image = load_image(args.input).to(args.device)
    start = time.perf_counter()
    out = restore(model, image, tile=args.tile, overlap=args.overlap)
    seconds = time.perf_counter() - start
    save_png(out, args.output)
    giv_note = " (one GIV for the whole image)" if is_hair_model(model) else ""
    print(f"{args.input} {tuple(image.shape[1:])} -> {args.output} in {seconds:.1f} s on {args.device}{giv_note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
