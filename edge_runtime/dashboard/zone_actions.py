"""Supervisors' zone actions from the dashboard: run, record, announce.

What an action does to the alarms is :class:`edge_runtime.alarms.zone_actions.ZoneAlarmActions`;
here each action is then recorded in ``zone_actions`` (through the store's
table) with who, when and why, and published on the bus as a
:class:`ZoneActionEvent` for live pages. The alarm transitions it causes carry
the actor's channel too (zone actions come from the dashboard only).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge_runtime.alarms.model import Actor
from edge_runtime.alarms.zone_actions import ZoneActionError, ZoneAlarmActions
from edge_runtime.store import StoreError
from edge_runtime.store.zone_actions_table import ZoneActionsTable

from .schemas import ZoneActionList, ZoneActionName, ZoneActionOut

if TYPE_CHECKING:
    from .runtime import DashboardRuntime

log = logging.getLogger(__name__)


class ZoneActionNotRecorded(ZoneActionError):
    """The action was carried out, but writing it to the database failed."""


@dataclass(frozen=True, slots=True)
class ZoneActionEvent:
    """Published on the daemon's bus after every zone action, so live pages show it."""

    action: ZoneActionOut


class ZoneActions:
    """Runs zone actions on the daemon's alarm engine and keeps their log in SQLite."""

    def __init__(self, daemon: DashboardRuntime, db_path: Path) -> None:
        self._daemon = daemon
        self._alarms = ZoneAlarmActions(daemon.alarms, daemon.config.zones, daemon.fusion.zone_occupants)
        self._table = ZoneActionsTable(db_path)

    async def run(self, zone: str, action: ZoneActionName, actor: Actor, note: str | None = None) -> ZoneActionOut:
        """Carry out ``action`` on ``zone`` as ``actor``; raises UnknownZone, ZoneActionRefused, ZoneActionNotRecorded.

        The engine part runs on the loop (it is the alarm path and takes
        microseconds), so checking the zone's state and acting on it cannot
        interleave with another request.
        """
        target = self._alarms.zone(zone)
        ts = self._daemon.clock()
        outcome = self._alarms.run(target, action, actor, note, ts)
        by = actor.identity
        try:
            action_id = await asyncio.to_thread(self._table.insert, zone, action, by, ts, note, outcome.alarm_id)
        except StoreError as exc:
            log.error("zone action %s on %s by %s not recorded: %s", action, zone, by, exc)
            raise ZoneActionNotRecorded(f"{action} on zone {zone} was carried out but not recorded: {exc}") from exc
        out = ZoneActionOut(
            id=action_id, zone=zone, action=action, by=by, ts=ts, note=note, alarm_id=outcome.alarm_id,
            muted=outcome.muted, siren_alarms=[a.alarm_id for a in self._alarms.sounding(zone, ts)],
        )
        self._daemon.bus.publish(ZoneActionEvent(out))
        return out

    async def list(self, since: float, until: float, zone: str | None = None, limit: int = 500) -> ZoneActionList:
        """Actions in [since, until), newest first."""
        rows = await asyncio.to_thread(self._table.select, since, until, zone, limit)
        return ZoneActionList(actions=[ZoneActionOut.model_validate(r) for r in rows])

    def close(self) -> None:
        self._table.close()
