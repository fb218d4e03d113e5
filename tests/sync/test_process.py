"""The agent in its own process under the daemon's supervisor: SIGKILLed mid-upload, it resumes from the
last receipt, and the cloud ends up with every row exactly once."""
from __future__ import annotations

import os
import random
import signal
from pathlib import Path

from edge_runtime.store import Store
from edge_runtime.sync.supervisor import SyncSupervisor
from firmware_bridge.backoff import Backoff
from tests.store.conftest import gas, make_alarm, transition

from .cloud_double import CloudDouble
from .conftest import agent_spec, committed_marks, sync_settings, until

READINGS = 16_000


async def test_sigkill_mid_upload_loses_nothing_and_duplicates_nothing(
    store: Store, cloud: CloudDouble, db_path: Path, credential_file: Path
) -> None:
    rng = random.Random(5)
    for i in range(READINGS):
        store.record_observation(gas(device=f"det-{i % 4}", value=rng.random(), ts=1_000.0 + i))
    for i in range(5):
        store.record_transition(transition(make_alarm(f"a{i}")))
    assert store.flush()
    cloud.delay_s = 0.15  # stored, then answered late: a kill lands between the two
    settings = sync_settings(cloud.url, credential_file, max_rows=2_000)
    supervisor = SyncSupervisor(agent_spec(store, settings, db_path), backoff=Backoff(initial=0.1, maximum=0.5))
    await supervisor.start(store.producer_address)
    try:
        await until(lambda: len(cloud.rows["readings"]) >= 4_000 and cloud.in_flight, timeout=20.0,
                    what="an upload in flight")
        killed = supervisor.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        await until(lambda: supervisor.restarts == 1 and supervisor.alive, what="restarted")
        await until(lambda: len(cloud.rows["readings"]) == READINGS, timeout=30.0, what="every reading")
        await until(lambda: supervisor.state is not None and supervisor.state.lanes["bulk"].rows == 0,
                    what="reported empty")
    finally:
        await supervisor.stop(timeout=5.0)
    assert not supervisor.alive and supervisor.pid != killed
    assert cloud.stored(table="readings") == list(range(1, READINGS + 1))
    assert len(cloud.rows["alarms"]) == 5 and len(cloud.rows["transitions"]) == 5
    assert cloud.stored_again == 0  # what went again went as the same ranges: stored once, answered duplicate
    assert committed_marks(db_path)["readings"] == READINGS
