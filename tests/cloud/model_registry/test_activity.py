"""The activity record on SQLite and PostgreSQL: rows appended only on change, and "what ran on device X at
time T" answered right before, between and after changes, and fast on a table of 200,000+ rows."""
from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from cloud_sync.model_registry import ModelRegistry
from cloud_sync.model_registry.tables import model_activity
from tests.cloud.model_registry.packages import CAMERA, Signer, camera_package

# devices of the large record (SITEGUARD_ACTIVITY_DEVICES; 2000 gives the 220,000 rows of README's measure)
BULK_DEVICES = int(os.environ.get("SITEGUARD_ACTIVITY_DEVICES", "300"))
BULK_CHANGES = 50  # per device and slot: 2 slots -> 100 rows per device, plus one busy device's 20,000


@pytest.fixture
def registry(cloud_engine: Engine, tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(cloud_engine, tmp_path / "store")


def ref(version: str, sha: str | None = None) -> dict[str, str | None]:
    return {"name": CAMERA, "version": version, "sha256": sha}


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model_activity)).scalar_one()


def test_appends_only_when_a_slot_changes(registry: ModelRegistry, cloud_engine: Engine) -> None:
    assert registry.record_activity("gw-1", {"cam-1": ref("1.0.0")}, 100.0) == 1
    assert registry.record_activity("gw-1", {"cam-1": ref("1.0.0")}, 130.0) == 0
    assert registry.record_activity("gw-1", {"cam-1": ref("1.0.0"), "risk": ref("r1")}, 160.0) == 1
    assert registry.record_activity("gw-1", {"cam-1": ref("1.0.0", "ab" * 32), "risk": ref("r1")}, 190.0) == 1
    assert registry.record_activity("gw-2", {"cam-1": ref("1.0.0")}, 190.0) == 1  # another device
    assert registry.record_activity("gw-1", {"risk": ref("r1")}, 220.0) == 1  # cam-1 stopped reporting
    assert registry.record_activity("gw-1", {"risk": ref("r1")}, 250.0) == 0
    assert rows(cloud_engine) == 5
    latest = registry.activity.latest("gw-1")
    assert latest["cam-1"].name is None and latest["cam-1"].seq == 3 and latest["risk"].seq == 1


def test_running_at_before_between_and_after_changes(registry: ModelRegistry, signer: Signer,
                                                     tmp_path: Path) -> None:
    for version, parent in (("1.0.0", None), ("1.1.0", "1.0.0")):
        registry.register(camera_package(tmp_path / "p", signer, version, parent=parent), signer.trusted, by="ada",
                          data_snapshot_id=f"snap-{version}")
    registry.record_activity("gw-1", {"cam-1": ref("1.0.0")}, 1000.5, from_ts=1000.0)
    registry.record_activity("gw-1", {"cam-1": ref("1.0.0"), "cam-2": ref("1.0.0")}, 1500.5, from_ts=1500.0)
    registry.record_activity("gw-1", {"cam-1": ref("1.1.0"), "cam-2": ref("1.0.0")}, 2000.5, from_ts=2000.0)
    registry.record_activity("gw-1", {"cam-1": ref("1.1.0")}, 3000.5, from_ts=3000.0)

    def at(ts: float) -> dict[str, str]:
        return {m.slot: m.version for m in registry.running_at("gw-1", ts)}

    assert at(999.9) == {}
    assert at(1000.0) == at(1200) == {"cam-1": "1.0.0"}
    assert at(1700) == {"cam-1": "1.0.0", "cam-2": "1.0.0"}
    assert at(2000.0) == at(2500) == {"cam-1": "1.1.0", "cam-2": "1.0.0"}
    assert at(3000) == at(1e10) == {"cam-1": "1.1.0"}
    assert registry.running_at("gw-unknown", 2500) == []
    (active,) = [m for m in registry.running_at("gw-1", 2500) if m.slot == "cam-1"]
    assert active.registered and active.from_ts == 2000.0 and active.reported_ts == 2000.5
    assert [(s.version, s.data_snapshot_id, s.run_id) for s in active.lineage] == [
        ("1.1.0", "snap-1.1.0", "run-1.1.0"), ("1.0.0", "snap-1.0.0", "run-1.0.0")]


def test_running_at_says_what_it_cannot_vouch_for(registry: ModelRegistry, signer: Signer, tmp_path: Path) -> None:
    version = registry.register(camera_package(tmp_path / "p", signer, "1.0.0"), signer.trusted, by="ada")
    artifact_sha = version.manifest["artifacts"][0]["sha256"]
    registry.record_activity("gw-1", {"a": ref("1.0.0", artifact_sha), "b": ref("1.0.0", "00" * 32),
                                      "c": ref("7.0.0"), "d": ref("1.0.0", version.manifest_sha256)}, 10.0)
    got = {m.slot: (m.registered, m.sha256_matches, len(m.lineage)) for m in registry.running_at("gw-1", 10.0)}
    assert got == {"a": (True, True, 1), "b": (True, False, 1), "c": (False, None, 1), "d": (True, True, 1)}


def test_running_at_is_fast_on_a_large_record(registry: ModelRegistry, cloud_engine: Engine,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """100 rows per device over BULK_DEVICES devices and one busy device with 20,000 more; time T anywhere."""
    started = time.perf_counter()
    batch: list[dict[str, object]] = []
    with cloud_engine.begin() as conn:
        for d in range(BULK_DEVICES):
            for slot in ("cam-1", "risk"):
                for k in range(BULK_CHANGES):
                    batch.append({"device_id": f"gw-{d:04d}", "slot": slot, "seq": k + 1, "name": CAMERA,
                                  "version": f"{k}.0", "sha256": None, "from_ts": 1000.0 * k, "reported_ts": 1000.0 * k})
            if len(batch) >= 20_000:
                conn.execute(insert(model_activity), batch)
                batch = []
        busy = [{"device_id": "gw-busy", "slot": slot, "seq": k + 1, "name": CAMERA, "version": f"{k}.0",
                 "sha256": None, "from_ts": float(k), "reported_ts": float(k)}
                for slot in ("cam-1", "cam-2") for k in range(10_000)]
        conn.execute(insert(model_activity), batch + busy)
    loaded_s = time.perf_counter() - started
    total = rows(cloud_engine)
    assert total == 2 * BULK_DEVICES * BULK_CHANGES + 20_000
    if cloud_engine.dialect.name == "postgresql":
        with cloud_engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE model_activity")

    rng = random.Random(5)
    timings = []
    for _ in range(300):
        d, k = rng.randrange(BULK_DEVICES), rng.randrange(BULK_CHANGES)
        t0 = time.perf_counter()
        got = registry.activity.at(f"gw-{d:04d}", 1000.0 * k + 500)
        timings.append(time.perf_counter() - t0)
        assert [(r.slot, r.version) for r in got] == [("cam-1", f"{k}.0"), ("risk", f"{k}.0")]
    busy_timings = []
    for _ in range(50):
        k = rng.randrange(10_000)
        t0 = time.perf_counter()
        got = registry.activity.at("gw-busy", k + 0.5)
        busy_timings.append(time.perf_counter() - t0)
        assert [(r.slot, r.version) for r in got] == [("cam-1", f"{k}.0"), ("cam-2", f"{k}.0")]
    t0 = time.perf_counter()
    registry.running_at("gw-0042", 25_500.0)  # with the (unregistered) lineage lookups
    with_lineage = time.perf_counter() - t0
    timings.sort()
    busy_timings.sort()
    with capsys.disabled():
        print(f"\n[{cloud_engine.dialect.name}] model_activity {total} rows (loaded in {loaded_s:.1f} s): "
              f"activity.at p50 {timings[150] * 1e3:.2f} ms, p99 {timings[296] * 1e3:.2f} ms, "
              f"max {timings[-1] * 1e3:.2f} ms; busy device (20,000 rows) p50 {busy_timings[25] * 1e3:.2f} ms, "
              f"max {busy_timings[-1] * 1e3:.2f} ms; running_at with lineage {with_lineage * 1e3:.2f} ms")
