"""Build profiles: which artifacts each kind of device gets from one trained model.

Every build writes ONNX (the reference runtime, and what a Jetson builds its
engine from). A Raspberry Pi profile adds TFLite fp32 and int8 (LiteRT with
XNNPACK; int8 calibrated on training data). A Jetson profile adds a TensorRT
engine for its GPU (compute capability) and TensorRT version, when this
machine can build one for exactly that pair (:mod:`.tensorrt`); otherwise the
device builds it from the ONNX artifact and caches it by (model sha256, GPU,
TensorRT version, precision). The profile names are the risk model's
(:data:`models.risk.targets.PROFILES`), so one device has one name everywhere.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Precision = Literal["fp32", "fp16", "int8"]
JETPACK_TRT = "10.3"
"""TensorRT of JetPack 6 (Jetson Orin), assumed for a Jetson that does not report its own."""
ORIN = (8, 7)


def major_minor(trt_version: str) -> str:
    """``"10.3.0.30"`` -> ``"10.3"``: engines do not load across TensorRT minor versions."""
    return ".".join(trt_version.split(".")[:2])


@dataclass(frozen=True, slots=True)
class GpuTarget:
    """The GPU and TensorRT a profile's engine must be built for."""

    compute_capability: tuple[int, int]
    trt_version: str
    precision: Precision = "fp16"

    @property
    def sm(self) -> str:
        return f"sm{self.compute_capability[0]}{self.compute_capability[1]}"

    def tag(self, profile: str) -> str:
        """The engine artifact's ``target``: names the profile, the smXY and the trtX.Y the edge checks."""
        return f"{profile}-{self.sm}-trt{major_minor(self.trt_version)}"


@dataclass(frozen=True, slots=True)
class BuildTarget:
    """One device profile as the build sees it."""

    name: str
    tflite: bool = False
    gpu: GpuTarget | None = None

    def runs(self, fmt: str) -> bool:
        """Whether a device of this profile can run an artifact of ``fmt`` (ONNX: not on a Pi, which runs LiteRT)."""
        if fmt == "tflite":
            return self.tflite
        if fmt == "tensorrt":
            return self.gpu is not None
        return fmt == "onnx" and not self.tflite


PROFILES: dict[str, BuildTarget] = {t.name: t for t in (
    BuildTarget("pi4", tflite=True),
    BuildTarget("pi5", tflite=True),
    BuildTarget("jetson-orin", gpu=GpuTarget(ORIN, JETPACK_TRT)),
    BuildTarget("x86"),
)}


def target_for(cpu_arch: str, accelerator: str, runtimes: Mapping[str, str | None],
               compute_capability: str | None) -> BuildTarget:
    """The build profile of a registered device (fields as the fleet registry's hardware profile has them).

    A CUDA device gets an engine for the compute capability and TensorRT it
    reports (Orin and JetPack 6 when it reports none); other ARM boards are
    Pis (``pi5`` with a Hailo HAT, else the cautious ``pi4``).
    """
    if accelerator == "cuda":
        cc = ORIN
        if compute_capability:
            if not re.fullmatch(r"\d{1,2}\.\d", compute_capability):
                raise ValueError(f"compute capability {compute_capability!r} is not like 8.7")
            cc = tuple(int(p) for p in compute_capability.split("."))  # type: ignore[assignment]
        gpu = GpuTarget(cc, major_minor(runtimes.get("tensorrt") or JETPACK_TRT))
        name = "jetson-orin" if cpu_arch == "aarch64" and cc == ORIN else f"{'jetson' if cpu_arch == 'aarch64' else 'cuda'}-{gpu.sm}"
        return BuildTarget(name, gpu=gpu)
    if cpu_arch == "x86_64":
        return PROFILES["x86"]
    if cpu_arch in ("aarch64", "armv7l"):
        return PROFILES["pi5" if accelerator == "hailo" else "pi4"]
    raise ValueError(f"unknown cpu_arch {cpu_arch!r} (aarch64, armv7l or x86_64)")
