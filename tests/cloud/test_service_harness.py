"""What the service tests share: the real service on 127.0.0.1 (in this loop), clients that sign in like the
console, carry an API token like a script, or sign like a device; sample devices and batches. No tests here."""
from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
from sqlalchemy import Engine

from cloud_sync.contract import batch, signing
from cloud_sync.contract.batch import Chunk
from cloud_sync.contract.records import ReadingRecord, SnapshotRecord
from cloud_sync.contract.signing import DeviceCredential
from cloud_sync.db.engine import make_engine
from cloud_sync.registry.roles import Role
from cloud_sync.registry.tokens import ApiTokens
from cloud_sync.service.keys import API, DEVICE_API, WEB_SECURITY
from cloud_sync.service.launch import Admin, running_service
from cloud_sync.service.settings import ServiceSettings

ADMIN = Admin("ada", "admin-password-1")
PROFILE = {"cpu_arch": "aarch64", "accelerator": "cuda", "memory_mb": 8192, "gpu_compute_capability": "8.7",
           "runtimes": {"tensorrt": "8.6.2", "cuda": "12.2"}}
READING_FIELDS = list(ReadingRecord.model_fields)


def settings_for(db_url: str, data_dir: Path, **overrides: Any) -> ServiceSettings:
    return ServiceSettings(db_url=db_url, data_dir=data_dir, port=0, **overrides)


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


async def answer(response: aiohttp.ClientResponse) -> Answer:
    text = await response.text()
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    return Answer(response.status, body, dict(response.headers))


class AdminClient:
    """An admin API client: a session cookie plus the CSRF header (``sign_in``), or a bearer token."""

    def __init__(self, http: aiohttp.ClientSession, headers: dict[str, str] | None = None) -> None:
        self.http = http
        self.headers = headers or {}

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> Answer:
        async with self.http.request(method, API + path, json=body, headers={**self.headers, **headers}) as r:
            return await answer(r)

    async def sign_in(self, name: str, password: str) -> Answer:
        got = await self.call("POST", "/session", {"name": name, "password": password})
        if got.status == 200:
            self.headers[WEB_SECURITY.csrf_header] = got.body["csrf_token"]
        return got


class DeviceClient:
    """Signs every request like a device (docs/sync.md); ``now`` and ``headers`` let a test forge them."""

    def __init__(self, http: aiohttp.ClientSession, credential: DeviceCredential) -> None:
        self.http = http
        self.credential = credential

    def signed(self, path: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
        return signing.sign(self.credential, "POST", path, body, time.time() if now is None else now)

    async def post(self, what: str, body: bytes, *, device: str | None = None, now: float | None = None,
                   headers: dict[str, str] | None = None) -> Answer:
        path = f"{DEVICE_API}/devices/{device or self.credential.device}/{what}"
        sent = headers if headers is not None else self.signed(path, body, now=now)
        async with self.http.post(path, data=body, headers=sent) as r:
            return await answer(r)

    async def heartbeat(self, **fields: Any) -> Answer:
        return await self.post("heartbeat", json.dumps({"ts": time.time(), "interval_s": 30, **fields}).encode())

    async def batch(self, body: bytes) -> Answer:
        return await self.post("batches", body)


def readings_chunk(first_id: int, rows: int, sensor: str = "wb-1") -> Chunk:
    ids = list(range(first_id, first_id + rows))
    values = [(sensor, "hr", 1.7e9 + i, 60.0 + i % 40, None, None, None) for i in ids]
    return Chunk("readings", ids[0], ids[-1], ids, {n: [v[k] for v in values] for k, n in enumerate(READING_FIELDS)})


def readings_batch(device: str, first_id: int = 1, rows: int = 10) -> bytes:
    return batch.encode(device, [readings_chunk(first_id, rows)], time.time())


def frame_jpeg(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    """A small camera frame: a green figure on grey."""
    w, h = size
    image = np.full((h, w, 3), 90 + seed % 100, np.uint8)
    cv2.rectangle(image, (w // 4, h // 6), (w // 2, h * 11 // 12), (20, 200, 40), -1)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def snapshots_batch(device: str, first_id: int, rows: int, reason: str = "hard_example",
                    size: tuple[int, int] = (160, 120)) -> bytes:
    """Snapshots as the sync agent sends them; a hard example's model box is the figure, scored 0.41."""
    w, h = size
    ids = list(range(first_id, first_id + rows))
    records = [SnapshotRecord(stem=f"{int(1.7e12) + i}-cam-gate", camera="cam-gate", ts=1.7e9 + i, reason=reason,
                              detections=[{"label": "person", "score": 0.41,
                                           "box": [w / 4, h / 6, w / 2, h * 11 / 12]}],
                              model={"name": "ppe", "version": "3", "sha256": "ab" * 32}, jpeg=frame_jpeg(i, size))
               for i in ids]
    columns = {name: [getattr(r, name) for r in records] for name in SnapshotRecord.model_fields}
    return batch.encode(device, [Chunk("snapshots", ids[0], ids[-1], ids, columns)], time.time())


def http_session(url: str) -> aiohttp.ClientSession:
    """A client session like a browser's, keeping the cookies of an IP-address host too."""
    return aiohttp.ClientSession(url, cookie_jar=aiohttp.CookieJar(unsafe=True))


@dataclass
class Cloud:
    """A running service with an admin account and an admin API token."""

    url: str
    http: aiohttp.ClientSession
    engine: Engine
    token: str
    data_dir: Path  # the service's: its model store, exports and job files

    def admin(self) -> AdminClient:
        """A client with the admin token."""
        return AdminClient(self.http, {"Authorization": f"Bearer {self.token}"})

    def browser(self) -> AdminClient:
        """A client with a cookie jar of its own (sign in to use it); the test closes its ``http``."""
        return AdminClient(http_session(self.url))

    async def browser_signed_in(self) -> Answer:
        """Signs the admin in on the shared session (its cookie goes with later requests of ``http``)."""
        return await AdminClient(self.http).sign_in(ADMIN.name, ADMIN.password)

    async def register(self, device_id: str, site: str = "plant-a") -> DeviceClient:
        got = await self.admin().call("POST", "/devices", {"id": device_id, "site": site, "name": device_id.title(),
                                                             "device_type": "jetson-gw", "profile": PROFILE})
        assert got.status == 201, got
        return DeviceClient(self.http, DeviceCredential.parse(got.body["credential"]["credential"]))


@pytest.fixture
async def cloud(cloud_url: str, tmp_path: Path) -> AsyncIterator[Cloud]:
    settings = settings_for(cloud_url, tmp_path / "data", key_overlap_s=600)
    async with running_service(settings, ADMIN) as url:
        engine = make_engine(cloud_url)
        token = ApiTokens(engine).create("tests", Role.ADMIN, created_by="tests").token
        try:
            async with http_session(url) as http:
                yield Cloud(url, http, engine, token, settings.data_dir)
        finally:
            engine.dispose()
