"""Dispatch to and away from the Triton backend, lazy import, and torch.compile of the custom ops.

Runs with the ``triton`` marker in the interpreter (see ``conftest.py``).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from hairlayers.errors import BackendUnavailableError
from hairlayers.functional import mixed_conv2d, mixed_conv_transpose2d, mixed_linear, reference
from hairlayers.functional.geometry import conv_spec
from hairlayers.functional.backends import Call, choose, get_backend

pytest.importorskip("triton")
pytestmark = pytest.mark.triton


def _inputs(dtype=torch.float32, batch=2, c_in=4, c_out=6, n=3, k=3):
    x = torch.randn(batch, c_in, 5, 5, dtype=dtype)
    select = torch.softmax(torch.randn(batch, n, dtype=dtype), dim=1)
    box = torch.randn(n, c_out, c_in, k, k, dtype=dtype)
    return x, select, box


def test_auto_passes_measured_slower_cases_to_torch() -> None:
    x, _, _ = _inputs()
    spec = conv_spec(x, *_inputs()[1:], None, 1, 1, 1, 1)
    depthwise = conv_spec(x, _inputs()[1], torch.randn(3, 4, 1, 3, 3), None, 1, 1, 1, 4)
    for call in (Call("linear", x), Call("conv2d", x, spec)):
        assert get_backend("triton").unsupported(call) is None  # it could run them ...
        assert "measured" in get_backend("triton").declines_auto(call)  # ... but auto does not
        assert choose("auto", call).name == "torch"
        assert choose("triton", call).name == "triton"  # explicit requests still run Triton
    # Depthwise kernels measured faster than the torch path: auto takes them.
    assert get_backend("triton").declines_auto(Call("conv2d", x, depthwise)) is None
    assert choose("auto", Call("conv2d", x, depthwise)).name == "triton"
    # float64 has no Triton kernel: auto moves on to the PyTorch path, silently and correctly.
    assert choose("auto", Call("linear", x.double())).name == "torch"
    assert choose("auto", Call("conv_transpose2d", x)).name == "torch"


@pytest.mark.parametrize(
    "call,reason",
    [
        (lambda x, s, b: mixed_conv2d(x.double(), s.double(), b.double(), backend="triton"), "float64"),
        (lambda x, s, b: mixed_conv_transpose2d(x, s, b.transpose(1, 2), backend="triton"), "conv_transpose2d"),
    ],
    ids=["float64", "conv_transpose2d"],
)
def test_explicit_triton_raises_with_reason(call, reason: str) -> None:
    x, select, box = _inputs(c_in=4, c_out=4)
    with pytest.raises(BackendUnavailableError, match=reason):
        call(x, select, box)


def test_unavailable_without_interpreter_or_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device makes the backend available")
    monkeypatch.delenv("TRITON_INTERPRET")
    x, select, box = _inputs()
    with pytest.raises(BackendUnavailableError, match="no CUDA device"):
        mixed_conv2d(x, select, box, backend="triton")
    assert choose("auto", Call("conv2d", x)).name == "torch"


def test_unavailable_without_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    import hairlayers.functional.triton as triton_backend

    monkeypatch.setattr(triton_backend, "_OPS", None)  # as if the kernels were never loaded
    monkeypatch.setattr(triton_backend, "_missing_requirement", triton_backend._UNCHECKED)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real_find_spec(name, *a)
    )
    assert "not installed" in get_backend("triton").unavailable()


def test_importing_hairlayers_does_not_import_triton() -> None:
    code = "import sys, hairlayers, hairlayers.functional; print('triton' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


def test_torch_compile_matches_eager() -> None:
    """The custom ops trace as opaque calls (fullgraph) and give the eager results and gradients.

    ``aot_eager`` runs Dynamo and AOTAutograd (where a custom op without fake/autograd
    registrations would break) without Inductor's C++ code generation, which takes minutes on a
    small CPU machine; the op itself is opaque to Inductor either way.
    """
    x, select, box = _inputs()
    bias = torch.randn(box.shape[0], box.shape[1])
    weights = torch.randn(2, 5, 6)  # (N, out, in = c_out of the conv)
    leaves = [t.clone().requires_grad_() for t in (x, select, box, bias, weights)]

    def f(x, select, box, bias, weights):
        y = mixed_conv2d(x, select, box, bias, padding=1, backend="triton")
        z = mixed_linear(y.flatten(2).transpose(1, 2), select[:, :2], weights, backend="triton")
        return torch.tanh(z).square().sum()

    eager = f(*leaves)  # also loads the kernel module outside of tracing
    eager_grads = torch.autograd.grad(eager, leaves)
    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    out = compiled(*leaves)
    grads = torch.autograd.grad(out, leaves)
    torch.testing.assert_close(out, eager)
    for g, ge in zip(grads, eager_grads):
        torch.testing.assert_close(g, ge)


def test_compiled_graph_holds_the_custom_op() -> None:
    """Under torch.compile the layer is one opaque custom-op node (eager uses an autograd.Function)."""
    x, select, box = _inputs()
    graphs = []

    def recording_backend(gm, example_inputs):
        graphs.append(gm.code)
        return gm.forward

    def f(x, select, box):
        return mixed_conv2d(x, select, box, padding=1, backend="triton")

    eager = f(x, select, box)
    compiled = torch.compile(f, backend=recording_backend, fullgraph=True)(x, select, box)
    torch.testing.assert_close(compiled, eager)
    assert len(graphs) == 1 and "hairlayers.triton_mixed_conv2d" in graphs[0]


def test_custom_op_registration_passes_opcheck() -> None:
    """torch.library.opcheck: schema, fake (meta) kernel and autograd registration agree."""
    from hairlayers.functional.triton import _load_ops

    ops = _load_ops()
    x, select, box = _inputs(batch=2, c_in=2, c_out=2, n=2, k=1)
    args = (x, select.requires_grad_(), box.requires_grad_(), None, [1, 1], [0, 0, 0, 0], [1, 1], 1, False)
    torch.library.opcheck(ops.mixed_conv2d_op, args)
    expected = reference.conv2d(x, select, box, None, conv_spec(x, select, box, None, 1, 0, 1, 1))
    torch.testing.assert_close(ops.mixed_conv2d_op(*args), expected)
