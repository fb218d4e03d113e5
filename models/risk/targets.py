"""Target profiles: where a risk model runs, in which runtime, with how much memory, how much slower.

A registered device reports its hardware profile (CPU architecture,
accelerator, installed runtimes with versions, RAM; see the fleet registry);
:func:`profile_for` turns that into the :class:`TargetProfile` the
recommendation and the compatibility check work with. ``cost_scale`` turns a
latency measured on the development machine (:mod:`.cost`) into the one
expected on the device.

Where the numbers come from
---------------------------
No public benchmark measures *this* development machine against the
devices, so every ``cost_scale`` is an estimate, recorded with its basis in
:attr:`TargetProfile.basis` and to be calibrated by the latencies devices
report (``POST /v1/devices/{id}/report``) for a model timed here too:

- ``pi5`` = 2 x faster than ``pi4``: the Raspberry Pi Foundation's launch
  claim is "2-3x" a Pi 4, and single-thread sysbench measures 1,847 vs 812
  events/s (+128 %, Pi 5 at 2.4 GHz vs Pi 4 at 1.8 GHz, zbotic.in benchmarks).
- ``pi4`` = 6 x this machine: a single-row invoke of a small tabular model is
  dominated by per-call overhead on one core; a Cortex-A72 at 1.5-1.8 GHz
  runs such scalar code roughly 5-10 x slower than a current x86 core (the
  camera model's notes estimate 10 x for its vectorised convolutions).
- ``jetson-orin`` = 1.5: Cortex-A78AE cores at up to 2.2 GHz, a little faster
  per clock than the Pi 5's A76; the risk model runs on the CPU.
- ``x86`` = 1.0: the class of this machine, by definition.

Memory budgets are the risk model's share of the device, not the device's
RAM: the daemon, the camera model and the OS come first. A profile's
budget is capped at :data:`RISK_MODEL_SHARE` of the RAM the device reports.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

Runtime = Literal["onnx", "tflite"]
RUNTIME_PACKAGES: dict[str, Runtime] = {"litert": "tflite", "onnxruntime": "onnx"}
"""Registry runtime name (``HardwareProfile.runtimes``) -> the artifact format it runs."""
RISK_MODEL_SHARE = 1 / 32
"""At most this fraction of a device's RAM goes to the risk model (32 MB of a 1 GB Pi)."""


@dataclass(frozen=True, slots=True)
class TargetProfile:
    """One kind of device as the risk model sees it."""

    name: str
    runtime: Runtime
    memory_budget_mb: float
    cost_scale: float
    basis: str

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIME_PACKAGES.values():
            raise ValueError(f"profile {self.name!r}: runtime {self.runtime!r} is not onnx or tflite")
        if self.memory_budget_mb <= 0 or self.cost_scale <= 0:
            raise ValueError(f"profile {self.name!r}: memory budget and cost scale must be positive")


PROFILES: dict[str, TargetProfile] = {p.name: p for p in (
    TargetProfile("pi4", "tflite", 64.0, 6.0, "estimate: Cortex-A72 single-row invoke ~6x this machine"),
    TargetProfile("pi5", "tflite", 128.0, 3.0, "estimate: half of pi4 (Foundation 2-3x; sysbench 1 thread 2.3x)"),
    TargetProfile("jetson-orin", "onnx", 256.0, 1.5, "estimate: Cortex-A78AE CPU, a little faster than pi5"),
    TargetProfile("x86", "onnx", 512.0, 1.0, "the development machine's class, by definition"),
)}


def profile_for(cpu_arch: str, accelerator: str, runtimes: Mapping[str, str | None], memory_mb: int) -> TargetProfile:
    """The target for a device's hardware profile (fields as the fleet registry stores them).

    ARM boards without CUDA map to ``pi4`` (the slower, so the cautious,
    guess: the registry cannot tell a Pi 4 from a Pi 5) unless a Hailo
    accelerator says Pi 5 (the Hailo AI kits are Pi 5 HATs). The runtime is
    the profile's own when installed, else the other one; the budget shrinks
    to the device's RAM share. Raises ValueError naming what is missing.
    """
    if memory_mb <= 0:
        raise ValueError(f"memory_mb must be positive, got {memory_mb}")
    if cpu_arch == "x86_64":
        base = PROFILES["x86"]
    elif cpu_arch in ("aarch64", "armv7l"):
        base = PROFILES["jetson-orin" if accelerator == "cuda" else "pi5" if accelerator == "hailo" else "pi4"]
    else:
        raise ValueError(f"unknown cpu_arch {cpu_arch!r} (aarch64, armv7l or x86_64)")
    installed = {fmt for package, fmt in RUNTIME_PACKAGES.items() if runtimes.get(package)}
    if not installed:
        raise ValueError(f"device has none of the risk model's runtimes ({', '.join(RUNTIME_PACKAGES)}) installed")
    runtime = base.runtime if base.runtime in installed else installed.pop()
    budget = min(base.memory_budget_mb, memory_mb * RISK_MODEL_SHARE)
    return replace(base, runtime=runtime, memory_budget_mb=budget)
