"""A full disk under the real daemon (`siteguard run`), a real Mosquitto and the emulated site.

The database lives on a small tmpfs that another process fills; the spill
file on another file system. Alarms must still be announced, storage shown
failed (``/readyz``, a STORAGE_FAILED alarm), and every alarm transition held
meanwhile must reach SQLite exactly once when space comes back, in the same
run or the next. Needs root for the mount (skipped elsewhere).
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from edge_runtime.demo import CONTROL_ROOM
from edge_runtime.local_broker import free_port
from tests.broker import Mosquitto, Received, Subscriber
from tests.dashboard.harness import signed_in, with_accounts
from tests.e2e.harness import DaemonProcess, SimSite, is_alarm_record, is_alert, payload, topic
from tests.store.tmpfs import Tmpfs, mounted_tmpfs

DISK_BYTES = 16 * 1024 * 1024
Report = dict[str, object]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Tmpfs]:
    with mounted_tmpfs(tmp_path / "disk", DISK_BYTES) as fs:
        yield fs


async def full_disk_site(tmp_path: Path, mosquitto: Mosquitto, disk: Tmpfs) -> tuple[SimSite, DaemonProcess, int]:
    """The h2s-leak site with its database on ``disk`` and its spill file beside the test; the daemon as a child."""
    site = SimSite(tmp_path, mosquitto.port, "h2s_leak.yaml")
    config = await site.start()
    http_port = free_port()
    storage = config.storage.model_copy(update={
        "path": disk.path / "site.db", "spill_path": tmp_path / "spill", "min_free_bytes": 0, "retry_interval_s": 0.5,
    })
    site.config = with_accounts(config.model_copy(update={
        "storage": storage, "http": config.http.model_copy(update={"port": http_port})}))
    return site, DaemonProcess(site.write_config(), tmp_path / "daemon.log"), http_port


async def readyz(port: int, check: Callable[[Report], bool], timeout: float, what: str) -> Report:
    """Poll the daemon's /readyz until ``check`` holds (connection errors while it starts are retried)."""
    deadline = time.monotonic() + timeout
    report: Report = {}
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    report = await response.json()
                    report["status"] = response.status
                if check(report):
                    return report
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last /readyz: {report}")


def storage(report: Report) -> dict[str, object]:
    return report["storage"]  # type: ignore[return-value]


def records(messages: list[Received]) -> list[dict[str, object]]:
    """Every alarm record published, in order (each one is one alarm transition)."""
    return [payload(m) for m in messages if is_alarm_record(lambda r: True)(m)]


def assert_each_stored_once(db: Path, published: list[dict[str, object]]) -> None:
    """Each published record is exactly one transition row (its alarm, time and state), and no transition is
    stored twice."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT alarm_id, ts, cause, to_state FROM transitions").fetchall()
    assert len(rows) == len(set(rows)), "a transition was stored twice"
    for record in published:
        matching = [r for r in rows if r[0] == record["alarm_id"] and r[1] == record["updated_ts"]
                    and r[3] == record["state"]]
        assert len(matching) == 1, (record["alarm_id"], record["kind"], record["state"], matching)


def storage_alarm(m: Received) -> bool:
    return is_alarm_record(lambda r: r["kind"] == "storage_failed")(m)


async def test_a_full_disk_still_alarms_and_every_held_transition_is_stored_once(
    tmp_path: Path, mosquitto: Mosquitto, disk: Tmpfs
) -> None:
    site, daemon, port = await full_disk_site(tmp_path, mosquitto, disk)
    try:
        with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
            daemon.start()
            await readyz(port, lambda r: storage(r)["writable"] is True, 60, "the daemon up, storage writable")
            disk.fill()
            site.play()  # H2S from t=3 s
            alert = await sub.wait_for_async(is_alert("w03", "gas"), timeout=30)  # announced all the same
            failed = await readyz(port, lambda r: storage(r)["writable"] is False, 15, "storage shown failed")
            assert failed["status"] == 503 and failed["checks"]["storage"] is False  # type: ignore[index]
            technical = payload(await sub.wait_for_async(storage_alarm, timeout=10))
            assert technical["subject"] == "device:storage" and technical["condition_active"] is True
            alarm_id = payload(alert)["alarm_id"]
            sub.publish(topic("alarms", str(alarm_id), "ack", CONTROL_ROOM),
                        json.dumps({"note": "crew out", "verdict": "confirmed"}).encode())
            await sub.wait_for_async(lambda m: m.topic == topic("alarms", str(alarm_id)) and bool(m.payload)
                                     and payload(m).get("acked_by") == CONTROL_ROOM, timeout=10)
            held = await readyz(port, lambda r: int(storage(r)["held"]) > 5, 10, "alarm writes held")  # type: ignore[call-overload]
            assert storage(held)["lost"] == 0 and list((tmp_path / "spill").glob("site.db.spill-*.jsonl"))
            async with signed_in(f"http://127.0.0.1:{port}", "vera") as viewer:  # what the live page's banner shows
                status, load = await viewer.get("/api/v1/load")
            assert status == 200 and load["storage"]["writable"] is False and load["storage"]["reason"]

            disk.free()
            await readyz(port, lambda r: storage(r)["writable"] is True and storage(r)["held"] == 0, 30,
                         "storage writable again, nothing held")
            await sub.wait_for_async(lambda m: (storage_alarm(m) and payload(m)["condition_active"] is False)
                                     or (m.topic == topic("alarms", str(technical["alarm_id"])) and not m.payload),
                                     timeout=20)  # the technical alarm clears
            assert daemon.terminate() == 0, daemon.log()  # stopping commits what is left
            published = records(sub.messages)
        db = disk.path / "site.db"
        assert_each_stored_once(db, published)
        with sqlite3.connect(db) as conn:
            verdicts = conn.execute("SELECT verdict, by FROM verdicts WHERE alarm_id = ?", (alarm_id,)).fetchall()
        assert verdicts == [("confirmed", CONTROL_ROOM)]
        assert not list((tmp_path / "spill").glob("*.jsonl"))
    finally:
        if daemon.proc and daemon.proc.poll() is None:
            daemon.kill()
        await site.stop()


async def test_a_restart_on_a_full_disk_starts_alarms_and_replays_the_last_runs_spill_file(
    tmp_path: Path, mosquitto: Mosquitto, disk: Tmpfs
) -> None:
    site, daemon, port = await full_disk_site(tmp_path, mosquitto, disk)
    try:
        daemon.start()  # a first run makes the database, then the disk fills
        await readyz(port, lambda r: storage(r)["writable"] is True, 60, "the first run up")
        assert daemon.terminate() == 0, daemon.log()
        disk.fill()

        with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
            daemon.start()  # restarted on the full disk: it must come up and alarm
            await readyz(port, lambda r: storage(r)["writable"] is False, 60, "up, storage failed")
            site.play()
            await sub.wait_for_async(is_alert("w03", "gas"), timeout=30)
            await sub.wait_for_async(storage_alarm, timeout=10)
            await readyz(port, lambda r: int(storage(r)["held"]) > 5, 10, "alarm writes held")  # type: ignore[call-overload]
            assert daemon.proc is not None and daemon.proc.poll() is None, daemon.log()
            assert daemon.terminate() == 0, daemon.log()
            published = records(sub.messages)
        assert len(list((tmp_path / "spill").glob("site.db.spill-*.jsonl"))) == 1  # left for the next run

        daemon.start()  # and again, still full
        await readyz(port, lambda r: storage(r)["writable"] is False and int(storage(r)["held"]) >= len(published),  # type: ignore[call-overload]
                     60, "up again, storage failed, the last run's writes held")
        disk.free()
        await readyz(port, lambda r: storage(r)["writable"] is True and storage(r)["held"] == 0, 30,
                     "the last run's spill file replayed")
        assert daemon.terminate() == 0, daemon.log()
        assert_each_stored_once(disk.path / "site.db", published)
        assert not list((tmp_path / "spill").glob("*.jsonl"))
    finally:
        if daemon.proc and daemon.proc.poll() is None:
            daemon.kill()
        await site.stop()
