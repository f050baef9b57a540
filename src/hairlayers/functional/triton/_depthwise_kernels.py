"""Direct Triton kernels for mixed depthwise convolutions (``groups == C_in == C_out``).

A depthwise layer has no reduction over channels, so it is not a GEMM but a memory-bound
stencil: each output reads ``KH·KW`` neighbours of one channel. Each program owns a
``(BLOCK_C channels, BLOCK_H rows, BLOCK_W columns)`` tile of one sample, so the ``KH·KW``
shifted reads of a tile overlap in L1 and each input byte comes from DRAM about once. The tile's
long side follows the fastest memory axis (W for NCHW, C for channels_last), which the caller
picks through the block sizes; the kernel itself takes any strides. Rows and columns come from
2-D program coordinates, so no per-pixel division is needed.

The weight of a tap is mixed from the ``N`` experts in registers (an ``(N, BLOCK_C)`` load and
a sum over experts) and never written to memory; the launcher hands over the box with the
channels innermost, so that load is as wide as the activations'. The tap loop is unrolled so
all ``KH·KW`` input loads can be in flight at once.

* :func:`mixed_depthwise_kernel`: forward, or with ``TRANSPOSED`` the input gradient (the same
  taps read from ``(p + pad - k·dil) / stride`` when that divides).
* :func:`depthwise_tap_grad_kernel`: per-sample, per-tile tap gradients
  ``Σ_p dY[b, c, p] · X[b, c, p + tap]`` (and ``Σ_p dY`` for the bias); the caller sums the tiles
  and reduces the samples into the box and select gradients with two small matmuls.
"""

from __future__ import annotations

import triton
import triton.language as tl

from ._gemm_kernels import _source_index


@triton.jit
def _tile_coords(
    BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr, C_ALIGN: tl.constexpr, C, H_DST, W_DST
):
    """Channel, row and column offsets of this program's tile and their in-range masks.

    The channel mask is ``offs_c < C`` written so that Triton sees it constant over runs of
    ``C_ALIGN`` channels (``C`` is a multiple of it), which a vectorised load of them needs.
    """
    tiles_w = tl.cdiv(W_DST, BLOCK_W)
    pid_hw = tl.program_id(0)
    offs_h = (pid_hw // tiles_w) * BLOCK_H + tl.arange(0, BLOCK_H)
    offs_w = (pid_hw % tiles_w) * BLOCK_W + tl.arange(0, BLOCK_W)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = (offs_c // C_ALIGN) < (C // C_ALIGN)
    return offs_c, offs_h, offs_w, c_ok, offs_h < H_DST, offs_w < W_DST


@triton.jit
def _pixel_offsets(rows, cols, s_h, s_w, C_ALIGN: tl.constexpr):
    """``(rows, cols)`` element offsets of pixels, declared multiples of ``C_ALIGN`` (the launcher
    only passes ``C_ALIGN > 1`` when both strides are multiples of it)."""
    offsets = (rows * s_h)[:, None] + (cols * s_w)[None, :]
    if C_ALIGN > 1:
        offsets = tl.multiple_of(offsets, [C_ALIGN, C_ALIGN])
    return offsets


# The channel count is specialised (a multiple of 16 carries that hint): in channels_last it masks
# the contiguous axis, and only an evenly masked axis gets 16-byte loads. Sizes and padding are
# not: an NCHW tap is shifted by a column and cannot be aligned anyway (benchmarks/triton_ptx.py).
@triton.jit(do_not_specialize=["H_SRC", "W_SRC", "H_DST", "W_DST", "pad_h", "pad_w"])
def mixed_depthwise_kernel(
    src_ptr, sel_ptr, box_ptr, bias_ptr, dst_ptr,
    N_MIX, C, H_SRC, W_SRC, H_DST, W_DST,
    s_sb, s_sc, s_sh, s_sw,
    s_selb, s_sele,
    s_we, s_wc, s_wh, s_ww,
    s_be, s_bc,
    s_db, s_dc, s_dh, s_dw,
    pad_h, pad_w, str_h, str_w, dil_h, dil_w,
    KH: tl.constexpr, KW: tl.constexpr, TRANSPOSED: tl.constexpr, HAS_BIAS: tl.constexpr,
    N_POW2: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr,
    C_ALIGN: tl.constexpr,
):
    b = tl.program_id(2).to(tl.int64)
    offs_c, oh, ow, c_ok, oh_ok, ow_ok = _tile_coords(BLOCK_C, BLOCK_H, BLOCK_W, C_ALIGN, C, H_DST, W_DST)
    offs_e = tl.arange(0, N_POW2)
    e_ok = offs_e < N_MIX
    coefs = tl.load(sel_ptr + b * s_selb + offs_e * s_sele, mask=e_ok, other=0.0).to(tl.float32)
    ec_ok = e_ok[:, None] & c_ok[None, :]
    expert_offsets = offs_e * s_we
    src_c = src_ptr + b * s_sb + offs_c[:, None, None] * s_sc
    c3_ok = c_ok[:, None, None]

    acc = tl.zeros((BLOCK_C, BLOCK_H, BLOCK_W), dtype=tl.float32)
    for t in tl.static_range(KH * KW):
        kh = t // KW
        kw = t % KW
        tap_offsets = expert_offsets + kh * s_wh + kw * s_ww
        if C_ALIGN > 1:
            tap_offsets = tl.multiple_of(tap_offsets, [C_ALIGN])
        experts = tl.load(
            box_ptr + tap_offsets[:, None] + offs_c[None, :] * s_wc, mask=ec_ok, other=0.0
        ).to(tl.float32)
        tap = tl.sum(coefs[:, None] * experts, axis=0)
        ih, h_ok = _source_index(oh, kh, pad_h, str_h, dil_h, H_SRC, TRANSPOSED)
        iw, w_ok = _source_index(ow, kw, pad_w, str_w, dil_w, W_SRC, TRANSPOSED)
        xa = tl.load(
            src_c + _pixel_offsets(ih, iw, s_sh, s_sw, C_ALIGN)[None, :, :],
            mask=c3_ok & (oh_ok & h_ok)[None, :, None] & (ow_ok & w_ok)[None, None, :],
            other=0.0,
        )
        acc += xa.to(tl.float32) * tap[:, None, None]

    if HAS_BIAS:
        biases = tl.load(bias_ptr + offs_e[:, None] * s_be + offs_c[None, :] * s_bc, mask=ec_ok, other=0.0)
        acc += tl.sum(coefs[:, None] * biases.to(tl.float32), axis=0)[:, None, None]

    dst_ptrs = (
        dst_ptr + b * s_db + offs_c[:, None, None] * s_dc + _pixel_offsets(oh, ow, s_dh, s_dw, C_ALIGN)[None, :, :]
    )
    tl.store(
        dst_ptrs, acc.to(dst_ptr.dtype.element_ty),
        mask=c3_ok & oh_ok[None, :, None] & ow_ok[None, None, :],
    )


@triton.jit(do_not_specialize=["H_IN", "W_IN", "H_OUT", "W_OUT", "pad_h", "pad_w"])
def depthwise_tap_grad_kernel(
    x_ptr, dy_ptr, part_ptr,
    C, H_IN, W_IN, H_OUT, W_OUT,
    s_xb, s_xc, s_xh, s_xw,
    s_yb, s_yc, s_yh, s_yw,
    s_pt, s_pb, s_pc,
    pad_h, pad_w, str_h, str_w, dil_h, dil_w,
    KH: tl.constexpr, KW: tl.constexpr, HAS_BIAS: tl.constexpr,
    BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr, C_ALIGN: tl.constexpr,
):
    """``part[tile, b, c, t] = Σ_(p in tile) dY[b, c, p] · X[b, c, src(p, t)]``; ``t = KH·KW`` is ``Σ dY``."""
    b = tl.program_id(2).to(tl.int64)
    offs_c, oh, ow, c_ok, oh_ok, ow_ok = _tile_coords(BLOCK_C, BLOCK_H, BLOCK_W, C_ALIGN, C, H_OUT, W_OUT)
    c3_ok = c_ok[:, None, None]
    dy = tl.load(
        dy_ptr + b * s_yb + offs_c[:, None, None] * s_yc + _pixel_offsets(oh, ow, s_yh, s_yw, C_ALIGN)[None, :, :],
        mask=c3_ok & oh_ok[None, :, None] & ow_ok[None, None, :],
        other=0.0,
    ).to(tl.float32)
    x_c = x_ptr + b * s_xb + offs_c[:, None, None] * s_xc
    # Tiles are numbered in grid order; the tile index is the program's (row, column) tile.
    part = part_ptr + tl.program_id(0) * s_pt + b * s_pb + offs_c * s_pc
    for t in tl.static_range(KH * KW):
        kh = t // KW
        kw = t % KW
        ih, h_ok = _source_index(oh, kh, pad_h, str_h, dil_h, H_IN, False)
        iw, w_ok = _source_index(ow, kw, pad_w, str_w, dil_w, W_IN, False)
        xa = tl.load(
            x_c + _pixel_offsets(ih, iw, s_xh, s_xw, C_ALIGN)[None, :, :],
            mask=c3_ok & (oh_ok & h_ok)[None, :, None] & (ow_ok & w_ok)[None, None, :],
            other=0.0,
        ).to(tl.float32)
        tl.store(part + t, tl.sum(tl.sum(dy * xa, axis=2), axis=1), mask=c_ok)
    if HAS_BIAS:
        tl.store(part + KH * KW, tl.sum(tl.sum(dy, axis=2), axis=1), mask=c_ok)
