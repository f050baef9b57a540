"""Shared timing helpers for the benchmark scripts: side-by-side medians and a machine report.

Absolute times on a shared 2-core VM are noisy; what these helpers make trustworthy is the
*ratio* of two callables, by running them round-robin (every repetition visits every callable, so
a burst of load from another process hits all of them alike) and taking medians.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping

from hairlayers.machine import load_average, machine_info  # noqa: F401  (re-exported for the scripts)

#: Keep freed memory in the process: without it glibc returns every large block to the OS after
#: each call and re-faults it on the next, which makes 128x128 layers 2-4x slower (FACTS §6).
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296"


def reexec_with_env(glibc_tunables: bool = True, passive_omp: bool = False) -> None:
    """Restart this script with :data:`GLIBC_TUNABLES` (and ``OMP_WAIT_POLICY=PASSIVE``) set.

    Both are read at process start only, hence the re-exec; nothing happens when the environment
    already has them. ``OMP_WAIT_POLICY=PASSIVE`` makes idle OpenMP threads sleep instead of
    spinning, so that CPU time (``--clock cpu``) counts work and not waiting.
    """
    wanted = {}
    if glibc_tunables and platform.system() == "Linux":
        wanted["GLIBC_TUNABLES"] = GLIBC_TUNABLES
    if passive_omp:
        wanted["OMP_WAIT_POLICY"] = "PASSIVE"
    if all(os.environ.get(k) == v for k, v in wanted.items()):
        return
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **wanted})


#: The clocks a benchmark can time with. ``wall`` is what a user waits; ``cpu`` (CPU seconds of the
#: whole process, all threads) does not count the time other processes hold the cores, so it stays
#: meaningful on an oversubscribed machine (threads spinning at a barrier count, unless
#: OMP_WAIT_POLICY=PASSIVE, which the benchmarks set for this clock).
#: On the 2-core VM under a load average of 10, ``cpu`` with ``OMP_WAIT_POLICY=PASSIVE`` gave a
#: 7 % sample spread and ratios reproducible to ~5 %; ``wall`` gave 50-270 %.
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def calibrate(
    fn: Callable[[], object], target_s: float = 0.02, max_number: int = 50, clock: str = "wall"
) -> int:
    """How many back-to-back calls of ``fn`` make one sample of at least ``target_s`` seconds."""
    now = CLOCKS[clock]
    start = now()
    fn()
    elapsed = now() - start
    return max(1, min(max_number, int(target_s / max(elapsed, 1e-6))))


def round_robin(
    fns: Mapping[str, Callable[[], object]],
    reps: int,
    warmup: int = 1,
    target_s: float = 0.02,
    clock: str = "wall",
) -> dict[str, list[float]]:
    """Time every callable ``reps`` times, interleaved; return seconds per call for each sample.

    Each callable first runs ``warmup`` times (allocator and oneDNN primitive caches fill), then
    gets a fixed number of calls per sample so that one sample lasts about ``target_s``.
    ``clock`` is a key of :data:`CLOCKS`.
    """
    now = CLOCKS[clock]
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    numbers = {name: calibrate(fn, target_s, clock=clock) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            number = numbers[name]
            start = now()
            for _ in range(number):
                fn()
            samples[name].append((now() - start) / number)
    return samples


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def spread(samples: list[float]) -> float:
    """Relative spread of the samples: (upper quartile - lower quartile) / median."""
    if len(samples) < 4:
        return (max(samples) - min(samples)) / statistics.median(samples)
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / statistics.median(samples)


def geomean(values: list[float]) -> float:
    return statistics.geometric_mean(values) if values else float("nan")
