"""What the rollout tests share: hardware profiles, devices that sign GETs and POSTs like the edge's
update agent, a camera package with a TensorRT engine beside its TFLite and ONNX artifacts, and a
registry with versions of it. No tests here."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import Engine

from cloud_sync.contract import signing
from cloud_sync.contract.signing import DeviceCredential
from cloud_sync.model_registry import ModelRegistry
from cloud_sync.registry.devices import DeviceIn, DeviceRegistry
from cloud_sync.service.keys import DEVICE_API
from models.package import Artifact, Manifest, sha256_file, sign_package, write_manifest
from tests.cloud.model_registry.packages import CAMERA, DEFAULT, Signer
from tests.cloud.test_service_harness import Answer, Cloud, answer

ORIN = {"cpu_arch": "aarch64", "accelerator": "cuda", "memory_mb": 8192, "gpu_compute_capability": "8.7",
        "runtimes": {"tensorrt": "8.6.2", "cuda": "12.2", "onnxruntime": "1.17.0"}}
XAVIER = {"cpu_arch": "aarch64", "accelerator": "cuda", "memory_mb": 16384, "gpu_compute_capability": "7.2",
          "runtimes": {"tensorrt": "8.5.2", "cuda": "11.4"}}
PI = {"cpu_arch": "aarch64", "accelerator": "none", "memory_mb": 4096, "runtimes": {"litert": "1.2.0"}}
X86 = {"cpu_arch": "x86_64", "accelerator": "none", "memory_mb": 16384, "runtimes": {"onnxruntime": "1.20.1"}}
ENGINE_FILE = "model_orin_fp16.engine"


def camera_version(into: Path, signer: Signer, version: str) -> Path:
    """The shipped camera model as ``version``: TFLite int8 and fp32, ONNX, and an engine for Orin with
    TensorRT 8.6 (bytes named as one: only its choice is tested here, never its loading)."""
    shipped = Manifest.model_validate_json((DEFAULT / "manifest.json").read_bytes())
    root = into / f"{CAMERA}-{version}"
    root.mkdir(parents=True)
    for artifact in shipped.artifacts:
        shutil.copyfile(DEFAULT / artifact.path, root / artifact.path)
    (root / ENGINE_FILE).write_bytes(f"engine of {version}".encode() * 64)
    engine = Artifact(path=ENGINE_FILE, format="tensorrt", precision="fp16", target="orin-sm87-trt8.6",
                      sha256=sha256_file(root / ENGINE_FILE))
    write_manifest(root, shipped.model_copy(update={"version": version, "training_run_id": f"run-{version}",
                                                    "artifacts": (*shipped.artifacts, engine)}))
    sign_package(root, signer.private)
    return root


def register_versions(engine: Engine, store: Path, signer: Signer, packages: Path,
                      versions: tuple[str, ...] = ("1.0.0", "1.1.0")) -> ModelRegistry:
    registry = ModelRegistry(engine, store)
    for version in versions:
        registry.register(camera_version(packages, signer, version), signer.trusted, "tests")
    return registry


def add_devices(engine: Engine, devices: dict[str, tuple[str, dict[str, Any]]], site: str = "plant-a"
                ) -> dict[str, DeviceCredential]:
    """Registers ``{id: (device_type, profile)}``; their credentials, by id."""
    registry = DeviceRegistry(engine)
    out = {}
    for device_id, (device_type, profile) in devices.items():
        _, issued = registry.register(DeviceIn(id=device_id, site=site, name=device_id, device_type=device_type,
                                               profile=profile))
        out[device_id] = DeviceCredential.parse(issued.credential)
    return out


class Edge:
    """Signs like the edge's update agent: GET desired and packages over an empty body, POST reports."""

    def __init__(self, http: aiohttp.ClientSession, credential: DeviceCredential) -> None:
        self.http = http
        self.credential = credential
        self.id = credential.device

    def path(self, what: str) -> str:
        return f"{DEVICE_API}/devices/{self.id}/{what}"

    def headers(self, method: str, path: str, body: bytes = b"", *, now: float | None = None) -> dict[str, str]:
        return signing.sign(self.credential, method, path, body, time.time() if now is None else now)

    async def get(self, path: str, **extra: str) -> tuple[int, bytes, dict[str, str]]:
        async with self.http.get(path, headers={**self.headers("GET", path), **extra}) as r:
            return r.status, await r.read(), dict(r.headers)

    async def desired(self) -> Answer:
        path = self.path("desired")
        async with self.http.get(path, headers=self.headers("GET", path)) as r:
            return await answer(r)

    async def report(self, body: dict[str, Any]) -> Answer:
        path, data = self.path("report"), json.dumps(body).encode()
        async with self.http.post(path, data=data, headers=self.headers("POST", path, data)) as r:
            return await answer(r)


def edge(cloud: Cloud, credential: DeviceCredential) -> Edge:
    return Edge(cloud.http, credential)


def slot(state: str, version: str | None, *, rollout_id: str | None = None, confirmed: int = 0,
         reason: str | None = None, since_ts: float | None = None) -> dict[str, Any]:
    """A SlotReport of the camera model: ``version`` active (None: nothing active)."""
    active = {"name": CAMERA, "version": version, "sha256": "cd" * 32} if version else None
    return {"state": state, "active": active, "rollout_id": rollout_id, "reason": reason, "since_ts": since_ts,
            "performance": {"confirmed": confirmed, "inferences": 100, "inference_p95_ms": 4.2}}


def report(slots: dict[str, Any] | None = None, events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"ts": time.time(), "interval_s": 30, "slots": slots or {}, "events": events or []}


def rolled_back(version: str, rollout_id: str | None, reason: str) -> dict[str, Any]:
    return {"ts": time.time(), "kind": "rolled_back", "slot": "camera", "rollout_id": rollout_id, "reason": reason,
            "model": {"name": CAMERA, "version": version}}
