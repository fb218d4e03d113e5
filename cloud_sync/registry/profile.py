"""A device's hardware profile: what the cloud needs to know to pick models and artifacts that run on it.

A TensorRT engine is tied to the GPU's compute capability and to the TensorRT
and CUDA versions, a LiteRT or ONNX model to the runtime's version: the
profile names them all, so rollouts can match an artifact's target profile.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

Version = Field(None, pattern=r"^[0-9][0-9A-Za-z.+-]{0,31}$", description="installed version, absent if not installed")


class Runtimes(BaseModel):
    """Inference runtimes installed on the device, each with its version."""

    model_config = ConfigDict(extra="forbid")
    litert: Optional[str] = Version
    onnxruntime: Optional[str] = Version
    tensorrt: Optional[str] = Version
    cuda: Optional[str] = Version


class HardwareProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cpu_arch: Literal["aarch64", "armv7l", "x86_64"] = Field(description="as `uname -m` names it")
    accelerator: Literal["none", "cuda", "edgetpu", "hailo"] = "none"
    memory_mb: int = Field(gt=0, description="RAM the device has")
    runtimes: Runtimes = Runtimes()
    gpu_compute_capability: Optional[str] = Field(None, pattern=r"^[0-9]{1,2}\.[0-9]$",
                                                  description="CUDA compute capability, e.g. 8.7 (Jetson Orin)")
