"""One model, ready to run on camera frames: package + back-end + preprocess + postprocess.

::

    runner = ModelRunner.load("models/camera/default", trusted_keys=keys)
    detections, timings = runner.detect(frame_bgr)

**Replacing a model** (an update, a rollback): load the new runner first,
then swap::

    runner = runner.swap(ModelRunner.load(new_path, trusted_keys=keys))

``load`` raises (PackageError: unreadable, tampered, unsigned, inconsistent;
BackendError: corrupt model file, input shape not the manifest's, outputs that
do not decode; BackendUnavailable: the runtime is not installed) *before*
anything changes, so on any failure the assignment never happens and the
previous runner keeps serving frames. A new runner has already run one
warm-up frame through the whole path when ``load`` returns; ``swap`` then
releases the old runner's runtime and returns the new one. Swap from the
thread that calls ``detect`` (the camera worker loop): a runner is not meant
to be shared between threads.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from edge_runtime.vision.backends.base import BackendError, InferenceBackend
from edge_runtime.vision.backends.registry import Registry, default_registry
from edge_runtime.vision.detections import Detection
from edge_runtime.vision.postprocess import DecodeError, Postprocessor
from edge_runtime.vision.preprocess import LetterboxTransform, Preprocessor
from models.package import Artifact, ModelPackage, PackageError, load_package

BackendConfig = BaseModel | Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds per stage of one frame."""

    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


@dataclass(frozen=True, slots=True)
class Lineage:
    """Which model made a detection, and how it ran (carried on every FrameDetections)."""

    model: str
    version: str
    sha256: str  # of the artifact that runs
    backend: str
    artifact: str
    format: str
    precision: str

    def as_dict(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


class ModelRunner:
    """A loaded model. Build with :meth:`load` (or :meth:`from_package`); see the module docstring."""

    def __init__(self, package: ModelPackage, artifact: Artifact, backend_key: str, backend: InferenceBackend) -> None:
        """Wrap a back-end that has already loaded ``artifact`` (the seam for tests and tools)."""
        manifest = package.manifest
        if len(manifest.inputs) != 1:
            raise PackageError(f"{manifest.name}: {len(manifest.inputs)} inputs; one image input is supported")
        try:
            self.preprocessor = Preprocessor(manifest.preprocessing, manifest.inputs[0])
            self.postprocessor = (
                Postprocessor(manifest, self.preprocessor.width, self.preprocessor.height)
                if manifest.decoder is not None or manifest.task == "classification"
                else None
            )
        except ValueError as exc:  # DecodeError is a ValueError
            raise PackageError(f"{manifest.name}: {exc}") from None
        self.package = package
        self.manifest = manifest
        self.artifact = artifact
        self.backend_key = backend_key
        self.backend = backend
        self.lineage = Lineage(
            manifest.name, manifest.version, artifact.sha256, backend_key, artifact.path, artifact.format, artifact.precision
        )

    # -- construction

    @classmethod
    def load(
        cls,
        package_path: str | Path,
        *,
        backend: str = "auto",
        config: BackendConfig = None,
        trusted_keys: dict[str, bytes] | None = None,
        require_signature: bool = True,
        registry: Registry | None = None,
    ) -> ModelRunner:
        """Verify the package, choose and load a back-end, run one warm-up frame.

        ``backend`` is ``auto``, a key or ``key:precision``; ``config`` the chosen
        back-end's config (a model or dict), or a dict of them by key.
        """
        package = load_package(package_path, trusted_keys=trusted_keys, require_signature=require_signature)
        return cls.from_package(package, backend=backend, config=config, registry=registry)

    @classmethod
    def from_package(
        cls,
        package: ModelPackage,
        *,
        backend: str = "auto",
        config: BackendConfig = None,
        registry: Registry | None = None,
        warm_up: bool = True,
    ) -> ModelRunner:
        """Like :meth:`load` for a package already verified (or synthesised from a bare model)."""
        reg = registry or default_registry()
        if backend == "auto" and isinstance(config, BaseModel) and isinstance(getattr(config, "type", None), str):
            backend = config.type  # a back-end's config names its back-end
        key, artifact = reg.choose(package, backend)
        if isinstance(config, Mapping) and config and set(config) <= set(reg.loaders):
            config = config.get(key)  # per back-end configs
        instance = reg.create_backend(key, config)
        try:
            instance.load(package, artifact)
            runner = cls(package, artifact, key, instance)
            if warm_up:
                runner.warm_up()
        except BaseException:
            instance.close()
            raise
        return runner

    def warm_up(self) -> Timings:
        """One blank frame through the whole path: allocates, and proves the outputs decode."""
        frame = np.full((self.preprocessor.height, self.preprocessor.width, 3), self.manifest.preprocessing.pad_value,
                        np.uint8)
        return self.detect(frame)[1]

    # -- running

    def detect(self, frame_bgr: np.ndarray) -> tuple[list[Detection], Timings]:
        """Detections in frame pixels and the time each stage took."""
        detections, _, timings = self.run(frame_bgr)
        return detections, timings

    def run(self, frame_bgr: np.ndarray) -> tuple[list[Detection], list[np.ndarray], Timings]:
        """Detections, the raw outputs they were decoded from (manifest order), and the timings."""
        t0 = time.perf_counter()
        tensor, transform = self.preprocessor(frame_bgr)
        t1 = time.perf_counter()
        outputs = self.backend.infer(tensor)
        t2 = time.perf_counter()
        detections = self.decode(outputs, transform)
        t3 = time.perf_counter()
        return detections, outputs, Timings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)

    def decode(self, outputs: list[np.ndarray], transform: LetterboxTransform) -> list[Detection]:
        """Detections in frame pixels from raw outputs: the last stage, which a pipelined caller
        runs on another thread while the back-end already infers the next frame."""
        if self.postprocessor is None:
            return []
        try:
            return self.postprocessor(outputs, transform)
        except DecodeError as exc:
            raise BackendError(f"{self.manifest.name}: outputs do not decode: {exc}") from None

    def raw(self, frame_bgr: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """The output tensors (dequantised float32), named as the manifest names them."""
        tensor, _ = self.preprocessor(frame_bgr)
        return [(spec.name, out) for spec, out in zip(self.manifest.outputs, self.backend.infer(tensor))]

    def infer_tensor(self, tensor: np.ndarray) -> list[np.ndarray]:
        """The back-end on an already preprocessed tensor (for comparisons and benchmarks)."""
        return self.backend.infer(tensor)

    # -- replacing

    def swap(self, new_runner: ModelRunner) -> ModelRunner:
        """Release this runner and return ``new_runner`` (loaded and warmed up by :meth:`load`).

        ``runner = runner.swap(ModelRunner.load(path))``: a failed load raises
        before ``swap`` is called, so the caller still holds the working runner.
        """
        if new_runner is not self:
            self.close()
        return new_runner

    def close(self) -> None:
        self.backend.close()

    def __repr__(self) -> str:
        lin = self.lineage
        return f"<ModelRunner {lin.model}@{lin.version} {lin.format}/{lin.precision} on {lin.backend}>"
