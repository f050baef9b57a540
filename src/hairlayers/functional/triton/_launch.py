"""Python side of the Triton kernels: block sizes, grids, partial-sum buffers.

Everything here works on 4-D tensors with arbitrary strides (NCHW, channels_last, or the
token-major view a linear layer is given), so no activation is copied. Weight-sized work (mixing
the per-sample weights for the GEMM kernels, reducing per-sample weight gradients into the box
and select gradients) is done with small PyTorch matmuls here. Block sizes come from
:mod:`._tiles` (a rule per kernel; measured for the depthwise kernels with autotuning on). Under
``TRITON_INTERPRET=1`` the weight-gradient pixel range is always split in two, so the CPU tests
exercise the split-and-sum path.
"""

from __future__ import annotations

import contextlib
import functools
import torch
import triton

from ...errors import BackendUnavailableError
from ..geometry import ConvSpec
from . import INT32_MAX, interpreting, sample_span
from ._depthwise_kernels import depthwise_tap_grad_kernel, mixed_depthwise_kernel
from ._gemm_kernels import mixed_conv_wgrad_kernel, per_sample_conv_kernel
from ._tiles import depthwise_tile, gemm_blocks, pow2


def is_depthwise(x_channels: int, weight_box: torch.Tensor, groups: int) -> bool:
    """``groups == C_in == C_out``: one input and one output channel per group."""
    return groups == x_channels == weight_box.shape[1] and weight_box.shape[2] == 1


def check_int32(*tensors: torch.Tensor) -> None:
    """Offsets inside one sample (and inside the box) are int32 in the kernels."""
    for t in tensors:
        if t is not None and sample_span(t) > INT32_MAX:
            raise BackendUnavailableError(
                f"triton: a tensor of shape {tuple(t.shape)} spans more than 2**31 elements per "
                "sample (kernel offsets are int32); use backend='torch'"
            )


@functools.lru_cache(maxsize=None)
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def _target_programs(device: torch.device) -> int:
    """Programs that keep the device busy: a few per SM on GPU."""
    if device.type != "cuda":
        return 1
    return 4 * _sm_count(device.index if device.index is not None else torch.cuda.current_device())


def _split(base_programs: int, tiles: int, device: torch.device, max_split: int) -> tuple[int, int]:
    """How many programs share one weight tile's pixel range, and how many pixel tiles each takes.

    Enough programs to fill the device, but at most ``max_split``: each split writes its own
    fp32 ``(N, P)`` partial box gradient, and that buffer must stay small next to the activations.
    """
    if interpreting():
        wanted = min(2, tiles)
    else:
        wanted = min(tiles, max_split, -(-_target_programs(device) // base_programs))
        wanted = max(1, wanted)
    per = -(-tiles // wanted)
    return -(-tiles // per), per


def alloc_like_layout(x: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> torch.Tensor:
    """An empty 4-D tensor in ``x``'s memory format (channels_last only when ``x`` is unambiguously so)."""
    channels_last = (not x.is_contiguous()) and x.is_contiguous(memory_format=torch.channels_last)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty(shape, dtype=dtype or x.dtype, device=x.device, memory_format=fmt)


def channel_alignment(channels: int, *tensors: torch.Tensor) -> int:
    """How many channels the depthwise kernels may treat as one aligned run (``C_ALIGN``).

    With the channels innermost (stride 1), the largest power of two, up to 16 bytes of
    elements, that divides the channel count and every other stride of ``tensors``: then each
    pixel's channels start on a multiple of it and the loads along them can be that wide. A
    count divisible by 16 is seen by Triton's own specialisation; this matters for the others
    (the Restormer feed-forward widths 2h = 254, 510, ... are even, so 4-byte loads in 16 bits
    instead of 2-byte ones). 1 for other layouts.

    Example:
        >>> x = torch.empty(2, 254, 8, 8, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
        >>> channel_alignment(254, x), channel_alignment(254, x.contiguous())
        (2, 1)
    """
    if any(t.stride(1) != 1 for t in tensors):
        return 1
    strides = [s for t in tensors for axis, s in enumerate(t.stride()) if axis != 1]
    align = 16 // tensors[0].element_size()
    while align > 1 and (channels % align or any(s % align for s in strides)):
        align //= 2
    return align


def _precision(dtype: torch.dtype, allow_tf32: bool) -> str:
    # Only fp32 operands are affected; "tf32" is tl.dot's default for the others.
    return "ieee" if dtype == torch.float32 and not allow_tf32 else "tf32"


def mix(select: torch.Tensor, box: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``Σ_e select[b, e] · box[e]`` as a ``(B, *box.shape[1:])`` tensor of ``dtype``.

    One ``(B, N) @ (N, |W|)`` matmul. When ``select`` and ``box`` share a dtype on a GPU it runs
    in that dtype (cuBLAS accumulates 16-bit products in fp32, so this equals mixing in fp32
    and rounding once); otherwise in fp32.
    """
    flat = box.reshape(box.shape[0], -1)
    if select.is_cuda and select.dtype == flat.dtype:  # one cuBLAS call, no casting copies
        out = select @ flat if dtype == flat.dtype else _mm_fp32(select, flat).to(dtype)
    else:
        out = (select.float() @ flat.float()).to(dtype)
    return out.view(select.shape[0], *box.shape[1:])


def depthwise_conv(src, select, box, bias, dst, geom: ConvSpec, transposed: bool, tile: dict | None = None) -> None:
    """``dst = conv(src)`` (or its transpose) for a depthwise box, in ``tile`` (default: chosen
    by :func:`~._tiles.depthwise_tile`, the rule or, with autotuning on, the fastest)."""
    n_mix, channels, _, kh, kw = box.shape
    # Each tap mixes an (N, BLOCK_C) slice of the box: from a channels-innermost copy (a
    # weight-sized copy, none if the box already is) those loads are vectorised as well.
    box = box.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3)
    bias_arg = bias if bias is not None else box
    bias_strides = bias.stride() if bias is not None else (0, 0)
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    h_dst, w_dst = dst.shape[2:]
    align = channel_alignment(channels, src, dst)

    def launch(blocks: dict) -> None:
        grid = (
            triton.cdiv(h_dst, blocks["BLOCK_H"]) * triton.cdiv(w_dst, blocks["BLOCK_W"]),
            triton.cdiv(channels, blocks["BLOCK_C"]),
            src.shape[0],
        )
        mixed_depthwise_kernel[grid](
            src, select, box, bias_arg, dst,
            n_mix, channels, src.shape[2], src.shape[3], h_dst, w_dst,
            *src.stride(), *select.stride(),
            box.stride(0), box.stride(1), box.stride(3), box.stride(4),
            *bias_strides, *dst.stride(),
            geom.pad[0], geom.pad[2], sh, sw, dh, dw,
            KH=kh, KW=kw, TRANSPOSED=transposed, HAS_BIAS=bias is not None,
            N_POW2=triton.next_power_of_2(n_mix), C_ALIGN=align, **blocks,
        )

    if tile is None:
        def case() -> tuple:
            return (tuple(src.shape), src.stride(), dst.stride(), n_mix, kh, kw, bias is not None, geom, src.dtype, src.device)

        tile = depthwise_tile("input_grad" if transposed else "forward", case, dst, channels, launch)
    launch(tile)


def _run_conv(src, select, box, bias, dst, geom: ConvSpec, transposed: bool, allow_tf32: bool) -> None:
    """``dst = conv(src)`` (or its transpose) with the mixed box; ``box`` is the forward box."""
    if is_depthwise(src.shape[1] if not transposed else dst.shape[1], box, geom.groups):
        depthwise_conv(src, select, box, bias, dst, geom, transposed)
        return
    batch = src.shape[0]
    n_mix, c_out, c_in_g, kh, kw = box.shape
    groups = geom.groups
    c_out_g = c_out // groups
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    pad_h, pad_w = geom.pad[0], geom.pad[2]
    h_dst, w_dst = dst.shape[2:]
    weights = mix(select, box, src.dtype)  # (B, C_out, C_in/groups, kh, kw)
    biases = mix(select, bias, torch.float32) if bias is not None else None
    if transposed:  # dst channels are the forward inputs; reduce over forward outputs
        c_dst_g, c_src_g = c_in_g, c_out_g
        s_wd, s_ws = weights.stride(2), weights.stride(1)
    else:
        c_dst_g, c_src_g = c_out_g, c_in_g
        s_wd, s_ws = weights.stride(1), weights.stride(2)
    blocks = gemm_blocks(h_dst * w_dst, c_dst_g, c_src_g, src.dtype)
    grid = (
        triton.cdiv(h_dst * w_dst, blocks["BLOCK_M"]),
        triton.cdiv(c_dst_g, blocks["BLOCK_N"]) * groups,
        batch,
    )
    per_sample_conv_kernel[grid](
        src, weights, biases if biases is not None else weights, dst,
        c_dst_g, c_src_g, src.shape[2], src.shape[3], h_dst, w_dst,
        *src.stride(),
        weights.stride(0), c_out_g * weights.stride(1), s_wd, s_ws, weights.stride(3), weights.stride(4),
        *(biases.stride() if biases is not None else (0, 0)), *dst.stride(),
        pad_h, pad_w, sh, sw, dh, dw,
        KH=kh, KW=kw, TRANSPOSED=transposed, HAS_BIAS=bias is not None,
        PRECISION=_precision(src.dtype, allow_tf32), **blocks,
    )


def _on_device(t: torch.Tensor):
    """Launch on ``t``'s GPU (Triton launches on the current device), or do nothing on CPU."""
    return torch.cuda.device(t.device) if t.device.type == "cuda" else contextlib.nullcontext()


def conv_forward(x, select, box, bias, geom: ConvSpec, allow_tf32: bool) -> torch.Tensor:
    """Mixed convolution of ``x`` (any strides); the result has ``x``'s memory format."""
    out_h, out_w = geom.output_size(x.shape[2], x.shape[3])
    y = alloc_like_layout(x, (x.shape[0], box.shape[1], out_h, out_w))
    check_int32(x, y, box[None], bias)
    if y.numel():
        with _on_device(x):
            _run_conv(x, select, box, bias, y, geom, transposed=False, allow_tf32=allow_tf32)
    return y


def _mm_fp32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` with an fp32 result: a reduction over all weights must not be rounded (or
    split-K reduced) in 16 bits. 16-bit CUDA operands use cuBLAS's fp32 output where this torch
    has it, instead of fp32 copies of both operands."""
    if a.is_cuda and a.dtype in (torch.float16, torch.bfloat16) and a.dtype == b.dtype:
        try:
            return torch.mm(a, b, out_dtype=torch.float32)
        except (TypeError, RuntimeError):  # torch without mm(out_dtype=...)
            pass
    return a.float() @ b.float()


def _reduce_sample_grads(grads, dbias, select, box, bias):
    """Box, select and bias gradients from per-sample weight gradients.

    ``grads`` is ``(B, |W|)`` (``G_b``), ``dbias`` is ``(B, C_out)`` or ``None``:
    ``grad_box[e] = Σ_b select[b, e] · G_b`` and ``grad_select[b, e] = <G_b, box[e]> (+ <db_b, bias[e]>)``,
    two small matmuls. They run in the operands' dtype when all match on a GPU (16-bit products
    are exact in cuBLAS's fp32 accumulator, so only the final rounding remains; the select
    gradient, a sum over all weights, keeps an fp32 result), else in fp32.
    """
    n_mix = box.shape[0]
    same = grads.is_cuda and select.dtype == box.dtype == grads.dtype and (bias is None or bias.dtype == box.dtype)
    cast = (lambda t: t) if same else (lambda t: t.float())
    box_flat = cast(box.reshape(n_mix, -1))
    sel_t = cast(select).t()
    grad_box = (sel_t @ cast(grads)).view(box.shape).to(box.dtype)
    grad_select = _mm_fp32(cast(grads), box_flat.t())
    grad_bias = None
    if bias is not None:
        grad_bias = (sel_t @ cast(dbias)).to(bias.dtype)
        grad_select = grad_select + _mm_fp32(cast(dbias), cast(bias).t())
    return grad_select.to(select.dtype), grad_box, grad_bias


def _pointwise_wgrad(x, dy, select, box, bias):
    """1x1, stride 1, no padding, one group: ``G_b = dY_b · X_bᵀ`` is one cuBLAS ``bmm``.

    The ``(B, C_out, C_in)`` per-sample gradient is small next to the activations of these
    layers (at most ~1/3 of x + dY for the Restormer 1x1 layers at B=8, and far less at high
    resolution); the fused Triton reduction it replaces was measured 3-15x slower than the
    static layer's backward on an H100. Runs in the input dtype (fp32 accumulation; fp32 inputs
    follow ``torch.backends.cuda.matmul``'s TF32 flag, as any matmul does).
    """
    batch = x.shape[0]
    grads = torch.bmm(dy.flatten(2), x.flatten(2).transpose(1, 2)).reshape(batch, -1)
    dbias = dy.sum(dim=(2, 3)) if bias is not None else None
    return _reduce_sample_grads(grads, dbias, select, box, bias)


def depthwise_tap_sums(x, dy, kernel: tuple[int, int], has_bias: bool, geom: ConvSpec, tile: dict | None = None):
    """``part`` ``(tiles, B, C, taps)``: per output tile, ``Σ_p dY · X(shifted by the tap)`` for
    every tap (and ``Σ_p dY`` last with a bias), in fp32; ``tile`` as in :func:`depthwise_conv`."""
    batch, c = x.shape[:2]
    kh, kw = kernel
    out_h, out_w = dy.shape[2:]
    taps = kh * kw + has_bias
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    align = channel_alignment(c, x, dy)

    def launch(blocks: dict) -> torch.Tensor:
        tiles = triton.cdiv(out_h, blocks["BLOCK_H"]) * triton.cdiv(out_w, blocks["BLOCK_W"])
        grid = (tiles, triton.cdiv(c, blocks["BLOCK_C"]), batch)
        # fp32 partial sums, tiles x B x C x taps: at ~1024 elements per tile, ~taps·4/1024 of dY's bytes.
        part = torch.empty((tiles, batch, c, taps), dtype=torch.float32, device=x.device)
        depthwise_tap_grad_kernel[grid](
            x, dy, part,
            c, x.shape[2], x.shape[3], out_h, out_w,
            *x.stride(), *dy.stride(),
            part.stride(0), part.stride(1), part.stride(2),
            geom.pad[0], geom.pad[2], sh, sw, dh, dw,
            KH=kh, KW=kw, HAS_BIAS=has_bias, C_ALIGN=align, **blocks,
        )
        return part

    if tile is None:
        def case() -> tuple:
            return (tuple(x.shape), x.stride(), dy.stride(), kh, kw, has_bias, geom, x.dtype, x.device)

        tile = depthwise_tile("tap_grad", case, dy, c, launch)
    return launch(tile)


def _depthwise_wgrad(x, dy, select, box, bias, geom: ConvSpec):
    """Per-sample, per-tile tap gradients from one memory-bound pass, then two small matmuls."""
    batch = x.shape[0]
    kh, kw = box.shape[3:]
    part = depthwise_tap_sums(x, dy, (kh, kw), bias is not None, geom)
    sums = part.sum(0)  # (B, C, taps)
    grads = sums[:, :, : kh * kw].reshape(batch, -1)
    dbias = sums[:, :, kh * kw] if bias is not None else None
    return _reduce_sample_grads(grads, dbias, select, box, bias)


def _run_wgrad(x, dy, select, box, bias, geom: ConvSpec, allow_tf32: bool):
    """Box, bias and select gradients: 1x1 through cuBLAS, depthwise through the tap kernel, the
    other kxk layers with the per-sample gradients reduced over the batch inside the kernel."""
    if geom.is_pointwise and geom.stride == (1, 1) and geom.groups == 1:  # what cuBLAS's path takes
        return _pointwise_wgrad(x, dy, select, box, bias)
    if is_depthwise(x.shape[1], box, geom.groups):
        return _depthwise_wgrad(x, dy, select, box, bias, geom)
    batch = x.shape[0]
    n_mix, c_out, c_in_g, kh, kw = box.shape
    groups = geom.groups
    c_out_g = c_out // groups
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    pad_h, pad_w = geom.pad[0], geom.pad[2]
    out_h, out_w = dy.shape[2:]
    pixels = out_h * out_w
    has_bias = bias is not None
    bias_arg = bias if has_bias else box
    bias_strides = bias.stride() if has_bias else (0, 0)
    n_pow2 = triton.next_power_of_2(n_mix)
    # Partial box gradients may take at most 1/8 of the bytes of x and dY together.
    activation_bytes = (x.numel() + dy.numel()) * x.element_size()
    max_split = max(1, activation_bytes // (8 * 4 * box.numel()))
    block_n = pow2(c_out_g, 16, 32)
    block_k = pow2(c_in_g, 16, 32)
    block_m = pow2(pixels, 16, 32 if interpreting() else 64)
    base_n = triton.cdiv(c_out_g, block_n) * groups
    base_k = kh * kw * triton.cdiv(c_in_g, block_k)
    split, per = _split(base_n * base_k, triton.cdiv(pixels, block_m), x.device, max_split)
    grid = (base_n, base_k, split)
    # The (N, BN, BK) accumulator needs 8 warps; with fp32 operands, software pipelining
    # of the pixel loop makes ptxas spill, so fp32 runs it unpipelined.
    blocks = dict(BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=8)
    if x.dtype == torch.float32 and not interpreting():
        blocks["num_stages"] = 1
    programs = 1
    for g in grid:
        programs *= g
    dev = x.device
    gbox = torch.empty((split, *box.shape), dtype=torch.float32, device=dev)
    gbias = torch.zeros((split, n_mix, c_out), dtype=torch.float32, device=dev) if has_bias else gbox
    gsel = torch.empty((programs, batch, n_mix), dtype=torch.float32, device=dev)
    gbias_strides = gbias.stride() if has_bias else (0, 0, 0)
    mixed_conv_wgrad_kernel[grid](
        x, dy, select, box, bias_arg, gbox, gbias, gsel,
        batch, n_mix, c_out_g, c_in_g, x.shape[2], x.shape[3], out_h, out_w, per,
        *x.stride(), *dy.stride(), *select.stride(),
        *box.stride(), *bias_strides, *gbox.stride(), *gbias_strides,
        pad_h, pad_w, sh, sw, dh, dw,
        KH=kh, KW=kw, HAS_BIAS=has_bias, PRECISION=_precision(x.dtype, allow_tf32),
        N_POW2=n_pow2, **blocks,
    )
    grad_box = gbox.sum(0).to(box.dtype)
    grad_bias = gbias.sum(0).to(bias.dtype) if has_bias else None
    grad_select = gsel.sum(0).to(select.dtype)
    return grad_select, grad_box, grad_bias


def conv_backward(dy, x, select, box, bias, geom: ConvSpec, allow_tf32: bool, need_x: bool, need_params: bool):
    """``(grad_x, grad_select, grad_box, grad_bias)``; entries not asked for are ``None``."""
    with _on_device(x):
        return _conv_backward(dy, x, select, box, bias, geom, allow_tf32, need_x, need_params)


def _conv_backward(dy, x, select, box, bias, geom: ConvSpec, allow_tf32: bool, need_x: bool, need_params: bool):
    grad_x = grad_select = grad_box = grad_bias = None
    check_int32(x, dy, box[None], bias)
    if need_x:
        grad_x = alloc_like_layout(x, tuple(x.shape))
        if grad_x.numel():
            if dy.numel():
                _run_conv(dy, select, box, None, grad_x, geom, transposed=True, allow_tf32=allow_tf32)
            else:
                grad_x.zero_()
    if need_params:
        if dy.numel() and x.shape[0]:
            grad_select, grad_box, grad_bias = _run_wgrad(x, dy, select, box, bias, geom, allow_tf32)
        else:
            grad_select, grad_box = torch.zeros_like(select), torch.zeros_like(box)
            grad_bias = None if bias is None else torch.zeros_like(bias)
    return grad_x, grad_select, grad_box, grad_bias
