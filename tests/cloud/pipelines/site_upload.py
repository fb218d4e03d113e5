"""A generated site's history, sent to the cloud like its edge devices send it: registered devices, a
heartbeat with the roster, and signed batches of alarms, verdicts and readings through the real ingest."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloud_sync.contract import batch
from cloud_sync.contract.batch import Chunk
from cloud_sync.contract.signing import DeviceCredential
from cloud_sync.contract.tables import table
from models.risk.synthetic import SyntheticSite
from tests.cloud.test_service_harness import PROFILE, Cloud, DeviceClient

READINGS_PER_BATCH = 20_000


@dataclass
class Fleet:
    """The generated site's edge devices as the cloud knows them, and the next edge id of each table."""

    clients: dict[str, DeviceClient] = field(default_factory=dict)
    next_ids: dict[str, dict[str, int]] = field(default_factory=dict)


async def upload(cloud: Cloud, site: SyntheticSite, fleet: Fleet | None = None) -> Fleet:
    """Sends ``site`` (registering its devices unless ``fleet`` knows them already, as when sending more)."""
    fleet = fleet or Fleet()
    for device_id, origin in site.site_of.items():
        if device_id not in fleet.clients:
            got = await cloud.admin().call("POST", "/devices", {"id": device_id, "site": origin.site,
                                                                "name": device_id, "device_type": origin.device_type,
                                                                "profile": PROFILE})
            assert got.status == 201, got
            fleet.clients[device_id] = DeviceClient(cloud.http, DeviceCredential.parse(got.body["credential"]["credential"]))
        client = fleet.clients[device_id]
        beat = {"ts": time.time(), "interval_s": 30, "roster": site.roster}
        assert (await client.post("heartbeat", json.dumps(beat).encode())).status == 200
        ids = fleet.next_ids.setdefault(device_id, {})
        for name, rows in (("alarms", [a for a in site.alarms if a["device_id"] == device_id]),
                           ("verdicts", [v for v in site.verdicts if v["device_id"] == device_id])):
            if rows:
                await _send(client, device_id, name, rows, ids)
        mine = np.flatnonzero(site.readings["device_id"] == device_id)
        for start in range(0, len(mine), READINGS_PER_BATCH):
            part = mine[start:start + READINGS_PER_BATCH]
            rows = [{k: _plain(site.readings[k][i]) for k in ("device", "kind", "ts", "v1", "v2", "v3")} | {"extra": None}
                    for i in part]
            await _send(client, device_id, "readings", rows, ids)
    return fleet


async def _send(client: DeviceClient, device_id: str, name: str, rows: list[dict[str, Any]],
                ids: dict[str, int]) -> None:
    spec = table(name)
    first = ids.get(name, 1)
    edge_ids = list(range(first, first + len(rows)))
    columns = {c: [r.get(c) for r in rows] for c in spec.columns}
    body = batch.encode(device_id, [Chunk(name, edge_ids[0], edge_ids[-1], edge_ids, columns)], time.time())
    got = await client.batch(body)
    assert got.status == 200, got
    ids[name] = first + len(rows)


def _plain(value: Any) -> Any:
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    return value.item() if isinstance(value, np.generic) else value
