"""A week without the cloud, time-compressed: the agent's clock (and the cloud's) runs a simulated week
while the store takes a week of readings and alarms under a small disk budget; then the uplink returns."""
from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from edge_runtime.alarms.model import AlarmState, TransitionCause, Verdict
from edge_runtime.store import Store
from tests.store.conftest import gas, make_alarm, transition

from .cloud_double import CloudDouble
from .conftest import agent_spec, running, sync_settings, until

DAY = 86_400.0
BUDGET = 3 * 1024 * 1024
CONTEXT_S = 300.0
DEVICES = 4
PERIOD_S = 30.0  # each detector reports every 30 simulated seconds
ALARM_EVERY_S = 6 * 3600.0


async def test_a_week_offline_within_the_budget_loses_no_event(
    make_store: Callable[..., Store], cloud: CloudDouble, db_path: Path, credential_file: Path
) -> None:
    store = make_store(max_bytes=BUDGET, min_free_bytes=0, batch_size=500, alarm_context_s=CONTEXT_S)
    start = time.time() - 7 * DAY
    offset = [start - time.time()]
    clock = lambda: time.time() + offset[0]  # noqa: E731
    cloud.clock = clock
    cloud.down = True
    raised: list[float] = []
    sizes: list[int] = []
    settings = sync_settings(cloud.url, credential_file, open_s=0.3)
    async with running(agent_spec(store, settings, db_path), clock=clock) as agent:
        for day in range(7):
            for step in range(int(DAY / PERIOD_S)):
                ts = start + day * DAY + step * PERIOD_S
                for device in range(DEVICES):
                    store.record_observation(gas(device=f"det-{device}", value=float(step % 50), ts=ts))
                if step % int(ALARM_EVERY_S / PERIOD_S) == 100:
                    raise_label_close(store, f"a{len(raised)}", ts)
                    raised.append(ts)
                if step % 500 == 0:
                    assert store.flush(10.0)  # the budget keeps up, step by step
                    await asyncio.sleep(0.005)  # and the agent, on this loop, tries the cloud
            offset[0] = start + (day + 1) * DAY - time.time()
            sizes.append(database_bytes(db_path))
        assert store.flush(10.0) and not any(cloud.rows.values())
        offline = agent.state()
        assert offline.failures > 0 and offline.last_error is not None and offline.last_success_ts is None
        cloud.down = False  # the uplink is back
        kept = store.readings_count()
        await until(lambda: len(cloud.rows["readings"]) == kept and len(cloud.rows["transitions"]) == 3 * len(raised),
                    timeout=30.0, what="drained")
    stats = store.stats
    assert max(sizes) <= BUDGET * 1.1, sizes
    assert stats.thinned > 0 and stats.evicted_unsynced == 0
    # every event, exactly once; every alarm in its final state
    assert len(raised) == 28
    assert len(cloud.rows["transitions"]) == 84 and len(cloud.rows["verdicts"]) == 28 and cloud.stored_again == 0
    latest = {}
    for edge_id in sorted(cloud.rows["alarms"]):
        latest[cloud.rows["alarms"][edge_id]["alarm_id"]] = cloud.rows["alarms"][edge_id]
    assert len(latest) == 28 and all(a["state"] == "normal" and a["verdict"] == "confirmed" for a in latest.values())
    # every reading around an alarm is in the cloud, thinned ones aside elsewhere
    readings = [(r["device"], r["ts"]) for r in cloud.rows["readings"].values()]
    context = {(d, ts) for d, ts in readings if any(abs(ts - r) <= CONTEXT_S for r in raised)}
    expected = sum(1 for r in raised for k in range(-10, 11) if start <= r + k * PERIOD_S) * DEVICES
    assert len(context) == expected
    assert len(readings) < 7 * DAY / PERIOD_S * DEVICES  # the rest was thinned


def database_bytes(path: Path) -> int:
    """The database's pages, committed ones in the WAL included (the WAL file itself is bounded apart)."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0])


def raise_label_close(store: Store, alarm_id: str, ts: float) -> None:
    alarm = make_alarm(alarm_id, raised_ts=ts, updated_ts=ts)
    store.record_transition(transition(alarm))
    acked = make_alarm(alarm_id, raised_ts=ts, updated_ts=ts + 60, state=AlarmState.ACKED, verdict=Verdict.CONFIRMED)
    store.record_transition(transition(acked, TransitionCause.VERDICT, AlarmState.UNACK, by="sup"))
    closed = make_alarm(alarm_id, raised_ts=ts, updated_ts=ts + 120, state=AlarmState.NORMAL,
                        verdict=Verdict.CONFIRMED)
    store.record_transition(transition(closed, TransitionCause.CLOSED, AlarmState.ACKED))
