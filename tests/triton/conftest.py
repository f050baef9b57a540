"""Run the Triton kernels in Triton's CPU interpreter.

``triton.jit`` decides between compiling and interpreting when a kernel is *defined*, so
``TRITON_INTERPRET=1`` must be in the environment before hairlayers loads its kernel modules
(they load lazily, on the first Triton call). It is set here in ``pytest_configure``, which runs
before this folder's test modules are imported, and only when the run selects the ``triton``
marker (``python -m pytest -m triton tests/triton``): the default run (``-m 'not triton'``) still
imports this file while collecting, and setting the variable there would send every CPU call with
``backend="auto"`` in the rest of the suite through the (slow) interpreter.
"""

from __future__ import annotations

import os

import pytest


def _triton_selected(config: pytest.Config) -> bool:
    markexpr = config.getoption("markexpr") or ""
    return "triton" in markexpr and "not triton" not in markexpr


def pytest_configure(config: pytest.Config) -> None:
    if _triton_selected(config):
        os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs with the interpreter on, however the run was selected."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
