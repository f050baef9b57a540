"""Tile (block) sizes of the Triton kernels: a rule per kernel, measured for the depthwise kernels.

By default a rule decides, so a first call costs one compile per specialisation and nothing else.
With :mod:`autotuning <hairlayers.functional.autotune>` on (the switch the torch backend's
formulations use), the first call of each depthwise case on a GPU times a few tiles of the kernel
it launches (forward, input gradient, tap gradient: each its own case) and keeps the fastest;
every later call of the case takes it without timing. The timing is GPU time: the calls are
queued behind a short spin kernel, so Triton's launch overhead on the host does not hide the
difference between tiles. Under ``torch.compile`` tracing and CUDA-graph capture nothing is timed:
a case already decided keeps its tile, any other takes the rule.

Under ``TRITON_INTERPRET=1`` the rule keeps the tiles tiny (so the CPU tests cross tile
boundaries), and autotuning, when switched on, times the same candidates as on a GPU on the
interpreter's clock: meaningless as a measurement, but it runs the code path.
"""

from __future__ import annotations

from typing import Callable

import torch
import triton

from ..._checks import host_sync_allowed
from .. import autotune
from . import interpreting

#: Depthwise tiles tried by autotuning besides the rule's, ``(BLOCK_C, BLOCK_H, BLOCK_W,
#: num_warps)`` before they are clamped to the tensor. NCHW ("pixels" contiguous) tiles are long
#: along W, channels_last ones along C; they vary the channel block, the pixels per program
#: (reuse of the mixed taps against parallelism) and the warps. Few, because each is a compile
#: per kernel and specialisation on a case's first call.
DEPTHWISE_TILE_CANDIDATES = {
    "pixels": ((1, 8, 64, 4), (4, 4, 64, 4), (2, 16, 64, 8)),
    "channels": ((32, 4, 8, 4), (128, 2, 4, 4), (64, 4, 8, 8)),
}

#: GPU clock cycles the timing spin kernel runs (about a millisecond): longer than the host takes
#: to queue the timed calls behind it.
SPIN_CYCLES = 2_000_000
TIMED_CALLS = 10


def pow2(n: int, lo: int, hi: int) -> int:
    """The next power of two of ``n``, clamped to ``[lo, hi]``."""
    return max(lo, min(hi, triton.next_power_of_2(max(n, 1))))


def least_padding_block(n: int, choices: tuple[int, ...] = (128, 64, 32, 16)) -> int:
    """The largest block that pads ``n`` by at most 15%, else the one that pads it least.

    E.g. 144 output channels take 32 (160 computed) rather than 128 (256 computed).
    """
    padded = {c: triton.cdiv(n, c) * c for c in choices}
    for c in choices:
        if padded[c] <= 1.15 * n:
            return c
    return min(choices, key=lambda c: (padded[c], -c))


def gemm_blocks(m: int, n: int, k: int, dtype: torch.dtype) -> dict:
    """Tiles of the implicit-GEMM kernel: ``m`` output pixels, ``n`` output and ``k`` input channels."""
    if interpreting():
        return dict(BLOCK_M=pow2(m, 16, 64), BLOCK_N=pow2(n, 16, 32), BLOCK_K=pow2(k, 16, 32), num_warps=4)
    # The Restormer 1x1 layers are memory-bound (K = C_in of 48..1152, the output is the larger
    # tensor): wide output-channel tiles so each activation tile is read by few programs (144
    # channels take 3 tiles of 64, not 5 of 32: the padded MMA work is cheap, the re-reads not).
    # Checked with ptxas for sm_90 (Triton 3.6 and 3.9, bf16 and fp32, NCHW and channels_last):
    # these tiles with BLOCK_K = 32 stay at <= 255 registers without spilling; BLOCK_K = 64 in
    # 16-bit spills, 4 warps spill on a 128-wide side, and so does fp32 channels_last 128x128.
    block_n = least_padding_block(n, (128, 64)) if n > 64 else pow2(n, 16, 64)
    block_m = 128 if m >= 2048 and not (block_n == 128 and dtype == torch.float32) else 64
    block_k = pow2(k, 16, 32)
    num_warps = 8 if 128 in (block_m, block_n) else 4
    return dict(BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=num_warps, num_stages=3)


def depthwise_blocks(h: int, w: int, c: int, pixels_contiguous: bool) -> dict:
    """The rule: a ``(BLOCK_C, BLOCK_H, BLOCK_W)`` tile of ~1024 elements, long along the contiguous axis."""
    if interpreting():
        return dict(BLOCK_C=pow2(c, 1, 4), BLOCK_H=pow2(h, 1, 4), BLOCK_W=pow2(w, 1, 8), num_warps=4)
    if pixels_contiguous:  # NCHW: whole 64-wide row segments, 512 pixels, 2 channels
        block_w = pow2(w, 8, 64)
        block_h = pow2(h, 1, 512 // block_w)
        block_c = pow2(c, 1, max(1, 1024 // (block_h * block_w)))
    else:  # channels_last: the channel block is the contiguous run
        block_c = least_padding_block(c, (64, 32, 16, 8)) if c >= 8 else pow2(c, 1, 8)
        block_w = pow2(w, 1, 8)
        block_h = pow2(h, 1, max(1, 1024 // (block_c * block_w)))
    return dict(BLOCK_C=block_c, BLOCK_H=block_h, BLOCK_W=block_w, num_warps=4)


def depthwise_candidates(h: int, w: int, c: int, pixels_contiguous: bool) -> list[dict]:
    """The rule's tile, then :data:`DEPTHWISE_TILE_CANDIDATES` clamped to an ``h x w`` output of
    ``c`` channels (no block longer than the next power of two of its axis), without repeats."""
    tiles = [depthwise_blocks(h, w, c, pixels_contiguous)]
    for block_c, block_h, block_w, warps in DEPTHWISE_TILE_CANDIDATES["pixels" if pixels_contiguous else "channels"]:
        tile = dict(BLOCK_C=pow2(c, 1, block_c), BLOCK_H=pow2(h, 1, block_h), BLOCK_W=pow2(w, 1, block_w),
                    num_warps=warps)
        if tile not in tiles:
            tiles.append(tile)
    return tiles


def tile_name(tile: dict) -> str:
    """``"C64xH2xW8/4w"``: how a tile is remembered in :func:`~hairlayers.functional.autotune.choices`."""
    return f"C{tile['BLOCK_C']}xH{tile['BLOCK_H']}xW{tile['BLOCK_W']}/{tile['num_warps']}w"


def gpu_seconds(run: Callable[[], object]) -> float:
    """GPU seconds of one call of ``run``: :data:`TIMED_CALLS` calls queued behind a spin kernel
    of :data:`SPIN_CYCLES`, between two CUDA events, so host-side launch time does not count."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda._sleep(SPIN_CYCLES)
    start.record()
    for _ in range(TIMED_CALLS):
        run()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3 / TIMED_CALLS


def depthwise_tile(
    kernel: str, case: Callable[[], tuple], out: torch.Tensor, channels: int, launch: Callable[[dict], object]
) -> dict:
    """The tile for one depthwise launch writing ``out`` (``channels`` channels).

    Args:
        kernel: which launch (``"forward"``, ``"input_grad"``, ``"tap_grad"``); part of the case.
        case: returns everything else that identifies the case (shapes, strides, geometry, dtype,
            device); only called with autotuning on, so a plain call builds no key.
        out: the tensor the launch writes: its size and layout pick the tile shapes.
        launch: ``tile -> result``; with autotuning on it runs once per candidate and round.
    """
    height, width = out.shape[2:]
    pixels_contiguous = out.stride(3) == 1
    rule = depthwise_blocks(height, width, channels, pixels_contiguous)
    if not autotune.is_enabled() or not (out.is_cuda or interpreting()):
        return rule
    tiles = {tile_name(t): t for t in depthwise_candidates(height, width, channels, pixels_contiguous)}
    key = ("triton_depthwise", kernel, *case())
    decided = autotune.chosen(key)
    if decided is not None:
        return tiles[decided]
    if not host_sync_allowed(out):  # compile tracing, CUDA-graph capture: nothing is timed
        return rule

    def make_run(name: str) -> Callable[[], object]:
        return lambda: launch(tiles[name])

    timer = gpu_seconds if out.is_cuda else None
    return tiles[autotune.pick(key, list(tiles), make_run, out.device, timer=timer)]
