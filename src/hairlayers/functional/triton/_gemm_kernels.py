"""Implicit-GEMM Triton kernels for mixed convolutions (1x1, dense and grouped kxk, linear).

Two kernels cover forward and backward of every non-depthwise case:

* :func:`per_sample_conv_kernel` computes ``dst[b] = conv(src[b], W[b])`` for per-sample
  weights ``W[b] = Σ_e select[b, e] · box[e]`` that the caller mixed beforehand (one small
  ``(B, N) @ (N, weights)`` matmul). The reduction is one loop over (tap, input-channel tile)
  steps; within a step the tap is fixed, so its im2col addresses are one vector over output
  pixels. Mixing inside the kernel was measured 1.2-12x slower on an H100: every
  ``(pixel tile, channel tile)`` program re-read ``N`` expert tiles, ``N·BLOCK_N`` loads per
  ``BLOCK_M`` activation loads, and the expert loop kept the K loop from being software
  pipelined. Reading ``W[b]`` costs ``B·|W|`` bytes once. With ``TRANSPOSED`` it computes the input gradient
  instead (a transposed convolution: source pixel ``(p + pad - k·dil) / stride`` when that
  divides), reading the box with its channel axes swapped by the caller's strides.
* :func:`mixed_conv_wgrad_kernel` (kxk layers other than plain 1x1, whose weight gradient is a
  cuBLAS ``bmm``) computes the per-sample weight gradient tile
  ``G_b = dY_bᵀ · im2col(X_b)`` for one ``(out-channel tile, tap, in-channel tile)`` and folds it
  at once into the box gradient ``Σ_b select[b, e] · G_b`` (an ``(N, BN, BK)`` register
  accumulator) and into the select gradient ``<G_b, box[e]>``: no ``(B, P)`` tensor is formed.
  The pixel range may be split over programs (``SPLIT``) for parallelism; the caller sums the
  per-split partial results.

Strides are passed explicitly, so NCHW, channels_last and token-major (linear) layouts all run
without copies. Offsets inside one sample are int32; the caller checks they fit.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _source_index(dst, k, pad, stride, dil, size, TRANSPOSED: tl.constexpr):
    """Index along one spatial axis that output position ``dst`` reads for tap ``k``, and its mask."""
    if TRANSPOSED:
        num = dst + pad - k * dil
        if stride == 1:  # resolved at compile time (a stride of 1 is specialised): no division,
            # and the index stays visibly contiguous, so the loads along it can be vectorised
            src = num
            ok = (num >= 0) & (num < size)
        else:
            num_c = tl.where(num >= 0, num, 0)
            src = num_c // stride
            ok = (num >= 0) & (num_c - src * stride == 0) & (src < size)
    else:
        src = dst * stride - pad + k * dil
        ok = (src >= 0) & (src < size)
    return src, ok


# Every integer is specialised (1 becomes a constant, multiples of 16 carry that hint): a tile
# load is vectorised only when Triton can prove it contiguous, 16-byte aligned and evenly masked,
# which depends on the channel counts (the masks), the sizes and the padding (the pixel
# indices). Without the hints every load was 2 bytes wide (benchmarks/triton_ptx.py).
@triton.jit
def per_sample_conv_kernel(
    src_ptr, w_ptr, bias_ptr, dst_ptr,
    C_DST_G, C_SRC_G, H_SRC, W_SRC, H_DST, W_DST,
    s_sb, s_sc, s_sh, s_sw,
    s_wb, s_wg, s_wd, s_ws, s_wh, s_ww,
    s_bb, s_bc,
    s_db, s_dc, s_dh, s_dw,
    pad_h, pad_w, str_h, str_w, dil_h, dil_w,
    KH: tl.constexpr, KW: tl.constexpr, TRANSPOSED: tl.constexpr, HAS_BIAS: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # Axis 0 (fastest) walks pixel tiles so neighbouring programs reuse the same weight tiles in L2.
    pid_m = tl.program_id(0)
    pid_gn = tl.program_id(1)
    b = tl.program_id(2).to(tl.int64)
    n_tiles = tl.cdiv(C_DST_G, BLOCK_N)
    g = pid_gn // n_tiles
    pid_n = pid_gn % n_tiles

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    m_ok = offs_m < H_DST * W_DST
    n_ok = offs_n < C_DST_G
    oh = offs_m // W_DST
    ow = offs_m % W_DST

    src_base = src_ptr + b * s_sb + (g * C_SRC_G) * s_sc
    w_base = w_ptr + b * s_wb + g * s_wg + offs_n[None, :] * s_wd

    # One flat loop over (tap, channel tile): few instructions to compile, one loop to pipeline.
    c_tiles = tl.cdiv(C_SRC_G, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for step in range(KH * KW * c_tiles):
        t = step // c_tiles
        ci = (step - t * c_tiles) * BLOCK_K + offs_k
        kh = t // KW
        kw = t - kh * KW
        ih, h_ok = _source_index(oh, kh, pad_h, str_h, dil_h, H_SRC, TRANSPOSED)
        iw, w_ok = _source_index(ow, kw, pad_w, str_w, dil_w, W_SRC, TRANSPOSED)
        c_ok = ci < C_SRC_G
        a = tl.load(
            (src_base + ih * s_sh + iw * s_sw)[:, None] + ci[None, :] * s_sc,
            mask=(m_ok & h_ok & w_ok)[:, None] & c_ok[None, :],
            other=0.0,
        )
        w_tap = w_base
        if KH * KW > 1:  # a 1x1 kernel has one tap: no offset whose alignment Triton cannot see
            w_tap = w_base + kh * s_wh + kw * s_ww
        w = tl.load(
            w_tap + ci[:, None] * s_ws,
            mask=c_ok[:, None] & n_ok[None, :],
            other=0.0,
        )
        acc += tl.dot(a, w.to(a.dtype), input_precision=PRECISION)

    if HAS_BIAS:
        bias = tl.load(bias_ptr + b * s_bb + (g * C_DST_G + offs_n) * s_bc, mask=n_ok, other=0.0)
        acc += bias.to(tl.float32)[None, :]

    dst_ptrs = (
        dst_ptr + b * s_db + (g * C_DST_G + offs_n)[None, :] * s_dc
        + oh[:, None] * s_dh + ow[:, None] * s_dw
    )
    tl.store(dst_ptrs, acc.to(dst_ptr.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


@triton.jit(do_not_specialize=["B", "C_OUT_G", "C_IN_G", "H_IN", "W_IN", "H_OUT", "W_OUT", "TILES_PER_SPLIT", "pad_h", "pad_w"])
def mixed_conv_wgrad_kernel(
    x_ptr, dy_ptr, sel_ptr, box_ptr, bias_ptr, gbox_ptr, gbias_ptr, gsel_ptr,
    B, N_MIX, C_OUT_G, C_IN_G, H_IN, W_IN, H_OUT, W_OUT, TILES_PER_SPLIT,
    s_xb, s_xc, s_xh, s_xw,
    s_yb, s_yc, s_yh, s_yw,
    s_selb, s_sele,
    s_we, s_wo, s_wi, s_wh, s_ww,
    s_be, s_bc,
    s_gs, s_ge, s_go, s_gi, s_gh, s_gw,
    s_hs, s_he, s_hc,
    pad_h, pad_w, str_h, str_w, dil_h, dil_w,
    KH: tl.constexpr, KW: tl.constexpr, HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
    N_POW2: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_gn = tl.program_id(0)
    pid_tk = tl.program_id(1)
    split = tl.program_id(2)
    n_tiles = tl.cdiv(C_OUT_G, BLOCK_N)
    k_tiles = tl.cdiv(C_IN_G, BLOCK_K)
    g = pid_gn // n_tiles
    pid_n = pid_gn % n_tiles
    t = pid_tk // k_tiles
    pid_k = pid_tk % k_tiles
    kh = t // KW
    kw = t % KW
    program = (pid_gn * tl.num_programs(1) + pid_tk) * tl.num_programs(2) + split

    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # output channel within the group
    offs_k = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)  # input channel within the group
    offs_e = tl.arange(0, N_POW2)
    n_ok = offs_n < C_OUT_G
    k_ok = offs_k < C_IN_G
    e_ok = offs_e < N_MIX
    co = g * C_OUT_G + offs_n
    ci = g * C_IN_G + offs_k

    m_total = H_OUT * W_OUT
    tile_lo = split * TILES_PER_SPLIT
    tile_hi = tl.minimum(tile_lo + TILES_PER_SPLIT, tl.cdiv(m_total, BLOCK_M))

    box_tile = box_ptr + co[:, None] * s_wo + offs_k[None, :] * s_wi + kh * s_wh + kw * s_ww
    nk_ok = n_ok[:, None] & k_ok[None, :]
    acc_w = tl.zeros((N_POW2, BLOCK_N, BLOCK_K), dtype=tl.float32)
    acc_b = tl.zeros((N_POW2, BLOCK_N), dtype=tl.float32)
    # Per-sample pointers advance by a stride each step: pointer arithmetic is 64-bit.
    x_b = x_ptr
    dy_b = dy_ptr
    sel_b = sel_ptr
    for b in range(B):
        grad = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
        # Summed elementwise and reduced after the loop: a reduction inside this loop trips an
        # assertion in Triton 3.6's thread-locality pass (fp32, unpipelined).
        dy_sum = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
        for mt in range(tile_lo, tile_hi):
            offs_m = mt * BLOCK_M + tl.arange(0, BLOCK_M)
            m_ok = offs_m < m_total
            oh = offs_m // W_OUT
            ow = offs_m % W_OUT
            ih, h_ok = _source_index(oh, kh, pad_h, str_h, dil_h, H_IN, False)
            iw, w_ok = _source_index(ow, kw, pad_w, str_w, dil_w, W_IN, False)
            # dY is loaded as a (channels, pixels) tile: the left operand of G += dYᵀ·X as is.
            dy_t = tl.load(
                dy_b + co[:, None] * s_yc + (oh * s_yh + ow * s_yw)[None, :],
                mask=n_ok[:, None] & m_ok[None, :],
                other=0.0,
            )
            xa = tl.load(
                x_b + ci[None, :] * s_xc + ih[:, None] * s_xh + iw[:, None] * s_xw,
                mask=(m_ok & h_ok & w_ok)[:, None] & k_ok[None, :],
                other=0.0,
            )
            grad += tl.dot(dy_t, xa, input_precision=PRECISION)
            if HAS_BIAS:
                dy_sum += dy_t.to(tl.float32)

        coefs = tl.load(sel_b + offs_e * s_sele, mask=e_ok, other=0.0).to(tl.float32)
        acc_w += coefs[:, None, None] * grad[None, :, :]
        dbias = tl.sum(dy_sum, axis=1)
        if HAS_BIAS:
            acc_b += coefs[:, None] * dbias[None, :]
        # d select[b, e] = <G_b, box[e]> (+ <dbias_b, bias_box[e]>, counted by one tap/k tile only)
        for e in range(N_MIX):
            w = tl.load(box_tile + e * s_we, mask=nk_ok, other=0.0).to(tl.float32)
            part = tl.sum(tl.sum(w * grad, axis=1), axis=0)
            if HAS_BIAS:
                bias_e = tl.load(bias_ptr + e * s_be + co * s_bc, mask=n_ok, other=0.0).to(tl.float32)
                part += tl.where(pid_tk == 0, tl.sum(bias_e * dbias, axis=0), 0.0)
            tl.store(gsel_ptr + (program * B + b) * N_MIX + e, part)
        x_b += s_xb
        dy_b += s_yb
        sel_b += s_selb

    e3 = offs_e[:, None, None]
    gbox_ptrs = (
        gbox_ptr + split * s_gs + e3 * s_ge + co[None, :, None] * s_go
        + offs_k[None, None, :] * s_gi + kh * s_gh + kw * s_gw
    )
    tl.store(gbox_ptrs, acc_w, mask=(e_ok[:, None, None] & nk_ok[None, :, :]))
    if HAS_BIAS:
        if pid_tk == 0:  # every tap/k tile saw the same dY: one of them writes the bias gradient
            gbias_ptrs = gbias_ptr + split * s_hs + offs_e[:, None] * s_he + co[None, :] * s_hc
            tl.store(gbias_ptrs, acc_b, mask=e_ok[:, None] & n_ok[None, :])
