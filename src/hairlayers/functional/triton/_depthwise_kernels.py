"""Direct Triton kernels for mixed depthwise convolutions (``groups == C_in == C_out``).

A depthwise layer has no reduction over channels, so it is not a GEMM: each program owns a
``(pixels, channels)`` tile and adds up ``KH·KW`` shifted input tiles scaled by that tap's
per-channel weight. The weight of a tap is mixed from the ``N`` experts once per program
(``N·BLOCK_C`` multiply-adds against ``BLOCK_P·BLOCK_C`` for the tap itself) and lives only in
registers.

* :func:`mixed_depthwise_kernel`: forward, or with ``TRANSPOSED`` the input gradient (the same
  taps read from ``(p + pad - k·dil) / stride`` when that divides).
* :func:`mixed_depthwise_wgrad_kernel`: per-sample tap gradients ``G_b[c, t]`` reduced at once
  into the box gradient ``Σ_b select[b, e] · G_b`` and into ``<G_b, box[e]>`` for the select
  gradient, with the pixel range optionally split over programs (partials summed by the caller).
"""

from __future__ import annotations

import triton
import triton.language as tl

from ._gemm_kernels import _source_index


@triton.jit(do_not_specialize=["C", "H_SRC", "W_SRC", "H_DST", "W_DST", "pad_h", "pad_w"])
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
    BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    pid_p = tl.program_id(0)
    pid_c = tl.program_id(1)
    b = tl.program_id(2).to(tl.int64)
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    p_ok = offs_p < H_DST * W_DST
    c_ok = offs_c < C
    oh = offs_p // W_DST
    ow = offs_p % W_DST
    src_base = src_ptr + b * s_sb + offs_c[None, :] * s_sc
    sel_base = sel_ptr + b * s_selb

    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=tl.float32)
    for t in range(KH * KW):  # not unrolled: KH·KW·N small loads would bloat compile time
        kh = t // KW
        kw = t % KW
        tap = tl.zeros((BLOCK_C,), dtype=tl.float32)
        for e in range(N_MIX):
            coef = tl.load(sel_base + e * s_sele).to(tl.float32)
            tap += coef * tl.load(
                box_ptr + e * s_we + offs_c * s_wc + kh * s_wh + kw * s_ww, mask=c_ok, other=0.0
            ).to(tl.float32)
        ih, h_ok = _source_index(oh, kh, pad_h, str_h, dil_h, H_SRC, TRANSPOSED)
        iw, w_ok = _source_index(ow, kw, pad_w, str_w, dil_w, W_SRC, TRANSPOSED)
        pix_ok = p_ok & h_ok & w_ok
        xa = tl.load(
            src_base + (ih * s_sh + iw * s_sw)[:, None],
            mask=pix_ok[:, None] & c_ok[None, :],
            other=0.0,
        )
        acc += xa.to(tl.float32) * tap[None, :]

    if HAS_BIAS:
        bias = tl.zeros((BLOCK_C,), dtype=tl.float32)
        for e in range(N_MIX):
            coef = tl.load(sel_base + e * s_sele).to(tl.float32)
            bias += coef * tl.load(bias_ptr + e * s_be + offs_c * s_bc, mask=c_ok, other=0.0).to(tl.float32)
        acc += bias[None, :]

    dst_ptrs = (
        dst_ptr + b * s_db + offs_c[None, :] * s_dc + oh[:, None] * s_dh + ow[:, None] * s_dw
    )
    tl.store(dst_ptrs, acc.to(dst_ptr.dtype.element_ty), mask=p_ok[:, None] & c_ok[None, :])


@triton.jit(do_not_specialize=["B", "C", "H_IN", "W_IN", "H_OUT", "W_OUT", "TILES_PER_SPLIT", "pad_h", "pad_w"])
def mixed_depthwise_wgrad_kernel(
    x_ptr, dy_ptr, sel_ptr, box_ptr, bias_ptr, gbox_ptr, gbias_ptr, gsel_ptr,
    B, N_MIX, C, H_IN, W_IN, H_OUT, W_OUT, TILES_PER_SPLIT,
    s_xb, s_xc, s_xh, s_xw,
    s_yb, s_yc, s_yh, s_yw,
    s_selb, s_sele,
    s_we, s_wc, s_wh, s_ww,
    s_be, s_bc,
    s_gs, s_ge, s_gc, s_gh, s_gw,
    s_hs, s_he, s_hc,
    pad_h, pad_w, str_h, str_w, dil_h, dil_w,
    KH: tl.constexpr, KW: tl.constexpr, HAS_BIAS: tl.constexpr,
    N_POW2: tl.constexpr, T_POW2: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    pid_c = tl.program_id(0)
    split = tl.program_id(1)
    program = pid_c * tl.num_programs(1) + split
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    offs_t = tl.arange(0, T_POW2)
    offs_e = tl.arange(0, N_POW2)
    c_ok = offs_c < C
    t_ok = offs_t < KH * KW
    e_ok = offs_e < N_MIX
    ct_ok = c_ok[:, None] & t_ok[None, :]
    tap_h = offs_t // KW
    tap_w = offs_t % KW

    p_total = H_OUT * W_OUT
    tile_lo = split * TILES_PER_SPLIT
    tile_hi = tl.minimum(tile_lo + TILES_PER_SPLIT, tl.cdiv(p_total, BLOCK_P))

    box_tile = box_ptr + offs_c[:, None] * s_wc + tap_h[None, :] * s_wh + tap_w[None, :] * s_ww
    acc_w = tl.zeros((N_POW2, BLOCK_C, T_POW2), dtype=tl.float32)
    acc_b = tl.zeros((N_POW2, BLOCK_C), dtype=tl.float32)
    # Per-sample pointers advance by a stride each step: pointer arithmetic is 64-bit.
    x_b = x_ptr
    dy_b = dy_ptr
    sel_b = sel_ptr
    for b in range(B):
        grad = tl.zeros((BLOCK_C, T_POW2), dtype=tl.float32)
        dbias = tl.zeros((BLOCK_C,), dtype=tl.float32)
        for pt in range(tile_lo, tile_hi):
            offs_p = pt * BLOCK_P + tl.arange(0, BLOCK_P)
            p_ok = offs_p < p_total
            oh = offs_p // W_OUT
            ow = offs_p % W_OUT
            dy = tl.load(
                dy_b + offs_c[None, :] * s_yc + (oh * s_yh + ow * s_yw)[:, None],
                mask=p_ok[:, None] & c_ok[None, :],
                other=0.0,
            ).to(tl.float32)
            for t in range(KH * KW):
                ih, h_ok = _source_index(oh, t // KW, pad_h, str_h, dil_h, H_IN, False)
                iw, w_ok = _source_index(ow, t % KW, pad_w, str_w, dil_w, W_IN, False)
                xa = tl.load(
                    x_b + offs_c[None, :] * s_xc + (ih * s_xh + iw * s_xw)[:, None],
                    mask=(p_ok & h_ok & w_ok)[:, None] & c_ok[None, :],
                    other=0.0,
                ).to(tl.float32)
                column = tl.sum(dy * xa, axis=0)
                grad += tl.where(offs_t[None, :] == t, column[:, None], 0.0)
            if HAS_BIAS:
                dbias += tl.sum(dy, axis=0)

        coefs = tl.load(sel_b + offs_e * s_sele, mask=e_ok, other=0.0).to(tl.float32)
        acc_w += coefs[:, None, None] * grad[None, :, :]
        if HAS_BIAS:
            acc_b += coefs[:, None] * dbias[None, :]
        for e in range(N_MIX):
            w = tl.load(box_tile + e * s_we, mask=ct_ok, other=0.0).to(tl.float32)
            part = tl.sum(tl.sum(w * grad, axis=1), axis=0)
            if HAS_BIAS:
                bias_e = tl.load(bias_ptr + e * s_be + offs_c * s_bc, mask=c_ok, other=0.0).to(tl.float32)
                part += tl.sum(bias_e * dbias, axis=0)
            tl.store(gsel_ptr + (program * B + b) * N_MIX + e, part)
        x_b += s_xb
        dy_b += s_yb
        sel_b += s_selb

    gbox_ptrs = (
        gbox_ptr + split * s_gs + offs_e[:, None, None] * s_ge + offs_c[None, :, None] * s_gc
        + tap_h[None, None, :] * s_gh + tap_w[None, None, :] * s_gw
    )
    tl.store(gbox_ptrs, acc_w, mask=e_ok[:, None, None] & ct_ok[None, :, :])
    if HAS_BIAS:
        gbias_ptrs = gbias_ptr + split * s_hs + offs_e[:, None] * s_he + offs_c[None, :] * s_hc
        tl.store(gbias_ptrs, acc_b, mask=e_ok[:, None] & c_ok[None, :])
