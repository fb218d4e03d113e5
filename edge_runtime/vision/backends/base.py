"""The inference back-end interface, in the style of Frigate's detector plugins.

A back-end is one module in this package holding its key, its own config
model and a class implementing :class:`InferenceBackend`. The registry
imports each lazily; one whose runtime is not installed is reported as
unavailable with the reason, never fatal.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from models.package import Artifact, ModelPackage


class BackendError(RuntimeError):
    """Loading or running a model failed (corrupt file, wrong shape, runtime missing)."""


class BackendUnavailable(BackendError):
    """The back-end's runtime is not installed or finds no device here."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a back-end declares, so callers choose by capability, not by key."""

    formats: tuple[str, ...]  # artifact formats it runs: "tflite", "onnx", "tensorrt"
    dtypes: tuple[str, ...]  # input dtypes: "float32", "int8", "uint8", "float16"
    max_batch: int = 1
    accelerator: str = "cpu"  # "cpu", "cuda", "tensorrt", "xnnpack"


class InferenceBackend(abc.ABC):
    """One model resident in one runtime."""

    key: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def capabilities(cls) -> Capabilities: ...

    @abc.abstractmethod
    def load(self, package: ModelPackage, artifact: Artifact) -> None:
        """Load once; raises BackendError (the caller keeps its previous model)."""

    @abc.abstractmethod
    def infer(self, tensor: np.ndarray) -> list[np.ndarray]:
        """One forward pass on a preprocessed input; outputs in manifest order, dequantised to float32."""

    def close(self) -> None:
        """Release the runtime's resources."""
