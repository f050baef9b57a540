"""The Triton kernels compile for an H100 with vectorised memory access (``benchmarks/triton_ptx.py``).

No GPU is needed: the launches are recorded on CPU tensors and compiled for sm_90 with the
launcher's specialisation. The script runs in its own process, without ``TRITON_INTERPRET``
(under the interpreter there is nothing to compile). What is asserted is what the kernels'
speed rests on: on a channels_last input with a channel count divisible by 16, the depthwise
kernels move activations and expert weights in vectors (16 bytes where the block allows) and the
GEMM kernel copies both operand tiles with 16-byte ``cp.async``; nothing spills to the stack. Sizes, channel counts
and paddings were once excluded from specialisation, and every one of these loads was 2 bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("triton")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "triton_ptx.py"


def _run_script(out: Path, layers: str) -> list[dict]:
    """The script's rows for ``layers`` at C = 48 (128²), bf16, channels_last."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--layers", layers, "--channels", "48",
         "--dtypes", "bf16", "--layouts", "channels_last", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())["rows"]


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[dict]:
    return _run_script(tmp_path_factory.mktemp("ptx") / "rows.json", "qkv dw,C->3C")


@pytest.fixture(scope="module")
def rows_ffn(tmp_path_factory) -> list[dict]:
    return _run_script(tmp_path_factory.mktemp("ptx_ffn") / "rows.json", "ffn dw")


def _row(rows: list[dict], layer: str, kernel: str) -> dict:
    (row,) = [r for r in rows if r["layer"]["name"].startswith(layer) and r["kernel"] == kernel]
    return row


def _loads(row: dict) -> dict[int, int]:
    return {int(width): count for width, count in row["loads"].items()}


def test_depthwise_kernels_load_16_bytes_per_instruction(rows) -> None:
    forward = _loads(_row(rows, "dw3x3 3C", "mixed_depthwise_kernel (forward)"))
    # Per thread, each of the 9 taps is one 16-byte activation load and one vector load of the
    # tap's expert weights (8 bytes here: a 32-channel block leaves 4 weights per thread); the
    # one narrow load left reads the selecting vector.
    assert forward.get(16, 0) >= 9 and sum(n for w, n in forward.items() if w < 8) <= 2, forward
    assert sum(forward.values()) <= 20, forward
    tap_grad = _loads(_row(rows, "dw3x3 3C", "depthwise_tap_grad_kernel (weight grad)"))
    assert set(tap_grad) == {16}, tap_grad


def test_pointwise_gemm_copies_its_tiles_16_bytes_at_a_time(rows) -> None:
    for role in ("forward", "input grad"):  # activation and weight tiles alike
        row = _row(rows, "1x1 C->3C", f"per_sample_conv_kernel ({role})")
        assert set(_loads(row)) == {16} and set(row["stores"]) == {"16"}, (row["loads"], row["stores"])


def test_nothing_spills(rows) -> None:
    assert len(rows) == 5  # depthwise forward, input grad, tap grad; GEMM forward, input grad
    assert [r["kernel"] for r in rows if r["stack_bytes"]] == []


def test_feed_forward_depthwise_widths_get_the_widest_aligned_loads(rows_ffn) -> None:
    """2h = 254 channels: only even, so 4-byte loads in bf16 (they were 2-byte, like everything)."""
    forward = _loads(_row(rows_ffn, "dw3x3 2h", "mixed_depthwise_kernel (forward)"))
    assert forward.get(4, 0) >= 36 and max(forward) == 4, forward  # 36: 9 taps of activations at least
    tap_grad = _loads(_row(rows_ffn, "dw3x3 2h", "depthwise_tap_grad_kernel (weight grad)"))
    assert set(tap_grad) == {4}, tap_grad


@settings(max_examples=60, deadline=None)
@given(
    channels=st.integers(1, 300),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    batch=st.integers(1, 3),
    dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]),
    channels_last=st.booleans(),
    crop=st.booleans(),
)
def test_channel_alignment_is_the_largest_run_every_pixel_keeps(channels, size, batch, dtype, channels_last, crop) -> None:
    """What the depthwise kernels are told (``C_ALIGN``) holds for every pixel, and is the most that does."""
    from hairlayers.functional.triton._launch import channel_alignment

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.empty(batch, channels, size[0] + crop, size[1], dtype=dtype).contiguous(memory_format=fmt)
    if crop:  # a view whose rows start mid-tensor
        x = x[:, :, 1:]
    align = channel_alignment(channels, x)
    assert align >= 1 and align & (align - 1) == 0 and align * x.element_size() <= 16
    if x.stride(1) != 1:
        assert align == 1
        return
    pixel_offsets = {b * x.stride(0) + h * x.stride(2) + w * x.stride(3)
                     for b in range(batch) for h in range(x.shape[2]) for w in range(x.shape[3])}
    assert channels % align == 0 and all(offset % align == 0 for offset in pixel_offsets)
    wider = 2 * align
    if wider * x.element_size() <= 16:  # maximal: twice as wide breaks the count or some stride
        assert channels % wider or any(s % wider for axis, s in enumerate(x.stride()) if axis != 1)
