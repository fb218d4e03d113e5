"""Device update reports (``POST /v1/devices/{id}/report``): kept, counted toward promotion, and the
first rollback report of a rollout halts it fleet-wide.

One transaction per report: the device's latest report is replaced, its row
of each rollout it is in is updated from the slot it reports (the candidate
counts as active from the first report that shows it active, by the server's
clock, and its confirmed alarms are those since the switch), a
``rolled_back`` event (or a slot reported ``rolled_back`` for the rollout)
halts the rollout at once, and the rollouts it touched are promoted or
completed when ready. From then on every target's desired state gives the
baseline back, so each device learns of the halt at its next poll, within
one report interval. A device halts only rollouts it is a target of. The
active models then go to the model registry's "what ran where" record.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from cloud_sync.contract.rollout import SLOTS, DeviceReport, ReportAck, SlotReport, UpdateEvent
from cloud_sync.model_registry import ModelRegistry
from cloud_sync.registry.devices import Device

from .desired import Membership, memberships
from .rollouts import RolloutStore
from .tables import device_reports, rollout_devices

NOT_RUNNING = ("rolled_back", "refused")
HALTING = ("rolled_back", "shadow_failed")
"""Events that halt the rollout: the device undid the candidate, or would not switch to it because it did worse
than the active model beside it (either way the candidate misbehaves on real frames; a refused package is
the download's or the package's fault, shown per device, and halts nothing)."""


class Reports:
    def __init__(self, engine: Engine, store: RolloutStore, registry: ModelRegistry, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._store = store
        self._registry = registry
        self._clock = clock

    def accept(self, device: Device, report: DeviceReport) -> ReportAck:
        now = self._clock()
        halted: list[str] = []
        with self._engine.begin() as conn:
            self._keep(conn, device.id, report, now)
            member_of = memberships(conn, [device.id]).get(device.id, [])
            touched = self._slots(conn, device.id, report, member_of, now, halted)
            for event in report.events:
                rollout = _rollout_of(event, member_of) if event.kind in HALTING else None
                if rollout is not None:
                    self._halt(conn, rollout["id"], device.id, event.reason or event.kind.replace("_", " "), halted)
            for rollout_id in touched:
                if rollout_id not in halted:
                    self._store.advance(conn, rollout_id)
        self._record_activity(device.id, report, now)
        return ReportAck(server_ts=now, halted=halted)

    def _slots(self, conn: Connection, device_id: str, report: DeviceReport, member_of: list[Membership], now: float,
               halted: list[str]) -> list[str]:
        """Each reported slot into the device's row of its newest rollout; the rollouts touched."""
        touched: list[str] = []
        for slot, slot_report in report.slots.items():
            rollout = next((r for r in member_of if r["slot"] == slot), None) if slot in SLOTS else None
            if rollout is None:
                continue  # no rollout of this slot for the device, or a newer edge's slot
            _update_row(conn, rollout, device_id, slot_report, now)
            touched.append(rollout["id"])
            if slot_report.state == "rolled_back" and slot_report.rollout_id == rollout["id"]:
                self._halt(conn, rollout["id"], device_id, slot_report.reason or "rolled back", halted)
        return touched

    def latest(self, device_id: str) -> tuple[DeviceReport, float] | None:
        """The device's latest report and when it arrived (server time), or None."""
        with self._engine.connect() as conn:
            row = conn.execute(select(device_reports).where(device_reports.c.device_id == device_id)).mappings().first()
        return None if row is None else (DeviceReport.model_validate(row["body"]), row["received_ts"])

    def _halt(self, conn: Connection, rollout_id: str, device_id: str, reason: str, halted: list[str]) -> None:
        """Keeps why the device undid the candidate; halts the rollout if this is its first such report."""
        conn.execute(update(rollout_devices).where(rollout_devices.c.rollout_id == rollout_id,
                                                   rollout_devices.c.device_id == device_id)
                     .values(rolled_back_reason=reason))
        if rollout_id not in halted and self._store.halt(conn, rollout_id, device_id, reason):
            halted.append(rollout_id)

    def _keep(self, conn: Connection, device_id: str, report: DeviceReport, now: float) -> None:
        row = {"device_id": device_id, "received_ts": now, "ts": report.ts, "interval_s": report.interval_s,
               "body": report.model_dump(mode="json")}
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(device_reports)
        conn.execute(insert.values(row).on_conflict_do_update(
            index_elements=[device_reports.c.device_id], set_={k: row[k] for k in row if k != "device_id"}))

    def _record_activity(self, device_id: str, report: DeviceReport, now: float) -> None:
        """Each reported slot's active model into the activity record, leaving the device's other slots (a
        heartbeat's camera ids) as they are; from the device's switch time where it gives one."""
        models: dict[str, Mapping[str, Any]] = {
            slot: {"name": row.name, "version": row.version, "sha256": row.sha256}
            for slot, row in self._registry.activity.latest(device_id).items() if row.name is not None}
        for slot, slot_report in sorted(report.slots.items()):
            if slot not in SLOTS:
                continue
            if slot_report.active is not None:
                models[slot] = slot_report.active.model_dump()
            else:
                models.pop(slot, None)
            self._registry.record_activity(device_id, dict(models), now, from_ts=slot_report.since_ts or report.ts)


def _update_row(conn: Connection, rollout: Membership, device_id: str, slot: SlotReport, now: float) -> None:
    """The device's row of ``rollout`` from its slot report: state, active version, since when, confirmed."""
    active = slot.active
    candidate = (active is not None and active.name == rollout["model"] and active.version == rollout["version"]
                 and slot.state not in NOT_RUNNING)
    where = (rollout_devices.c.rollout_id == rollout["id"], rollout_devices.c.device_id == device_id)
    since = conn.execute(select(rollout_devices.c.activated_ts).where(*where)).scalar()
    conn.execute(update(rollout_devices).where(*where).values(
        state=slot.state, active_version=active.version if active is not None else None,
        activated_ts=(since if since is not None else now) if candidate else None,
        confirmed=slot.performance.confirmed if candidate else 0, reported_ts=now))


def _rollout_of(event: UpdateEvent, member_of: list[Membership]) -> Membership | None:
    """The rollout a rollback event is about: the one it names, else the device's of that slot and version."""
    for r in member_of:
        if event.rollout_id is not None:
            if r["id"] == event.rollout_id:
                return r
        elif r["slot"] == event.slot and r["model"] == event.model.name and r["version"] == event.model.version:
            return r
    return None
