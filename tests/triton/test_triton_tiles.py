"""Depthwise tile choice: every tile autotuning may pick computes the same result, and the choice
is made once per kernel and case (``hairlayers.functional.triton._tiles``).

Runs in Triton's CPU interpreter, like the other kernel tests. The candidates are the GPU tiles
clamped to the (small) test tensors, so some cover a whole sample and some cut it into many
tiles; the rule's interpreter tile is among them.
"""

from __future__ import annotations

import pytest
import torch

from _tolerance import assert_close_to_reference, default_atol
from hairlayers.functional import autotune, mixed_conv2d, reference
from hairlayers.functional.geometry import ConvSpec

pytest.importorskip("triton")
pytestmark = [pytest.mark.triton, pytest.mark.usefixtures("fresh_autotune")]

CASES = {  # name: (channels, (H, W), stride, padding, dilation, channels_last)
    "nchw": (6, (9, 11), 1, 1, 1, False),
    "channels_last": (20, (7, 6), 1, 1, 1, True),
    "channels_last_strided_dilated": (12, (9, 8), 2, 2, 2, True),
}


def _inputs(name: str, dtype=torch.float32):
    channels, size, stride, padding, dilation, channels_last = CASES[name]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, channels, *size, generator=gen, dtype=torch.float64)
    select = torch.softmax(torch.randn(2, 3, generator=gen, dtype=torch.float64), dim=1)
    box = torch.randn(3, channels, 1, 3, 3, generator=gen, dtype=torch.float64) / 3
    bias = torch.randn(3, channels, generator=gen, dtype=torch.float64)
    spec = ConvSpec.resolve(3, stride, padding, dilation, channels)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return x.contiguous(memory_format=fmt), select, box, bias, spec


@pytest.mark.parametrize("name", list(CASES))
def test_every_candidate_tile_computes_the_same_convolution_and_tap_sums(name: str) -> None:
    from hairlayers.functional.triton import _launch, _tiles

    x64, select64, box64, bias64, spec = _inputs(name)
    x, select, box, bias = (t.float() for t in (x64, select64, box64, bias64))
    ref64 = reference.conv2d(x64, select64, box64, bias64, spec)
    ref32 = reference.conv2d(x, select, box, bias, spec)
    dy = torch.randn(ref32.shape).contiguous(memory_format=torch.channels_last if x.stride(1) == 1 else torch.contiguous_format)
    out_h, out_w = ref32.shape[2:]
    candidates = _tiles.depthwise_candidates(out_h, out_w, x.shape[1], pixels_contiguous=dy.stride(3) == 1)
    assert len(candidates) >= 3
    input_grads, tap_sums = [], []
    for tile in candidates:
        out = _launch.alloc_like_layout(x, tuple(ref32.shape))
        _launch.depthwise_conv(x, select, box, bias, out, spec, transposed=False, tile=tile)
        assert_close_to_reference(out, ref32, ref64, atol=default_atol(ref64, torch.float32))
        grad_x = _launch.alloc_like_layout(x, tuple(x.shape))
        _launch.depthwise_conv(dy, select, box, None, grad_x, spec, transposed=True, tile=tile)
        input_grads.append(grad_x)
        tap_sums.append(_launch.depthwise_tap_sums(x, dy, (3, 3), True, spec, tile=tile).sum(0))
    # Against the rule's tile (the first candidate): same sums, in another order.
    for tile, grad_x, sums in zip(candidates[1:], input_grads[1:], tap_sums[1:]):
        torch.testing.assert_close(grad_x, input_grads[0], rtol=1e-5, atol=1e-5, msg=f"input grad, tile {tile}")
        torch.testing.assert_close(sums, tap_sums[0], rtol=1e-5, atol=1e-5, msg=f"tap sums, tile {tile}")
    # And the rule's input gradient is the true one.
    x_leaf = x64.clone().requires_grad_()
    (expected,) = torch.autograd.grad(reference.conv2d(x_leaf, select64, box64, None, spec), x_leaf, dy.double())
    torch.testing.assert_close(input_grads[0].double(), expected, rtol=1e-4, atol=1e-4)


def test_autotuning_times_each_kernel_once_and_keeps_its_fastest_tile(monkeypatch) -> None:
    from hairlayers.functional.triton import _tiles

    timed: list[list[str]] = []

    def measure(runs, device, timer=None):  # every candidate runs; the last one listed "wins"
        for run in runs.values():
            run()
        timed.append(list(runs))
        return {name: float(len(runs) - i) for i, name in enumerate(runs)}

    monkeypatch.setattr(autotune, "measure", measure)
    x64, select64, box64, bias64, spec = _inputs("channels_last")
    leaves = [t.float().requires_grad_() for t in (x64, select64, box64, bias64)]
    geometry = dict(stride=spec.stride, padding=1, dilation=spec.dilation, groups=spec.groups)
    with autotune.enabled():
        for _ in range(2):  # the second call is decided already
            out = mixed_conv2d(*leaves, backend="triton", **geometry)
            grads = torch.autograd.grad(out, leaves, torch.ones_like(out))
    kernels = sorted(key[1] for key in autotune.choices() if key[0] == "triton_depthwise")
    assert kernels == ["forward", "input_grad", "tap_grad"] and len(timed) == 3
    candidates = [_tiles.tile_name(t) for t in _tiles.depthwise_candidates(7, 6, 20, pixels_contiguous=False)]
    assert timed == [candidates] * 3  # each kernel timed every candidate, once
    assert set(autotune.choices().values()) == {candidates[-1]}  # and kept the fastest
    # The tuned tiles give the reference's result.
    leaves64 = [t.detach().double().requires_grad_() for t in leaves]
    ref64 = reference.conv2d(*leaves64, spec)
    grads64 = torch.autograd.grad(ref64, leaves64, torch.ones_like(ref64))
    torch.testing.assert_close(out.double(), ref64, rtol=1e-4, atol=1e-4)
    for g, g64 in zip(grads, grads64):
        torch.testing.assert_close(g.double(), g64, rtol=1e-4, atol=1e-4)


def test_without_autotuning_the_rule_decides_and_nothing_is_remembered() -> None:
    from hairlayers.functional.triton import _tiles

    x64, select64, box64, bias64, spec = _inputs("nchw")
    out = torch.empty(2, 6, 9, 11)
    tile = _tiles.depthwise_tile("forward", lambda: ("case",), out, 6, launch=lambda t: pytest.fail("timed without autotuning"))
    assert tile == _tiles.depthwise_blocks(9, 11, 6, pixels_contiguous=True)
    assert autotune.choices() == {}
