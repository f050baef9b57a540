"""What a measurement was taken on: the one description every benchmark and example prints.

A number without its machine cannot be judged: the same training run takes 2-4× longer on a VM
whose glibc allocator returns memory after every large free, a timing doubles when another job
holds the cores. :func:`machine_info` collects what a reader needs.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from typing import Any

import torch


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (or :func:`platform.processor` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: platform's answer is the best there is
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> str:
    """The 1/5/15-minute load averages (other work sharing the cores), or ``"n/a"``."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def machine_info(device: torch.device | str | None = None) -> dict[str, Any]:
    """CPU, cores, threads, torch and Python versions, allocator settings, load, date, device.

    Args:
        device: where the measured work runs; a CUDA device adds the GPU's name.

    Example:
        >>> info = machine_info("cpu")
        >>> sorted(info)[:4], info["device"]
        (['cpu', 'cpu_count', 'date_utc', 'device'], 'cpu')
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    info: dict[str, Any] = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "load_average": load_average(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


__all__ = ["cpu_model", "load_average", "machine_info"]
