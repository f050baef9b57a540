"""What the Triton kernels compile to on an H100, checked without a GPU.

For each Restormer decoder layer (the list of ``gpu_kernels.py``), dtype and memory layout, the
kernel launches that ``backend="triton"`` makes for one forward and one backward are recorded on
CPU tensors (nothing runs: the launches are only captured), compiled for sm_90 with the
specialisation Triton's launcher gives those arguments (integers equal to 1 become constants,
integers and pointers divisible by 16 carry that hint), and reported: registers, stack bytes
(local memory: spills), shared memory, and the width of every global load and store in the PTX.

The widths are the point. The depthwise and 1x1 kernels are memory-bound; a kernel that moves
its activations two bytes per instruction (``ld.global.b16``) issues eight times the loads of
one that moves sixteen (``ld.global.v4.b32``, or ``cp.async`` 16 B into shared memory), and no
tile size makes up for that. Triton only vectorises an access when it can prove the addresses
contiguous and 16-byte aligned and the mask constant across the vector, which needs the channel
count (the mask of the contiguous axis in channels_last) and, in NCHW, the sizes and padding to
be specialised. Layers whose contiguous extent is not a multiple of 8 (the Restormer feed-forward
width 2h = 254, 510, ... in channels_last) cannot be 16-byte aligned and stay narrow.

Needs Triton (its wheel ships ``ptxas`` and ``cuobjdump``); no GPU. Compiles are cached by
Triton (``~/.triton/cache``), so a second run takes seconds.

Usage::

    PYTHONPATH=src python benchmarks/triton_ptx.py                 # every layer, bf16 and fp32
    PYTHONPATH=src python benchmarks/triton_ptx.py --quick         # two layers, bf16
    PYTHONPATH=src python benchmarks/triton_ptx.py --layers "qkv dw" --channels 48 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterator

if os.environ.get("TRITON_INTERPRET") == "1":  # the interpreter replaces the kernels: nothing to compile
    sys.exit("triton_ptx.py compiles the kernels for a GPU: run it without TRITON_INTERPRET=1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource, make_backend  # noqa: E402
from triton.runtime.jit import create_function_from_signature  # noqa: E402

from gpu_kernels import Layer, restormer_decoder_layers  # noqa: E402
from hairlayers.functional.geometry import ConvSpec  # noqa: E402
from hairlayers.functional.triton import _launch  # noqa: E402

#: An H100 (sm_90); the warp size is 32.
TARGET = GPUTarget("cuda", 90, 32)
KERNELS = ("mixed_depthwise_kernel", "depthwise_tap_grad_kernel", "per_sample_conv_kernel", "mixed_conv_wgrad_kernel")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


@dataclass
class Launch:
    kernel: object  # the JITFunction
    args: tuple
    kwargs: dict

    @property
    def role(self) -> str:
        name = self.kernel.fn.__name__
        if name in ("depthwise_tap_grad_kernel", "mixed_conv_wgrad_kernel"):
            return f"{name} (weight grad)"
        return f"{name} ({'input grad' if self.kwargs.get('TRANSPOSED') else 'forward'})"

    @property
    def blocks(self) -> dict:
        return {k: v for k, v in self.kwargs.items() if k.startswith("BLOCK") or k == "num_warps"}


@contextlib.contextmanager
def recorded_launches() -> Iterator[list[Launch]]:
    """Inside the block, ``kernel[grid](...)`` in the launcher records the call instead of running it."""
    launches: list[Launch] = []

    class Recorder:
        def __init__(self, kernel):
            self.kernel = kernel

        def __getitem__(self, grid):
            return lambda *args, **kwargs: launches.append(Launch(self.kernel, args, kwargs))

    originals = {name: getattr(_launch, name) for name in KERNELS}
    for name, kernel in originals.items():
        setattr(_launch, name, Recorder(kernel))
    try:
        yield launches
    finally:
        for name, kernel in originals.items():
            setattr(_launch, name, kernel)


def layer_launches(layer: Layer, dtype: torch.dtype, layout: torch.memory_format, n: int = 9, batch: int = 8) -> list[Launch]:
    """The launches of one forward and one backward (input and parameter gradients) of ``layer``.

    The tensors are uninitialised CPU tensors: only their shapes, strides, dtypes and alignment
    matter, and the kernels are not run.
    """
    size = (layer.size, layer.size)
    x = torch.empty(batch, layer.c_in, *size, dtype=dtype).contiguous(memory_format=layout)
    dy = torch.empty(batch, layer.c_out, *size, dtype=dtype).contiguous(memory_format=layout)
    box = torch.empty(n, layer.c_out, layer.c_in // layer.groups, layer.kernel, layer.kernel, dtype=dtype)
    select = torch.empty(batch, n, dtype=dtype)
    spec = ConvSpec.resolve(layer.kernel, 1, layer.kernel // 2, 1, layer.groups)
    with recorded_launches() as launches:
        _launch.conv_forward(x, select, box, None, spec, allow_tf32=True)
        _launch.conv_backward(dy, x, select, box, None, spec, True, need_x=True, need_params=True)
    return launches


_BACKEND = None
_COMPILED: dict = {}


def compile_launch(launch: Launch):
    """The launch compiled for :data:`TARGET`, specialised as Triton's launcher would (cached)."""
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = make_backend(TARGET)
    kernel = launch.kernel
    binder = create_function_from_signature(kernel.signature, kernel.params, _BACKEND)
    bound, specialization, options = binder(*launch.args, **launch.kwargs)
    options, signature, constexprs, attrs = kernel._pack_args(_BACKEND, launch.kwargs, bound, specialization, options)
    key = (kernel.fn.__name__, repr(signature), repr(constexprs), repr(attrs), repr(options))
    if key not in _COMPILED:
        source = ASTSource(kernel, signature, constexprs, attrs)
        _COMPILED[key] = triton.compile(source, target=TARGET, options=options.__dict__)
    return _COMPILED[key]


def _width(instruction: str) -> int:
    """Bytes one ``ld.global``/``st.global`` instruction moves, e.g. ``ld.global.v4.b32`` -> 16."""
    bits = int(re.search(r"\.[bfsu](\d+)$", instruction).group(1))
    vector = re.search(r"\.v(\d)\.", instruction)
    return (int(vector.group(1)) if vector else 1) * bits // 8


def _resources(cubin: bytes) -> dict:
    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        text = subprocess.run([tool, "--dump-resource-usage", f.name], capture_output=True, text=True, check=True).stdout
    found = re.search(r"REG:(\d+).*?STACK:(\d+)", text)
    return {"registers": int(found.group(1)), "stack_bytes": int(found.group(2))}


def analyse(compiled) -> dict:
    """Registers, stack, shared memory, and a ``{bytes: count}`` of the global loads and stores."""
    ptx = compiled.asm["ptx"]
    loads = Counter(_width(i) for i in re.findall(r"ld\.global[\w.:]*\.[bfsu]\d+", ptx))
    # cp.async copies global memory to shared memory (the GEMM's pipelined operand loads).
    loads.update(int(n, 0) for n in re.findall(r"cp\.async\.\w+\.shared\.global \[[^]]+\], \[[^]]+\], (0x[0-9a-f]+|\d+)", ptx))
    stores = Counter(_width(i) for i in re.findall(r"st\.global[\w.:]*\.[bfsu]\d+", ptx))
    return {
        **_resources(compiled.asm["cubin"]),
        "shared_bytes": compiled.metadata.shared,
        "loads": dict(sorted(loads.items(), reverse=True)),
        "stores": dict(sorted(stores.items(), reverse=True)),
    }


def _histogram(counts: dict) -> str:
    return " ".join(f"{width}Bx{count}" for width, count in counts.items()) or "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the two layers of gpu_kernels.py --quick, bf16")
    parser.add_argument("--layers", default="", help="comma-separated substrings of layer names (default all)")
    parser.add_argument("--channels", default="", help="comma-separated level widths C (default 48,96,192,384)")
    parser.add_argument("--dtypes", default="", help=f"comma-separated, of {list(DTYPES)} (default bf16,fp32)")
    parser.add_argument("--layouts", default="", help=f"comma-separated, of {list(LAYOUTS)} (default both)")
    parser.add_argument("--json", default=None, help="write the rows to this file")
    args = parser.parse_args()

    layers = restormer_decoder_layers(dry_run=False, quick=args.quick)
    if args.layers:
        layers = [l for l in layers if any(s.strip() in l.name for s in args.layers.split(","))]
    if args.channels:
        layers = [l for l in layers if str(l.channels) in args.channels.split(",")]
    dtypes = args.dtypes.split(",") if args.dtypes else (["bf16"] if args.quick else ["bf16", "fp32"])
    layouts = args.layouts.split(",") if args.layouts else list(LAYOUTS)
    for name, known in ((dtypes, DTYPES), (layouts, LAYOUTS)):
        unknown = [v for v in name if v not in known]
        if unknown:
            parser.error(f"unknown value(s) {unknown}; expected some of {list(known)}")
    if not layers:
        parser.error("no layer matches --layers/--channels")

    print(f"triton {triton.__version__}, torch {torch.__version__}, target sm_{TARGET.arch} (compiled, not run)")
    header = f"{'layer':<20} {'C':>4} {'HxW':>7} {'dtype':<5} {'layout':<13} {'kernel (role)':<44} {'regs':>4} {'stack':>5} {'smem':>6}  loads / stores (bytes x count)"
    print(header)
    print("-" * len(header))
    rows = []
    for layer in layers:
        for dtype_name in dtypes:
            for layout in layouts:
                for launch in layer_launches(layer, DTYPES[dtype_name], LAYOUTS[layout]):
                    info = analyse(compile_launch(launch))
                    rows.append(dict(layer=asdict(layer), dtype=dtype_name, layout=layout, kernel=launch.role,
                                     blocks=launch.blocks, **info))
                    print(f"{layer.name:<20} {layer.channels:>4} {layer.size:>3}x{layer.size:<3} {dtype_name:<5} "
                          f"{layout:<13} {launch.role:<44} {info['registers']:>4} {info['stack_bytes']:>5} "
                          f"{info['shared_bytes']:>6}  {_histogram(info['loads'])} / {_histogram(info['stores'])}",
                          flush=True)
    print("\nGlobal load instructions per thread, summed over the layers above, and how many move < 8 bytes:")
    totals: dict = {}
    for r in rows:
        total, narrow = totals.get((r["kernel"], r["layout"], r["dtype"]), (0, 0))
        total += sum(r["loads"].values())
        narrow += sum(n for width, n in r["loads"].items() if width < 8)
        totals[(r["kernel"], r["layout"], r["dtype"])] = (total, narrow)
    for (kernel, layout, dtype_name), (total, narrow) in sorted(totals.items()):
        print(f"  {kernel:<44} {layout:<13} {dtype_name:<5} {total:>5} loads, {narrow:>5} narrow")
    spilled = [r for r in rows if r["stack_bytes"]]
    print(f"\n{len(rows)} launches, {len(_COMPILED)} distinct compiles; with stack (spills): {len(spilled)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"triton": triton.__version__, "target": f"sm_{TARGET.arch}", "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
