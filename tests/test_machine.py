"""hairlayers.machine: the machine description every benchmark and example records."""

import os

import torch

from hairlayers.machine import cpu_model, load_average, machine_info


def test_machine_info_names_the_cpu_threads_and_torch():
    info = machine_info()
    assert info["device"] == "cpu"
    assert info["cpu_count"] == (os.cpu_count() or 0)
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["torch"] == torch.__version__
    assert "gpu" not in info
    assert cpu_model() == info["cpu"] and info["cpu"]


def test_machine_info_records_allocator_settings(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=1")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    info = machine_info("cpu")
    assert info["glibc_tunables"] == "glibc.malloc.mmap_threshold=1"
    assert info["omp_wait_policy"] == "PASSIVE"


def test_load_average_is_three_numbers_or_na():
    load = load_average()
    assert load == "n/a" or len([float(v) for v in load.split()]) == 3
