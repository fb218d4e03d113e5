"""The try-out service: a registered version run on one input, off the event loop.

Inputs: an image (JPEG or PNG, decoded with OpenCV) for a camera model, rows
or named features for a risk model. Models stay loaded in an
:class:`~.cache.LruCache`; decoding, loading and inference run on the
predictor's own thread pool, so a burst of try-outs neither blocks the event
loop nor takes the threads the service's database calls use.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Literal, Optional, TypeVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .cache import CacheStats, LruCache
from .errors import BadInput, UnsupportedInput
from .records import LineageStep
from .registry import ModelRegistry
from .runners import CameraModel, LoadedModel, RiskModel, load_model

IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
T = TypeVar("T")


class DetectionOut(BaseModel):
    label: str
    score: float
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in image pixels")


class ModelUsed(BaseModel):
    name: str
    version: str
    task: str
    backend: str
    artifact: str
    format: str
    precision: str
    sha256: str = Field(description="of the artifact that ran")


class Timing(BaseModel):
    decode_ms: float = 0.0
    load_ms: float = Field(0.0, description="loading the model (0 when it was loaded already)")
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0
    total_ms: float = Field(description="all of the above, as measured around them")


class Prediction(BaseModel):
    model: ModelUsed
    lineage: list[LineageStep]
    cached: bool = Field(description="whether the model was loaded before this request")
    timing_ms: Timing
    image: Optional[tuple[int, int]] = Field(None, description="width, height of a decoded image")
    detections: Optional[list[DetectionOut]] = None
    scores: Optional[list[float]] = None


class RiskInput(BaseModel):
    """A risk model's input: named features of one row, or rows in the model's column order (null: missing)."""

    model_config = ConfigDict(extra="forbid")
    features: Optional[dict[str, Optional[float]]] = None
    rows: Optional[list[list[Optional[float]]]] = None


class Predictor:
    def __init__(self, registry: ModelRegistry, trusted_keys: Mapping[str, bytes], *, cache_size: int,
                 threads: int = 2) -> None:
        self._registry = registry
        self._keys = dict(trusted_keys)
        self.cache: LruCache[tuple[str, str], LoadedModel] = LruCache(self._load, cache_size)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="predict")

    async def image(self, name: str, version: str, body: bytes) -> Prediction:
        return await self._run(lambda: self._image(name, version, body))

    async def risk(self, name: str, version: str, payload: RiskInput) -> Prediction:
        return await self._run(lambda: self._risk(name, version, payload))

    def stats(self) -> CacheStats:
        return self.cache.stats()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- in the pool

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def _load(self, key: tuple[str, str]) -> LoadedModel:
        version = self._registry.get(*key)
        lineage = self._registry.lineage(*key)
        return load_model(version, lineage, self._registry.package_dir(version), self._keys)

    def _model(self, name: str, version: str, kind: type[T]) -> tuple[T, bool, float]:
        t0 = time.perf_counter()
        model, loaded_now = self.cache.get((name, version))
        if not isinstance(model, kind):
            wants = "application/json rows or features" if isinstance(model, RiskModel) else "image/jpeg or image/png"
            raise UnsupportedInput(f"{name} {version} is a {model.version.task} model: send {wants}")
        return model, not loaded_now, (time.perf_counter() - t0) * 1e3 if loaded_now else 0.0

    def _image(self, name: str, version: str, body: bytes) -> Prediction:
        t0 = time.perf_counter()
        frame = decode_image(body)
        t1 = time.perf_counter()
        model, cached, load_ms = self._model(name, version, CameraModel)
        detections, timings = model.detect(frame)
        return Prediction(
            model=_used(model), lineage=model.lineage, cached=cached,
            image=(int(frame.shape[1]), int(frame.shape[0])),
            detections=[DetectionOut(label=d.label, score=round(float(d.score), 5),
                                     box=tuple(round(float(v), 2) for v in d.box)) for d in detections],
            timing_ms=Timing(decode_ms=(t1 - t0) * 1e3, load_ms=load_ms, preprocess_ms=timings.preprocess_ms,
                             inference_ms=timings.inference_ms, postprocess_ms=timings.postprocess_ms,
                             total_ms=(time.perf_counter() - t0) * 1e3),
        )

    def _risk(self, name: str, version: str, payload: RiskInput) -> Prediction:
        t0 = time.perf_counter()
        model, cached, load_ms = self._model(name, version, RiskModel)
        if (payload.features is None) == (payload.rows is None):
            raise BadInput('send either {"features": {name: value}} or {"rows": [[...], ...]}')
        x = model.rows_from_features(payload.features) if payload.features is not None else model.rows(payload.rows or [])
        scored = model.score(x)
        return Prediction(model=_used(model), lineage=model.lineage, cached=cached, scores=scored.scores,
                          timing_ms=Timing(load_ms=load_ms, inference_ms=scored.inference_ms,
                                           total_ms=(time.perf_counter() - t0) * 1e3))


def decode_image(body: bytes) -> np.ndarray:
    """A BGR uint8 frame from JPEG/PNG bytes; BadInput when OpenCV cannot decode them."""
    frame = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) if body else None
    if frame is None:
        raise BadInput(f"the body ({len(body)} bytes) is not a decodable JPEG or PNG image")
    return frame


def _used(model: LoadedModel) -> ModelUsed:
    b = model.backend
    return ModelUsed(name=b.model, version=b.version, task=model.version.task, backend=b.backend, artifact=b.artifact,
                     format=b.format, precision=b.precision, sha256=b.sha256)


Kind = Literal["image", "risk"]


def input_kind(content_type: str) -> Kind | None:
    """Which input a request's Content-Type carries, None when it is neither."""
    if content_type in IMAGE_TYPES:
        return "image"
    return "risk" if content_type == "application/json" else None


