"""Backend dispatch: order, explicit requests, reasons, and registering a third-party backend.

The dispatch has no public way to unregister a backend, so the ``registry`` fixture swaps the
private ``_REGISTRY`` for a copy and puts the original back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

from hairlayers.errors import BackendUnavailableError, HairError
from hairlayers.functional import (
    Backend,
    backends,
    list_backends,
    mixed_conv2d,
    mixed_conv_transpose2d,
    mixed_linear,
    reference,
    register_backend,
)
from hairlayers.functional.geometry import ConvSpec

DEFAULT_ORDER = ["triton", "torch", "reference"]


@pytest.fixture
def registry() -> Iterator[None]:
    """A private copy of the backend registry for one test; the original is restored after."""
    saved = backends._REGISTRY
    backends._REGISTRY = dict(saved)
    try:
        yield
    finally:
        backends._REGISTRY = saved
    assert list_backends() == DEFAULT_ORDER


@pytest.fixture
def no_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Triton as a plain CPU user sees it: no ``TRITON_INTERPRET``."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)


class FakeBackend(Backend):
    """A backend that computes with the reference and records what it was asked.

    ``declines`` makes it refuse every call with that reason; ``missing`` makes it unavailable in
    this environment with that reason.
    """

    description = "test double"

    def __init__(self, name: str = "fake", declines: str | None = None, missing: str | None = None):
        self.name = name
        self.declines = declines
        self.missing = missing
        self.asked: list[backends.Call] = []
        self.ran: list[str] = []

    def unavailable(self) -> str | None:
        return self.missing

    def unsupported(self, call: backends.Call) -> str | None:
        self.asked.append(call)
        return self.declines

    def conv2d(self, x, select, weight_box, bias_box, spec):
        self.ran.append("conv2d")
        return reference.conv2d(x, select, weight_box, bias_box, spec)

    def conv_transpose2d(self, x, select, weight_box, bias_box, spec):
        self.ran.append("conv_transpose2d")
        return reference.conv_transpose2d(x, select, weight_box, bias_box, spec)

    def linear(self, x, select, weight_box, bias_box):
        self.ran.append("linear")
        return reference.linear(x, select, weight_box, bias_box)


def _conv_args() -> tuple[torch.Tensor, ...]:
    return torch.randn(2, 4, 6, 6), torch.softmax(torch.randn(2, 3), 1), torch.randn(3, 5, 4, 3, 3)


# Each op with small random arguments, as (name, call(backend) -> output).
OPS = {
    "conv2d": lambda backend: mixed_conv2d(*_conv_args(), padding="same", backend=backend),
    "conv_transpose2d": lambda backend: mixed_conv_transpose2d(
        torch.randn(2, 4, 3, 3), torch.randn(2, 3), torch.randn(3, 4, 2, 2, 2), stride=2, backend=backend
    ),
    "linear": lambda backend: mixed_linear(
        torch.randn(2, 5, 4), torch.randn(2, 3), torch.randn(3, 6, 4), torch.randn(3, 6), backend=backend
    ),
}


def test_default_order() -> None:
    assert list_backends() == DEFAULT_ORDER


def test_list_backends_returns_a_copy() -> None:
    names = list_backends()
    names.clear()
    assert list_backends() == DEFAULT_ORDER


def test_reference_backend_is_the_per_sample_loop() -> None:
    x, select, box = _conv_args()
    bias = torch.randn(3, 5)
    out = mixed_conv2d(x, select, box, bias, stride=2, padding=1, backend="reference")
    for b in range(2):
        w = torch.einsum("n,n...->...", select[b], box)
        expected = F.conv2d(x[b : b + 1], w, select[b] @ bias, stride=2, padding=1)
        torch.testing.assert_close(out[b : b + 1], expected)


@pytest.mark.parametrize("op", list(OPS))
def test_every_op_runs_on_every_cpu_backend(op: str, no_interpreter: None) -> None:
    torch.manual_seed(3)
    ref = OPS[op]("reference")
    for name in ("torch", "auto"):
        torch.manual_seed(3)
        torch.testing.assert_close(OPS[op](name), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", list(OPS))
def test_explicit_triton_without_interpreter_raises_with_reason(op: str, no_interpreter: None) -> None:
    triton = backends.get_backend("triton")
    with pytest.raises(BackendUnavailableError) as info:
        OPS[op]("triton")
    message = str(info.value)
    assert f"backend 'triton' cannot run this {op}" in message
    # The reason is the backend's own words (missing package, no CUDA, CPU tensors, ...).
    why = triton.unavailable() or triton.unsupported(backends.Call(op, torch.randn(2, 4, 6, 6)))
    assert why and why in message, (why, message)


def test_auto_takes_torch_when_triton_cannot_run(no_interpreter: None) -> None:
    x, select, box = _conv_args()
    call = backends.Call("conv2d", x, ConvSpec((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1))
    assert backends.reasons(backends.get_backend("triton"), call) is not None
    assert backends.choose("auto", call).name == "torch"
    # Same backend, same arithmetic: bit-identical.
    assert torch.equal(
        mixed_conv2d(x, select, box, padding=1), mixed_conv2d(x, select, box, padding=1, backend="torch")
    )


def test_unknown_backend_lists_the_backends() -> None:
    with pytest.raises(HairError) as info:
        OPS["conv2d"]("cudnn")
    message = str(info.value)
    assert "unknown backend 'cudnn'" in message
    assert "'auto'" in message and str(DEFAULT_ORDER) in message


@pytest.mark.parametrize("op", list(OPS))
def test_auto_takes_a_backend_registered_first(op: str, registry: None) -> None:
    fake = FakeBackend()
    register_backend(fake, first=True)
    assert list_backends() == ["fake", *DEFAULT_ORDER]
    torch.manual_seed(5)
    out = OPS[op]("auto")
    torch.manual_seed(5)
    torch.testing.assert_close(out, OPS[op]("reference"), rtol=0, atol=0)
    assert fake.ran == [op]
    assert [call.op for call in fake.asked] == [op]


def test_backend_is_asked_with_the_resolved_call(registry: None) -> None:
    fake = FakeBackend()
    register_backend(fake, first=True)
    x, select, box = _conv_args()
    mixed_conv2d(x, select, box, padding="same", dilation=(1, 2), backend="fake")
    call = fake.asked[-1]
    assert call.op == "conv2d" and call.x is x
    assert call.spec == ConvSpec((3, 3), (1, 1), (1, 1, 2, 2), (1, 2), 1)
    OPS["linear"]("fake")
    assert fake.asked[-1].op == "linear" and fake.asked[-1].spec is None


@pytest.mark.parametrize("op", list(OPS))
def test_auto_skips_a_backend_that_declines(op: str, registry: None, no_interpreter: None) -> None:
    fake = FakeBackend(declines="only odd batch sizes")
    register_backend(fake, first=True)
    torch.manual_seed(5)
    out = OPS[op]("auto")
    torch.manual_seed(5)
    assert torch.equal(out, OPS[op]("torch"))
    assert fake.asked and fake.ran == []


@pytest.mark.parametrize("kind", ["declines", "missing"])
def test_explicit_request_of_a_declining_backend_raises_its_reason(kind: str, registry: None) -> None:
    fake = FakeBackend(**{kind: "needs a quantum accelerator"})
    register_backend(fake)
    with pytest.raises(BackendUnavailableError) as info:
        OPS["conv2d"]("fake")
    assert str(info.value) == "backend 'fake' cannot run this conv2d: needs a quantum accelerator"
    assert fake.ran == []


def test_unavailable_backend_is_not_asked_about_calls(registry: None) -> None:
    fake = FakeBackend(missing="library not installed")
    register_backend(fake, first=True)
    OPS["linear"]("auto")
    assert fake.asked == [] and fake.ran == []


def test_auto_with_no_capable_backend_lists_every_reason(registry: None) -> None:
    backends._REGISTRY = {}
    register_backend(FakeBackend("a", declines="too small"))
    register_backend(FakeBackend("b", missing="not installed"))
    with pytest.raises(BackendUnavailableError) as info:
        OPS["linear"]("auto")
    assert str(info.value) == "no backend can run this linear: a: too small; b: not installed"


def test_register_appends_and_replaces_by_name(registry: None) -> None:
    first, second = FakeBackend(), FakeBackend()
    register_backend(first)
    assert list_backends() == [*DEFAULT_ORDER, "fake"]
    register_backend(second, first=True)  # same name: replaced and moved, never duplicated
    assert list_backends() == ["fake", *DEFAULT_ORDER]
    OPS["conv2d"]("fake")
    assert first.ran == [] and second.ran == ["conv2d"]


def test_later_first_registration_wins(registry: None) -> None:
    one, two = FakeBackend("one"), FakeBackend("two")
    register_backend(one, first=True)
    register_backend(two, first=True)
    OPS["conv2d"]("auto")
    assert two.ran == ["conv2d"] and one.ran == []


def test_unregister_backend_removes_and_returns_it(registry: None) -> None:
    from hairlayers.functional import list_backends, register_backend, unregister_backend

    fake = backends.ReferenceBackend()
    fake.name = "fake"
    register_backend(fake, first=True)
    assert list_backends()[0] == "fake"
    assert unregister_backend("fake") is fake
    assert "fake" not in list_backends()
    with pytest.raises(HairError, match="unknown backend 'fake'"):
        unregister_backend("fake")
