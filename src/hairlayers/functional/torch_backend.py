"""The fastest pure-PyTorch formulation of each mixed op (CPU and GPU).

Every path first mixes the box into per-sample parameters (one small matmul: ``N/(H'W')`` of the
convolution's work, FACTS §6) and then runs the cheapest batched kernel for the case. Which one is
cheapest was measured on CPU (``benchmarks/layers.py``, ``docs/performance.md``):

* ``"pointwise"`` -- 1x1 kernels without padding (any stride, any groups on NCHW): ``torch.bmm``
  over the batch. On CPU this beats a static NCHW ``nn.Conv2d`` (oneDNN's NCHW 1x1 path is slow).
  A channels_last input is already a ``(B, HW, C)`` matrix, multiplied in place, and the result
  is channels_last again (unless the layer widens the channels 4x or more: see
  :data:`WIDENING_FOR_PER_SAMPLE_1X1`). Strides subsample the input first; groups are a
  block-diagonal bmm.
* ``"static"`` -- batch of one (any channels_last input, and NCHW inputs that are not 1x1): the
  mixed kernel *is* a static kernel, so this is exactly ``F.conv2d`` in the input's layout, as
  fast as the static layer.
* ``"per_sample"`` -- channels_last input on CPU: one static channels_last convolution per sample.
  The grouped formulation below needs an NCHW tensor, and PyTorch's NCHW <-> NHWC conversion costs
  more than the convolution itself for depthwise layers; oneDNN's channels_last depthwise kernel is
  2-3x faster than its NCHW one. The input is cut with ``split`` (its backward is one ``cat``,
  whereas ``x[b:b+1]`` would materialise a full-size gradient per sample).
* ``"batch_inner"`` -- a :mod:`batch-inner <hairlayers.functional.batch_inner>` input (memory
  ``(H, W, B, C)``): that memory already is the batch folded into the channels of one
  channels_last map, so the grouped formulation below runs on it without a copy and at the
  static channels_last layer's speed, and its output is batch-inner again.
* ``"grouped"`` -- everything else: one grouped convolution with the batch folded into the groups
  (``groups = B * groups``), the formulation of the official HAIR code.

:func:`conv2d_path` is that fixed rule. With :mod:`autotuning <hairlayers.functional.autotune>`
on, :func:`conv2d_candidates` lists every formulation that can run a call and the one measured
fastest for the case is used instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import host_sync_allowed
from . import autotune, batch_inner
from .geometry import ConvSpec, ConvTransposeSpec
from .mixing import mix, mix_flat

__all__ = [
    "autotune_key",
    "conv2d",
    "conv2d_candidates",
    "conv2d_path",
    "conv_transpose2d",
    "is_channels_last",
    "keep_format",
    "linear",
    "run_conv2d_path",
]


def is_channels_last(x: torch.Tensor) -> bool:
    """True when ``x`` is laid out NHWC and not also NCHW-contiguous (ambiguous shapes count as NCHW)."""
    return (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    )


def keep_format(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Give ``out`` the memory format of ``x`` (a no-op when it already has it): NCHW,
    channels_last or batch-inner."""
    if batch_inner.is_batch_inner(x):
        return batch_inner.to_batch_inner(out)
    fmt = torch.channels_last if is_channels_last(x) else torch.contiguous_format
    return out.contiguous(memory_format=fmt)


#: On channels_last input, a 1x1 layer that widens the channels at least this much runs faster as
#: one oneDNN channels_last conv per sample than as a bmm: MKL's GEMM writing a ``(HW, C_out)``
#: row-major result with a short inner dimension is slow (C -> 2h at 128²: bmm 2.6x the static
#: layer, per-sample convs 1.4x; C -> C and C -> 3C: bmm 1.1-1.3x, per-sample 1.3-1.5x).
WIDENING_FOR_PER_SAMPLE_1X1 = 4


def conv2d_path(x: torch.Tensor, spec: ConvSpec, out_channels: int) -> str:
    """Name of the formulation :func:`conv2d` uses for input ``x`` and geometry ``spec``.

    Args:
        x: the input ``(B, C_in, H, W)``.
        spec: the resolved convolution geometry.
        out_channels: ``C_out`` of the layer.

    Returns:
        ``"pointwise"``, ``"static"``, ``"per_sample"``, ``"batch_inner"`` or ``"grouped"`` (see
        the module docstring).

    Example:
        >>> import torch
        >>> from hairlayers.functional.geometry import ConvSpec
        >>> depthwise = ConvSpec((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), groups=8)
        >>> conv2d_path(torch.randn(2, 8, 5, 5), depthwise, 8)
        'grouped'
        >>> conv2d_path(torch.randn(2, 8, 5, 5).contiguous(memory_format=torch.channels_last), depthwise, 8)
        'per_sample'
    """
    if batch_inner.is_batch_inner(x):
        return "batch_inner"
    channels_last = is_channels_last(x)
    batch, c_in = x.shape[:2]
    pointwise = spec.is_pointwise
    if pointwise and not channels_last:
        return "pointwise"
    if batch == 1:
        return "static"
    on_cpu = x.device.type == "cpu"
    if pointwise and spec.groups == 1 and not (on_cpu and out_channels >= WIDENING_FOR_PER_SAMPLE_1X1 * c_in):
        return "pointwise"
    if channels_last and on_cpu:
        return "per_sample"
    return "grouped"


def conv2d_candidates(x: torch.Tensor, spec: ConvSpec) -> list[str]:
    """Every formulation that can compute this call (what autotuning chooses among).

    ``"static"`` needs a batch of one; ``"pointwise"`` a 1x1 kernel without padding (and one
    group on channels_last input); ``"per_sample"`` and ``"grouped"`` run anything; a batch-inner
    input runs ``"batch_inner"`` or ``"grouped"``.

    Example:
        >>> import torch
        >>> from hairlayers.functional.geometry import ConvSpec
        >>> pointwise = ConvSpec((1, 1), (1, 1), (0, 0, 0, 0), (1, 1), groups=1)
        >>> conv2d_candidates(torch.randn(4, 8, 5, 5), pointwise)
        ['pointwise', 'per_sample', 'grouped']
        >>> conv2d_candidates(torch.randn(1, 8, 5, 5), pointwise)
        ['pointwise', 'static']
    """
    if batch_inner.is_batch_inner(x):
        return ["batch_inner", "grouped"]
    names = ["pointwise"] if spec.is_pointwise and (spec.groups == 1 or not is_channels_last(x)) else []
    return names + (["static"] if x.shape[0] == 1 else ["per_sample", "grouped"])


def _pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, spec: ConvSpec) -> torch.Tensor:
    """1x1 convolution as a batched matmul; ``weight`` is ``(B, C_out, C_in // groups)``."""
    channels_last = is_channels_last(x)
    if spec.stride != (1, 1):
        x = x[:, :, :: spec.stride[0], :: spec.stride[1]]  # a 1x1 kernel only reads these pixels
    batch, c_in, height, width = x.shape
    c_out = weight.shape[1]
    if channels_last:
        # (B, H, W, C) memory is a (B, HW, C) matrix (a strided one is gathered once).
        tokens = x.permute(0, 2, 3, 1).reshape(batch, height * width, c_in)
        w_t = weight.transpose(1, 2)
        out = torch.bmm(tokens, w_t) if bias is None else torch.baddbmm(bias.unsqueeze(1), tokens, w_t)
        return out.view(batch, height, width, c_out).permute(0, 3, 1, 2)
    groups = spec.groups
    # Block-diagonal weights: the groups become extra batch entries of one bmm.
    flat = x.reshape(batch * groups, c_in // groups, height * width)
    w = weight.reshape(batch * groups, c_out // groups, c_in // groups)
    if bias is None:
        out = torch.bmm(w, flat)
    else:
        out = torch.baddbmm(bias.reshape(batch * groups, c_out // groups, 1), w, flat)
    return out.view(batch, c_out, height, width)


def _padded(x: torch.Tensor, spec: ConvSpec) -> tuple[torch.Tensor, tuple[int, int]]:
    """``x`` padded explicitly when the padding is asymmetric, and the padding left for the conv."""
    padding = spec.symmetric_padding
    if padding is not None:
        return x, padding
    top, bottom, left, right = spec.pad
    return F.pad(x, (left, right, top, bottom)), (0, 0)


def _static(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, spec: ConvSpec) -> torch.Tensor:
    """Batch of one: the plain convolution with the single mixed kernel (``weight`` has no batch axis)."""
    x, padding = _padded(x, spec)
    return F.conv2d(
        x,
        weight,
        bias,
        stride=spec.stride,
        padding=padding,
        dilation=spec.torch_dilation,
        groups=spec.groups,
    )


def _per_sample(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, spec: ConvSpec) -> torch.Tensor:
    """One static convolution per sample, in the input's layout, concatenated."""
    x, padding = _padded(x, spec)
    biases = [None] * x.shape[0] if bias is None else bias.unbind(0)
    outputs = [
        F.conv2d(
            sample,
            w,
            b,
            stride=spec.stride,
            padding=padding,
            dilation=spec.torch_dilation,
            groups=spec.groups,
        )
        for sample, w, b in zip(x.split(1), weight.unbind(0), biases)
    ]
    return torch.cat(outputs)


def _grouped(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, spec: ConvSpec) -> torch.Tensor:
    """Any convolution as one grouped conv with the batch folded into the groups.

    The fold needs NCHW memory, so a channels_last input is copied to NCHW and the result back:
    the only path that changes the layout, so the only one that restores it.
    """
    batch, c_in, height, width = x.shape
    c_out = weight.shape[1]
    folded, padding = _padded(x.reshape(1, batch * c_in, height, width), spec)
    out = F.conv2d(
        folded,
        weight.reshape(batch * c_out, *weight.shape[2:]),
        None if bias is None else bias.reshape(-1),
        stride=spec.stride,
        padding=padding,
        dilation=spec.torch_dilation,
        groups=batch * spec.groups,
    )
    return keep_format(out.view(batch, c_out, *out.shape[2:]), x)


def _batch_inner(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, spec: ConvSpec) -> torch.Tensor:
    """The grouped formulation on a batch-inner input's folded channels_last view: no copy."""
    batch = x.shape[0]
    folded, padding = _padded(batch_inner.fold(x), spec)
    out = F.conv2d(
        folded,
        weight.reshape(batch * weight.shape[1], *weight.shape[2:]),
        None if bias is None else bias.reshape(-1),
        stride=spec.stride,
        padding=padding,
        dilation=spec.torch_dilation,
        groups=batch * spec.groups,
    )
    return batch_inner.unfold(out, batch)


_CONV2D_PATHS = {
    "pointwise": _pointwise,
    "static": _static,
    "per_sample": _per_sample,
    "batch_inner": _batch_inner,
    "grouped": _grouped,
}


def run_conv2d_path(
    path: str,
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    spec: ConvSpec,
) -> torch.Tensor:
    """The mixed convolution computed by formulation ``path``, in the memory format of ``x``
    (NCHW or channels_last; :func:`~hairlayers.functional.mixed_conv2d` normalises other views).

    ``path`` must be one of :func:`conv2d_candidates` for this call.
    """
    # One matmul mixes the box; the view gives each path the weight shape it consumes, so that
    # small layers do not pay for extra view/index ops (~1 µs each) on every call.
    flat = mix_flat(select, weight_box)
    if path == "static":
        weight = flat.view(weight_box.shape[1:])
    elif path == "pointwise":
        weight = flat.view(x.shape[0], weight_box.shape[1], -1)
    else:
        weight = flat.view(x.shape[0], *weight_box.shape[1:])
    bias = None
    if bias_box is not None:
        bias = mix_flat(select, bias_box)
        if path == "static":
            bias = bias.view(-1)
    return _CONV2D_PATHS[path](x, weight, bias, spec)


def autotune_key(x, weight_box, bias_box, spec: ConvSpec, grad: bool) -> tuple:
    """What identifies one case for :mod:`.autotune`: everything that can change the fastest path.

    ``grad`` says whether the call builds an autograd graph (then forward + backward is timed).
    """
    return (
        "conv2d", tuple(x.shape), x.stride(), tuple(weight_box.shape), bias_box is not None, spec,
        x.dtype, x.device, grad,
    )


def _autotuned_path(x, select, weight_box, bias_box, spec: ConvSpec) -> str:
    """The fastest candidate for this case, timed on its first call (see :mod:`.autotune`)."""
    tensors = (x, select, weight_box, bias_box)
    grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    key = autotune_key(x, weight_box, bias_box, spec, grad)

    def make_run(path: str):
        if not grad:
            def forward() -> torch.Tensor:
                with torch.no_grad():
                    return run_conv2d_path(path, x, select, weight_box, bias_box, spec)
            return forward

        def forward_backward() -> None:
            with torch.enable_grad():  # on detached leaves: the caller's graph is not touched
                leaves = [None if t is None else t.detach().requires_grad_(t.requires_grad) for t in tensors]
                out = run_conv2d_path(path, *leaves, spec)
                out.backward(torch.ones_like(out))
        return forward_backward

    return autotune.pick(key, conv2d_candidates(x, spec), make_run, x.device)


def conv2d(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    spec: ConvSpec,
) -> torch.Tensor:
    """:func:`hairlayers.functional.mixed_conv2d` on already-validated arguments.

    The formulation is :func:`conv2d_path`'s rule, or with :mod:`autotuning <.autotune>` on the
    candidate measured fastest for this case (the rule again under ``torch.compile`` and during
    CUDA-graph capture). The output has the memory format of ``x``.
    """
    if autotune.is_enabled() and host_sync_allowed(x):  # timing synchronises
        path = _autotuned_path(x, select, weight_box, bias_box, spec)
    else:
        path = conv2d_path(x, spec, weight_box.shape[1])
    return run_conv2d_path(path, x, select, weight_box, bias_box, spec)


def conv_transpose2d(
    x: torch.Tensor,
    select: torch.Tensor,
    weight_box: torch.Tensor,
    bias_box: torch.Tensor | None,
    spec: ConvTransposeSpec,
) -> torch.Tensor:
    """:func:`hairlayers.functional.mixed_conv_transpose2d`: one grouped transposed convolution."""
    batch, c_in, height, width = x.shape
    weight = mix(select, weight_box)  # (B, C_in, C_out // g, kH, kW)
    bias = None if bias_box is None else mix(select, bias_box)
    out = F.conv_transpose2d(
        x.reshape(1, batch * c_in, height, width),
        weight.reshape(batch * c_in, *weight.shape[2:]),
        None if bias is None else bias.reshape(-1),
        stride=spec.stride,
        padding=spec.padding,
        output_padding=spec.output_padding,
        groups=batch * spec.groups,
        dilation=spec.dilation,
    )
    return out.view(batch, -1, *out.shape[2:])


def linear(
    x: torch.Tensor, select: torch.Tensor, weight_box: torch.Tensor, bias_box: torch.Tensor | None
) -> torch.Tensor:
    """:func:`hairlayers.functional.mixed_linear`: one ``bmm`` over the batch."""
    batch, in_features = x.shape[0], x.shape[-1]
    weight_t = mix(select, weight_box).transpose(1, 2)  # (B, in, out)
    tokens = x.reshape(batch, -1, in_features)
    if bias_box is None:
        out = torch.bmm(tokens, weight_t)
    else:
        out = torch.baddbmm(mix(select, bias_box).unsqueeze(1), tokens, weight_t)
    return out.reshape(*x.shape[:-1], weight_t.shape[-1])
