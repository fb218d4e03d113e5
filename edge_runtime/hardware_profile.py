"""This machine's hardware profile, as the cloud's fleet registry records it (docs/sync.md).

Read from the running system: the CPU architecture, memory, a CUDA GPU where
TensorRT imports, and the installed inference runtimes' versions. Used when
the demo registers its device; an installer registering a real node does the
same with ``siteguard cloud device register --profile``.
"""
from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

_RUNTIMES = {"litert": "ai-edge-litert", "onnxruntime": "onnxruntime", "tensorrt": "tensorrt"}


def local_profile() -> dict[str, Any]:
    """The profile JSON of this machine (no GPU probing beyond what is installed)."""
    runtimes = {name: version for name, dist in _RUNTIMES.items() if (version := _version(dist))}
    return {
        "cpu_arch": platform.machine(),
        "accelerator": "cuda" if "tensorrt" in runtimes else "none",
        "memory_mb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20,
        "runtimes": runtimes,
    }


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
