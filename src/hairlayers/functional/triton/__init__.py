"""Fused Triton kernels for the mixed ops (GPU; CPU through ``TRITON_INTERPRET=1``).

Importing this package never imports Triton: the kernels load on first use.
"""

from __future__ import annotations

from ..backends import Backend


class TritonBackend(Backend):
    name = "triton"
    description = "fused Triton kernels (mixing inside the kernel)"

    def unavailable(self) -> str | None:
        return "not implemented yet"
