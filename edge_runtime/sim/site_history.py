"""A generated site's history (:func:`models.risk.synthetic.generate_site`) sent to a cloud the way its edge
devices send it: each device registered through the admin API, a heartbeat with the site's roster, then signed
batches of alarms, verdicts and readings through the real ingest, with the edge's own :class:`CloudClient`.

For the trainer's tests and benchmarks, where a cloud needs a site's synced rows and the rows must arrive
through the same path (signatures, batch decoding, ingest checks) as in production. Sending more of a site
later (e.g. a last batch of verdicts) goes through the same :class:`Fleet`, so edge ids keep counting up.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from cloud_sync.contract import batch
from cloud_sync.contract.batch import Chunk
from cloud_sync.contract.signing import DeviceCredential
from cloud_sync.contract.tables import table
from edge_runtime.sync.client import Accepted, CloudClient, Outcome
from models.risk.synthetic import SyntheticSite

ADMIN_API = "/api/v1"
READINGS_PER_BATCH = 20_000
TIMEOUT_S = 60.0  # one request, a 20,000-reading batch included


class UploadError(RuntimeError):
    """The cloud refused a registration, a heartbeat or a batch (its answer is in the message)."""


@dataclass
class Fleet:
    """The site's edge devices as the cloud knows them, and the next edge id of each of their tables."""

    clients: dict[str, CloudClient] = field(default_factory=dict)
    next_ids: dict[str, dict[str, int]] = field(default_factory=dict)


async def upload(http: aiohttp.ClientSession, base_url: str, admin_token: str, site: SyntheticSite,
                 profile: Mapping[str, Any], fleet: Fleet | None = None) -> Fleet:
    """Sends ``site``, registering its devices (with hardware ``profile``) unless ``fleet`` knows them already."""
    fleet = fleet or Fleet()
    for device_id, origin in site.site_of.items():
        if device_id not in fleet.clients:
            credential = await _register(http, base_url, admin_token, device_id, origin.site, origin.device_type,
                                         profile)
            fleet.clients[device_id] = CloudClient(http, base_url, credential, timeout_s=TIMEOUT_S, clock=time.time)
        client = fleet.clients[device_id]
        _check(device_id, "heartbeat", await client.post_heartbeat({"ts": time.time(), "interval_s": 30,
                                                                     "roster": site.roster}))
        ids = fleet.next_ids.setdefault(device_id, {})
        for name, rows in (("alarms", [a for a in site.alarms if a["device_id"] == device_id]),
                           ("verdicts", [v for v in site.verdicts if v["device_id"] == device_id])):
            if rows:
                await _send(client, device_id, name, rows, ids)
        mine = np.flatnonzero(site.readings["device_id"] == device_id)
        for start in range(0, len(mine), READINGS_PER_BATCH):
            part = mine[start:start + READINGS_PER_BATCH]
            rows = [{k: _plain(site.readings[k][i]) for k in ("device", "kind", "ts", "v1", "v2", "v3")}
                    | {"extra": None} for i in part]
            await _send(client, device_id, "readings", rows, ids)
    return fleet


async def _register(http: aiohttp.ClientSession, base_url: str, admin_token: str, device_id: str, site: str,
                    device_type: str, profile: Mapping[str, Any]) -> DeviceCredential:
    body = {"id": device_id, "site": site, "name": device_id, "device_type": device_type, "profile": dict(profile)}
    async with http.post(f"{base_url.rstrip('/')}{ADMIN_API}/devices", json=body,
                         headers={"Authorization": f"Bearer {admin_token}"},
                         timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as r:
        text = await r.text()
        if r.status != 201:
            raise UploadError(f"registering device {device_id}: {r.status} {text[:300]}")
        return DeviceCredential.parse((await r.json())["credential"]["credential"])


async def _send(client: CloudClient, device_id: str, name: str, rows: list[dict[str, Any]],
                ids: dict[str, int]) -> None:
    spec = table(name)
    first = ids.get(name, 1)
    edge_ids = list(range(first, first + len(rows)))
    columns = {c: [r.get(c) for r in rows] for c in spec.columns}
    body = batch.encode(device_id, [Chunk(name, edge_ids[0], edge_ids[-1], edge_ids, columns)], time.time())
    _check(device_id, f"{len(rows)} {name}", await client.post_batch(body))
    ids[name] = first + len(rows)


def _check(device_id: str, what: str, outcome: Outcome) -> None:
    if not isinstance(outcome, Accepted):
        raise UploadError(f"device {device_id}: {what} refused: {outcome}")


def _plain(value: Any) -> Any:
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    return value.item() if isinstance(value, np.generic) else value
