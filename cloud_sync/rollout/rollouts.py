"""Rollouts: created with their targets and canaries fixed, moved by admins, halted by devices, promoted
automatically.

Every state change is one conditional UPDATE (``WHERE state IN (...)``) and
its event in the same transaction, so two replicas (or an admin and a
device's report) racing on a rollout cannot both move it: the loser's UPDATE
matches no row. A target set is fixed at creation: devices registered later
are not in it (start another rollout for them).
"""
from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from cloud_sync.model_registry import ModelNotFound, ModelRegistry
from cloud_sync.registry.devices import Device, DeviceRegistry
from cloud_sync.registry.errors import Conflict, NotFound

from .canary import pick_canaries
from .desired import choose_version, memberships
from .pins import PinStore
from .records import Progress, Rollout, RolloutDetail, RolloutDevice, RolloutEvent, RolloutIn
from .states import ACTIONS, HALTABLE, LIVE, State
from .tables import rollout_devices, rollout_events, rollouts

TASKS = {"camera": ("detection", "classification"), "risk": ("risk",)}
LIST_LIMIT = 200
AUTO = "auto"


class RolloutStore:
    def __init__(self, engine: Engine, devices: DeviceRegistry, registry: ModelRegistry, pins: PinStore, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._devices = devices
        self._registry = registry
        self._pins = pins
        self._clock = clock

    # -- creating and reading

    def create(self, spec: RolloutIn, by: str) -> RolloutDetail:
        """Starts ``spec``: Conflict when it targets no device, a device of a live rollout of the slot, or a
        version of the wrong task; NotFound for a version not registered."""
        self.check_version(spec.slot, spec.model, spec.version)
        if spec.baseline_version is not None:
            self.check_version(spec.slot, spec.model, spec.baseline_version)
        pins = self._pins.list()
        pinned = {p.key for p in pins if p.slot == spec.slot and p.scope == "device"}
        targets = [d for d in self._devices.list() if d.decommissioned_ts is None and d.id not in pinned
                   and spec.target.matches(d)]
        if not targets:
            raise Conflict("no live device matches the target (devices pinned for the slot are left out)")
        now, rollout_id = self._clock(), "ro-" + secrets.token_hex(6)
        if strangers := set(spec.canaries) - {d.id for d in targets}:
            raise Conflict(f"canaries {', '.join(sorted(strangers))} are not targets of this rollout")
        canaries = pick_canaries(spec.model, spec.version, targets, spec.canary_share, spec.canaries)
        with self._engine.begin() as conn:
            member_of = memberships(conn, [d.id for d in targets])
            _refuse_overlap(spec.slot, targets, member_of)
            baseline = spec.baseline_version or _baseline(spec, targets, pins, member_of)
            if baseline == spec.version:
                raise Conflict(f"the targets run {spec.version} already: nothing to roll out")
            conn.execute(insert(rollouts).values(
                id=rollout_id, **spec.model_dump(mode="json", exclude={"baseline_version", "canaries"}), baseline_version=baseline,
                state=State.CANARY.value, reason=None, created_by=by, created_ts=now, updated_ts=now, promoted_ts=None))
            conn.execute(insert(rollout_devices), [
                {"rollout_id": rollout_id, "device_id": d.id, "device_type": d.device_type,
                 "stage": "canary" if d.id in canaries else "fleet", "confirmed": 0} for d in targets])
            _event(conn, rollout_id, now, "created", by,
                   reason=f"{len(targets)} targets, {len(canaries)} canaries, baseline {baseline or 'none'}")
        return self.get(rollout_id)

    def get(self, rollout_id: str) -> RolloutDetail:
        with self._engine.connect() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).mappings().first()
            if row is None:
                raise NotFound(f"no rollout {rollout_id!r}")
            devices = _device_rows(conn, [rollout_id]).get(rollout_id, [])
            events = [RolloutEvent.model_validate(dict(e)) for e in conn.execute(
                select(rollout_events).where(rollout_events.c.rollout_id == rollout_id)
                .order_by(rollout_events.c.id)).mappings()]
        summary = _summary(row, devices, self._clock())
        return RolloutDetail(**summary.model_dump(), devices=devices, events=events)

    def list(self, limit: int = LIST_LIMIT) -> list[Rollout]:
        """The newest ``limit`` rollouts, newest first."""
        with self._engine.connect() as conn:
            rows = list(conn.execute(select(rollouts).order_by(rollouts.c.created_ts.desc(), rollouts.c.id.desc())
                                     .limit(limit)).mappings())
            devices = _device_rows(conn, [r["id"] for r in rows])
        now = self._clock()
        return [_summary(r, devices.get(r["id"], []), now) for r in rows]

    # -- changes

    def act(self, rollout_id: str, action: str, by: str, reason: str | None = None) -> RolloutDetail:
        """An admin's promote, pause, resume or rollback; Conflict from a state the action cannot start from."""
        now = self._clock()
        with self._engine.begin() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).mappings().first()
            if row is None:
                raise NotFound(f"no rollout {rollout_id!r}")
            target = {"promote": State.PROMOTED, "pause": State.PAUSED, "rollback": State.ROLLED_BACK,
                      "resume": State.PROMOTED if row["promoted_ts"] is not None else State.CANARY}[action]
            values: dict[str, Any] = {"state": target.value, "updated_ts": now}
            if action == "promote":
                values["promoted_ts"] = now
            if action in ("pause", "rollback"):
                values["reason"] = reason
            if not _move(conn, rollout_id, ACTIONS[action], values):
                raise Conflict(f"rollout {rollout_id} is {row['state']}: it cannot {action}")
            kind = {"promote": "promoted", "pause": "paused", "resume": "resumed", "rollback": "rolled_back"}[action]
            _event(conn, rollout_id, now, kind, by, reason=reason)
        return self.get(rollout_id)

    def halt(self, conn: Connection, rollout_id: str, device_id: str, reason: str) -> bool:
        """Halts the rollout fleet-wide on a device's rollback report; False when it was not haltable (halted
        already: only the first report halts it)."""
        now = self._clock()
        said = f"device {device_id} rolled back: {reason}"
        if not _move(conn, rollout_id, HALTABLE, {"state": State.HALTED.value, "reason": said, "updated_ts": now}):
            return False
        _event(conn, rollout_id, now, "halted", f"device:{device_id}", device_id=device_id, reason=reason)
        return True

    def advance(self, conn: Connection, rollout_id: str) -> str | None:
        """Promotes a healthy canary or completes a promoted rollout every target runs; the event kind or None."""
        row = conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).mappings().first()
        if row is None or row["state"] not in (State.CANARY.value, State.PROMOTED.value):
            return None
        now = self._clock()
        progress = _progress(row, _device_rows(conn, [rollout_id]).get(rollout_id, []), now)
        if row["state"] == State.CANARY.value and _ready(progress, row):
            if _move(conn, rollout_id, (State.CANARY,), {"state": State.PROMOTED.value, "promoted_ts": now,
                                                        "updated_ts": now}):
                _event(conn, rollout_id, now, "promoted", AUTO, reason=(
                    f"{progress.canary_healthy} canaries ran it for {row['healthy_period_s']:g} s and saw "
                    f"{progress.confirmed} confirmed alarms (at least {row['min_confirmed_alarms']})"))
                return "promoted"
        elif row["state"] == State.PROMOTED.value and progress.targets_active == progress.targets:
            if _move(conn, rollout_id, (State.PROMOTED,), {"state": State.COMPLETED.value, "updated_ts": now}):
                _event(conn, rollout_id, now, "completed", AUTO, reason=f"all {progress.targets} targets run it")
                return "completed"
        return None

    def check_version(self, slot: str, model: str, version: str) -> None:
        """NotFound for a version not registered, Conflict for one whose task the slot does not run."""
        try:
            found = self._registry.get(model, version)
        except ModelNotFound as exc:
            raise NotFound(str(exc)) from None
        if found.task not in TASKS[slot]:
            raise Conflict(f"{model} is a {found.task} model: it cannot run in the {slot} slot")


def _move(conn: Connection, rollout_id: str, start: Sequence[State], values: Mapping[str, Any]) -> bool:
    moved = conn.execute(update(rollouts).where(rollouts.c.id == rollout_id,
                                                rollouts.c.state.in_([s.value for s in start])).values(**values))
    return moved.rowcount == 1


def _event(conn: Connection, rollout_id: str, ts: float, kind: str, by: str, *, device_id: str | None = None,
           reason: str | None = None) -> None:
    conn.execute(insert(rollout_events).values(rollout_id=rollout_id, ts=ts, kind=kind, by=by, device_id=device_id,
                                               reason=reason))


def _refuse_overlap(slot: str, targets: list[Device], member_of: Mapping[str, list[Mapping[str, Any]]]) -> None:
    held: dict[str, list[str]] = {}
    for device in targets:
        for r in member_of.get(device.id, []):
            if r["slot"] == slot and State(r["state"]) in LIVE:
                held.setdefault(r["id"], []).append(device.id)
    if held:
        named = "; ".join(f"{rid} ({', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''})" for rid, ids in held.items())
        raise Conflict(f"targets are in a live rollout of the {slot} slot: {named}; finish, pause-and-roll-back "
                       "or promote it first")


def _baseline(spec: RolloutIn, targets: list[Device], pins: list[Any],
              member_of: Mapping[str, list[Mapping[str, Any]]]) -> str | None:
    """What most targets are desired to run now in the slot (of this model), or None."""
    now = Counter()
    for device in targets:
        choice = choose_version(device, spec.slot, pins, member_of.get(device.id, []))
        if choice is not None and choice.model == spec.model:
            now[choice.version] += 1
    return min(now, key=lambda v: (-now[v], v)) if now else None


def _device_rows(conn: Connection, ids: list[str]) -> dict[str, list[RolloutDevice]]:
    out: dict[str, list[RolloutDevice]] = {}
    if not ids:
        return out
    query = (select(rollout_devices).where(rollout_devices.c.rollout_id.in_(ids))
             .order_by(rollout_devices.c.rollout_id, rollout_devices.c.stage, rollout_devices.c.device_id))
    for row in conn.execute(query).mappings():
        out.setdefault(row["rollout_id"], []).append(RolloutDevice.model_validate(dict(row)))
    return out


def _progress(row: Mapping[str, Any], devices: list[RolloutDevice], now: float) -> Progress:
    canaries = [d for d in devices if d.stage == "canary"]
    active = [d for d in canaries if d.activated_ts is not None]
    period = row["healthy_period_s"]
    remaining = (max(0.0, max(period - (now - d.activated_ts) for d in active))  # type: ignore[operator]
                 if canaries and len(active) == len(canaries) else None)
    return Progress(
        canary_total=len(canaries), canary_active=len(active),
        canary_healthy=sum(1 for d in active if now - d.activated_ts >= period),  # type: ignore[operator]
        confirmed=sum(d.confirmed for d in active), min_confirmed_alarms=row["min_confirmed_alarms"],
        remaining_s=remaining, targets=len(devices),
        targets_active=sum(1 for d in devices if d.activated_ts is not None))


def _ready(progress: Progress, row: Mapping[str, Any]) -> bool:
    return (progress.canary_total > 0 and progress.canary_healthy == progress.canary_total
            and progress.confirmed >= row["min_confirmed_alarms"])


def _summary(row: Mapping[str, Any], devices: list[RolloutDevice], now: float) -> Rollout:
    return Rollout.model_validate({**dict(row), "canary_devices": [d.device_id for d in devices if d.stage == "canary"],
                                   "progress": _progress(row, devices, now)})

