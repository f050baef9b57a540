"""Shared test configuration: deterministic hypothesis in CI, shared helpers importable.

Hypothesis profiles (pick one with ``HYPOTHESIS_PROFILE=<name>``; otherwise ``ci`` when the ``CI``
environment variable is set, else ``dev``):

* ``dev``: random examples, as many as each test's ``@settings`` asks for.
* ``ci``: ``derandomize=True``, so every run draws the same examples and a red CI run is
  reproducible; no example database is written.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch
from hypothesis import HealthCheck, settings

# Test files in sub-folders (tests/triton/) import the shared helpers as ``from _tolerance import
# ...``; this must not depend on pytest's import mode.
_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", **_COMMON)
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_COMMON)


def _profile_name() -> str:
    explicit = os.environ.get("HYPOTHESIS_PROFILE")
    if explicit:
        return explicit
    return "ci" if os.environ.get("CI") else "dev"


settings.load_profile(_profile_name())


def pytest_report_header(config: pytest.Config) -> str:
    return f"hypothesis profile: {settings.get_current_profile_name()}, torch {torch.__version__}"


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Run every test module with one intra-op thread, restoring the previous count afterwards.

    Tests on tiny tensors gain nothing from threads, and on a loaded machine OpenMP's barriers make
    them 10x slower in wall time (measured here: the functional tests 237 s with 2 threads, 18 s
    with 1). Benchmarks, not tests, measure threaded speed.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    """Seed torch's global generator so tests that draw tensors outside hypothesis repeat exactly."""
    torch.manual_seed(0)


@pytest.fixture
def fresh_autotune():
    """The test starts with autotuning off and no remembered choices, and leaves it so."""
    from hairlayers.functional import autotune

    autotune.clear()
    with autotune.enabled(False):
        yield
    autotune.clear()
