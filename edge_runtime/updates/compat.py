"""Can this device run that package? Its artifact's runtime (and version), its memory, before any switch.

The cloud built the package for the device's profile (models/risk/compat.py
checks it there); the device checks again what only it knows: which runtime
imports here at which version, and how much memory is free now. The slot
checks the input shape itself (``ModelSlot.input_mismatch``). Blocking (an
import may take a while): run on the agent's file thread.
"""
from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

from models.package import Artifact, ModelPackage

RUNTIMES: dict[str, tuple[str, ...]] = {
    "onnx": ("onnxruntime",),
    "tflite": ("ai_edge_litert", "tflite_runtime"),  # LiteRT, or tflite_runtime on older Raspberry Pi images
    "tensorrt": ("tensorrt",),
}
"""Artifact format -> the modules that run it, in order of preference."""
_TRT_TARGET = re.compile(r"(?:^|[-_,])trt(\d+(?:\.\d+)*)(?:$|[-_,])")
"""A TensorRT engine's target names the TensorRT version it was built with (``jetson-orin-sm87-trt10``)."""
MEMINFO = Path("/proc/meminfo")


class Incompatible(ValueError):
    """The package cannot run on this device; the message says why."""


def choose_artifact(package: ModelPackage, wanted: str | None) -> Artifact:
    """The artifact the desired state names, else the first whose runtime imports here."""
    artifacts = package.manifest.artifacts
    if wanted is not None:
        chosen = next((a for a in artifacts if a.path == wanted), None)
        if chosen is None:
            raise Incompatible(f"the package has no artifact {wanted!r}")
        runtime_problem(chosen)
        return chosen
    problems = []
    for artifact in artifacts:
        try:
            runtime_problem(artifact)
            return artifact
        except Incompatible as exc:
            problems.append(str(exc))
    raise Incompatible("no artifact runs here: " + "; ".join(problems))


def runtime_problem(artifact: Artifact) -> None:
    """Raise Incompatible unless the artifact's runtime imports here, at the version its target names."""
    names = RUNTIMES.get(artifact.format, ())
    module = None
    for name in names:
        try:
            module = importlib.import_module(name)
            break
        except ImportError:
            continue
    if module is None:
        raise Incompatible(f"{artifact.path}: {artifact.format} needs {' or '.join(names) or 'a runtime'}, "
                           "not installed here")
    match = _TRT_TARGET.search(artifact.target) if artifact.format == "tensorrt" else None
    if match is not None:
        have = str(getattr(module, "__version__", ""))
        if have != match.group(1) and not have.startswith(match.group(1) + "."):
            raise Incompatible(f"{artifact.path}: built for TensorRT {match.group(1)}, this device has {have or '?'}")


def memory_problem(path: Path, headroom_mb: float) -> str | None:
    """Why the artifact does not fit in the available memory minus the headroom, or None."""
    need = path.stat().st_size
    available = available_bytes()
    if available is None:
        return None
    spare = available - headroom_mb * 1024 * 1024
    if need > spare:
        return (f"{path.name} needs {need / 2**20:.1f} MB, {max(0.0, spare) / 2**20:.1f} MB are free "
                f"beyond the {headroom_mb:.0f} MB headroom")
    return None


def available_bytes() -> int | None:
    """MemAvailable (Linux), else free physical pages; None where neither is known."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check(package: ModelPackage, wanted: str | None, headroom_mb: float) -> Artifact:
    """The artifact this device will run; Incompatible naming the first problem found."""
    artifact = choose_artifact(package, wanted)
    if problem := memory_problem(package.path_of(artifact), headroom_mb):
        raise Incompatible(problem)
    return artifact
