"""Which artifact of a package a device runs, from its hardware profile.

- A TensorRT engine only where the device has CUDA, a compute capability and
  TensorRT, and the engine's target names that compute capability (``sm87``)
  and that TensorRT major version (``trt10``; a minor version too, when the
  target names one): an engine from another GPU or TensorRT fails to load.
- TFLite (int8 before fp32) on a Raspberry Pi class device: ARM without CUDA.
- ONNX otherwise (and where the preferred format is not in the package).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from cloud_sync.registry.profile import HardwareProfile
from models.package import Artifact

_SM = re.compile(r"(?:^|[^a-z0-9])sm_?(\d+)")
_TRT = re.compile(r"trt[-_]?(\d+)(?:\.(\d+))?")
PRECISION_ORDER = {"int8": 0, "fp16": 1, "fp32": 2}


def engine_fits(target: str, profile: HardwareProfile) -> bool:
    """Whether an engine built for ``target`` (``orin-sm87-trt10.3``) loads on ``profile``'s GPU and TensorRT."""
    cc, trt = profile.gpu_compute_capability, profile.runtimes.tensorrt
    if profile.accelerator != "cuda" or cc is None or trt is None:
        return False
    sm, built = _SM.search(target.lower()), _TRT.search(target.lower())
    if sm is None or built is None or sm.group(1) != cc.replace(".", ""):
        return False
    major, _, rest = trt.partition(".")
    return built.group(1) == major and (built.group(2) is None or built.group(2) == (rest.split(".")[0] or "0"))


def choose(artifacts: Sequence[Artifact], profile: HardwareProfile) -> Artifact:
    """The artifact ``profile`` should run; ``artifacts`` is a manifest's (never empty)."""
    engines = [a for a in artifacts if a.format == "tensorrt" and engine_fits(a.target, profile)]
    if engines:
        return _best(engines)
    pi_class = profile.cpu_arch in ("aarch64", "armv7l") and profile.accelerator != "cuda"
    for fmt in (("tflite", "onnx") if pi_class else ("onnx", "tflite")):
        found = [a for a in artifacts if a.format == fmt]
        if found:
            return _best(found) if fmt == "tflite" else found[0]
    return artifacts[0]


def _best(found: list[Artifact]) -> Artifact:
    return min(found, key=lambda a: PRECISION_ORDER.get(a.precision, 9))
