"""Models kept loaded between try-outs: the LRU evicts the least recently used and reloads it on demand,
and many threads asking for one model at once load it once (real packages, real LiteRT, real SQLite)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cloud_sync.db.engine import make_engine
from cloud_sync.db.migrate import upgrade
from cloud_sync.model_registry import ModelRegistry
from cloud_sync.model_registry.cache import LruCache
from cloud_sync.model_registry.predict import Predictor
from tests.cloud.model_registry.packages import CAMERA, Signer, camera_package, site_jpeg


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    upgrade(str(tmp_path / "cloud.db"))
    engine = make_engine(str(tmp_path / "cloud.db"))
    yield engine
    engine.dispose()


async def test_the_predictor_evicts_the_least_recently_used_and_reloads_it(engine: Engine, signer: Signer,
                                                                           tmp_path: Path) -> None:
    registry = ModelRegistry(engine, tmp_path / "store")
    for v in ("1.0.0", "2.0.0", "3.0.0"):
        registry.register(camera_package(tmp_path / "p", signer, v), signer.trusted, by="ada")
    predictor = Predictor(registry, signer.trusted, cache_size=2)
    image = site_jpeg()
    try:
        cached = [(await predictor.image(CAMERA, v, image)).cached for v in ("1.0.0", "2.0.0", "1.0.0", "3.0.0")]
        assert cached == [False, False, True, False]  # 3.0.0 pushed out 2.0.0, the least recently used
        assert predictor.stats().loaded == ((CAMERA, "1.0.0"), (CAMERA, "3.0.0"))
        again = await predictor.image(CAMERA, "2.0.0", image)
        assert not again.cached and again.detections
        stats = predictor.stats()
        assert (stats.loads, stats.evictions, stats.hits) == (4, 2, 1)
        assert stats.loaded == ((CAMERA, "3.0.0"), (CAMERA, "2.0.0"))
    finally:
        predictor.close()


def test_concurrent_requests_load_a_model_once_and_others_in_parallel() -> None:
    started: list[str] = []
    lock = threading.Lock()

    def load(key: str) -> str:
        with lock:
            started.append(key)
        time.sleep(0.2)
        return key.upper()

    cache: LruCache[str, str] = LruCache(load, size=4)
    with ThreadPoolExecutor(max_workers=12) as pool:
        t0 = time.perf_counter()
        results = list(pool.map(cache.get, ["a"] * 8 + ["b"] * 4))
        elapsed = time.perf_counter() - t0
    assert sorted(started) == ["a", "b"]  # one load per key
    assert [v for v, _ in results] == ["A"] * 8 + ["B"] * 4
    assert sum(loaded for _, loaded in results) == 2
    assert elapsed < 0.39  # a and b loaded side by side, not one after the other
    assert cache.stats().loads == 2 and not cache._pending


def test_a_failed_load_caches_nothing_and_the_next_one_tries_again() -> None:
    attempts: list[int] = []

    def load(key: str) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk went away")
        return 7

    cache: LruCache[str, int] = LruCache(load, size=1)
    with pytest.raises(OSError):
        cache.get("a")
    assert cache.get("a") == (7, True) and cache.get("a") == (7, False) and len(attempts) == 2
    with pytest.raises(ValueError, match="at least 1"):
        LruCache(load, size=0)
