"""Command line: ``python -m hairlayers info`` reports versions and usable compute backends."""

from __future__ import annotations

import argparse
import platform
import sys

import torch


def info_text() -> str:
    """Versions, devices, and each backend's status with the reason when it cannot run."""
    from . import __version__
    from .functional.backends import _REGISTRY

    lines = [
        f"hairlayers {__version__}",
        f"python     {platform.python_version()} ({platform.machine()})",
        f"torch      {torch.__version__} (threads: {torch.get_num_threads()})",
        f"cuda       {'available: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available'}",
    ]
    try:
        from importlib.metadata import version

        lines.append(f"triton     {version('triton')}")
    except Exception:  # PackageNotFoundError; metadata may also be broken
        lines.append("triton     not installed (pip install 'hairlayers[triton]')")
    lines.append("")
    lines.append("backends (tried in this order by backend='auto'):")
    for name, backend in _REGISTRY.items():
        why = backend.unavailable()
        status = "usable" if why is None else f"unavailable: {why}"
        lines.append(f"  {name:<10} {status}")
        lines.append(f"  {'':<10} {backend.description}")
    from .functional import autotune

    state = "on" if autotune.is_enabled() else "off (HAIRLAYERS_AUTOTUNE=1 turns it on)"
    lines.append("")
    lines.append(f"autotune   {state}: the torch backend times its formulations once per shape")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hairlayers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="versions and usable compute backends")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(info_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
