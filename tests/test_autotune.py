"""Autotuning of the PyTorch backend's formulations (``hairlayers.functional.autotune``).

Two things must hold: every candidate formulation is correct on every layout it may now be given
(the fixed rule never sends, e.g., a channels_last input to the grouped formulation, autotuning
can), and the choice logic times each candidate once per case, takes the fastest, never touches
the caller's autograd graph and stays out of ``torch.compile``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from _tolerance import assert_close_to_reference, default_atol
from hypothesis import given, settings
from hypothesis import strategies as st

from hairlayers.functional import autotune, mixed_conv2d
from hairlayers.functional.geometry import conv_spec
from hairlayers.functional.reference import conv2d as reference_conv2d
from hairlayers.functional.torch_backend import conv2d_candidates, run_conv2d_path

CL = torch.channels_last
pytestmark = pytest.mark.usefixtures("fresh_autotune")


def _case(batch: int, c_in: int, c_out: int, k: int, groups: int, channels_last: bool, dtype=torch.float64):
    x = torch.randn(batch, c_in, 7, 6, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=CL)
    box = torch.randn(3, c_out, c_in // groups, k, k, dtype=dtype)
    bias = torch.randn(3, c_out, dtype=dtype)
    select = torch.softmax(torch.randn(batch, 3, dtype=dtype), dim=1)
    return x, select, box, bias


@settings(max_examples=40)
@given(
    batch=st.integers(1, 3),
    k=st.sampled_from([1, 3]),
    groups=st.sampled_from([1, 2]),
    stride=st.integers(1, 2),
    padding=st.sampled_from([0, 1, "same"]),
    channels_last=st.booleans(),
    with_bias=st.booleans(),
)
def test_every_candidate_matches_the_reference_with_gradients(batch, k, groups, stride, padding, channels_last, with_bias):
    if padding == "same":
        stride = 1
    x, select, box, bias = _case(batch, 4, 6, k, groups, channels_last)
    bias = bias if with_bias else None
    spec = conv_spec(x, select, box, bias, stride, padding, 1, groups)
    leaves = [t.requires_grad_() for t in (x, select, box, bias) if t is not None]
    expected = reference_conv2d(x, select, box, bias, spec)
    expected_grads = torch.autograd.grad(expected.square().sum(), leaves)
    for path in conv2d_candidates(x, spec):
        out = run_conv2d_path(path, x, select, box, bias, spec)
        assert out.is_contiguous(memory_format=CL if channels_last else torch.contiguous_format), path
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-10, msg=path)
        grads = torch.autograd.grad(out.square().sum(), leaves)
        for got, want in zip(grads, expected_grads):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-9, msg=path)


def test_float32_autotuned_output_within_the_tolerance_rule():
    x, select, box, bias = _case(3, 8, 8, 3, 8, channels_last=True, dtype=torch.float32)
    with autotune.enabled():
        fast = mixed_conv2d(x, select, box, bias, padding=1, groups=8)
    ref32 = mixed_conv2d(x, select, box, bias, padding=1, groups=8, backend="reference")
    args64 = [t.double() for t in (x, select, box, bias)]
    ref64 = mixed_conv2d(*args64, padding=1, groups=8, backend="reference")
    assert_close_to_reference(fast, ref32, ref64, atol=default_atol(ref64, torch.float32))


def test_candidates_follow_the_geometry():
    pointwise = conv_spec(*_case(2, 4, 6, 1, 2, False), 1, 0, 1, 2)
    assert conv2d_candidates(torch.randn(2, 4, 5, 5), pointwise) == ["pointwise", "per_sample", "grouped"]
    # The channels_last bmm has no block-diagonal form: grouped 1x1 layers skip it there.
    x_cl = torch.randn(2, 4, 5, 5).contiguous(memory_format=CL)
    assert conv2d_candidates(x_cl, pointwise) == ["per_sample", "grouped"]
    padded = conv_spec(*_case(1, 4, 6, 3, 1, False), 1, 1, 1, 1)
    assert conv2d_candidates(torch.randn(1, 4, 5, 5), padded) == ["static"]


def _fake_clock(monkeypatch, seconds: list[float]) -> list[str]:
    """Replace the stopwatch: the i-th candidate (in :func:`conv2d_candidates` order) 'takes'
    ``seconds[i]``. Every candidate still runs once, so a failing one fails the test. Returns the
    log of candidates timed."""
    timed: list[str] = []

    def measure(runs, device, timer=None):
        for run in runs.values():
            run()
        timed.extend(runs)
        return dict(zip(runs, seconds))

    monkeypatch.setattr(autotune, "measure", measure)
    return timed


def test_fastest_candidate_is_chosen_once_and_remembered(monkeypatch):
    timed = _fake_clock(monkeypatch, [3.0, 1.0, 2.0])  # pointwise, per_sample, grouped
    x, select, box, bias = _case(3, 4, 6, 1, 1, channels_last=False, dtype=torch.float32)
    with autotune.enabled(), torch.no_grad():
        first = mixed_conv2d(x, select, box, bias)
        second = mixed_conv2d(x, select, box, bias)
    assert timed == ["pointwise", "per_sample", "grouped"]  # timed once, on the first call only
    assert list(autotune.choices().values()) == ["per_sample"]
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_cases_differ_by_layout_and_by_gradient_mode(monkeypatch):
    timed = _fake_clock(monkeypatch, [1.0, 2.0])
    x, select, box, bias = _case(2, 4, 4, 3, 4, channels_last=False, dtype=torch.float32)
    with autotune.enabled():
        with torch.no_grad():
            mixed_conv2d(x, select, box, bias, padding=1, groups=4)
            mixed_conv2d(x.contiguous(memory_format=CL), select, box, bias, padding=1, groups=4)
        mixed_conv2d(x, select, box.requires_grad_(), bias, padding=1, groups=4)
    assert len(autotune.choices()) == 3
    assert timed == ["per_sample", "grouped"] * 3


def test_timing_a_training_call_leaves_the_callers_graph_alone(monkeypatch):
    _fake_clock(monkeypatch, [2.0, 1.0])  # grouped wins: a channels_last input in NCHW groups
    x, select, box, bias = _case(2, 4, 4, 3, 4, channels_last=True, dtype=torch.float64)
    leaves = [t.requires_grad_() for t in (x, select, box, bias)]
    with autotune.enabled():
        out = mixed_conv2d(x, select, box, bias, padding=1, groups=4)
    assert all(t.grad is None for t in leaves)  # the timed backward ran on detached copies
    out.square().sum().backward()
    spec = conv_spec(x, select, box, bias, 1, 1, 1, 4)
    detached = [t.detach().requires_grad_() for t in leaves]
    reference_conv2d(*detached, spec).square().sum().backward()
    for got, want in zip(leaves, detached):
        torch.testing.assert_close(got.grad, want.grad, rtol=0, atol=1e-9)


def test_nothing_is_timed_under_torch_compile(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("autotuning must not time inside torch.compile")

    monkeypatch.setattr(autotune, "measure", refuse)
    x, select, box, bias = _case(2, 4, 4, 3, 4, channels_last=False, dtype=torch.float32)
    compiled = torch.compile(
        lambda *a: mixed_conv2d(*a, padding=1, groups=4), backend="eager", fullgraph=True
    )
    with autotune.enabled(), torch.no_grad():
        out = compiled(x, select, box, bias)
    torch.testing.assert_close(out, mixed_conv2d(x, select, box, bias, padding=1, groups=4, backend="reference"))
    assert autotune.choices() == {}


def test_real_timing_picks_a_candidate_and_reuses_it():
    x, select, box, bias = _case(2, 4, 4, 3, 4, channels_last=True, dtype=torch.float32)
    with autotune.enabled(), torch.no_grad():
        mixed_conv2d(x, select, box, bias, padding=1, groups=4)
        (choice,) = autotune.choices().values()
        assert choice in ("per_sample", "grouped")
        mixed_conv2d(x, select, box, bias, padding=1, groups=4)
    assert list(autotune.choices().values()) == [choice]


def test_switches():
    assert not autotune.is_enabled()
    with autotune.enabled():
        assert autotune.is_enabled()
        with autotune.enabled(False):
            assert not autotune.is_enabled()
        assert autotune.is_enabled()
    assert not autotune.is_enabled()
    with pytest.raises(TypeError, match="expects a bool"):
        autotune.set_enabled("yes")


def test_environment_variable_turns_it_on():
    code = "from hairlayers.functional import autotune; print(autotune.is_enabled())"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), HAIRLAYERS_AUTOTUNE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "True"


def test_a_single_candidate_is_remembered_without_timing(monkeypatch):
    timed = _fake_clock(monkeypatch, [])
    x, select, box, bias = _case(1, 4, 4, 3, 1, channels_last=False, dtype=torch.float32)
    with autotune.enabled(), torch.no_grad():
        mixed_conv2d(x, select, box, bias, padding=1)
    assert timed == [] and list(autotune.choices().values()) == ["static"]


def test_nothing_is_timed_while_a_cuda_graph_is_captured(monkeypatch):
    """Timing synchronises the device, which a CUDA-graph capture forbids: the rule decides then."""
    from hairlayers.functional import torch_backend

    monkeypatch.setattr(torch_backend, "host_sync_allowed", lambda x: False)
    timed = _fake_clock(monkeypatch, [1.0, 2.0])
    x, select, box, bias = _case(2, 4, 4, 3, 4, channels_last=False, dtype=torch.float32)
    with autotune.enabled(), torch.no_grad():
        mixed_conv2d(x, select, box, bias, padding=1, groups=4)
    assert timed == [] and autotune.choices() == {}
