"""What a device is told to run (``GET /v1/devices/{id}/desired``): from its pins and its rollouts.

Per slot, in order: the device's own pin; else the newest rollout it is a
target of: the candidate for a canary while the rollout is in canary, for
every target once promoted (and for those already given it while paused),
the rollout's baseline once it is halted or rolled back (or for a non-canary
target before promotion); else the most specific group pin; else nothing for
that slot. The artifact is picked from the device's hardware profile, and the
package archive is built (once) so its sha256 and size can be given.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from cloud_sync.contract.rollout import SLOTS, DesiredModel, DesiredState, Stage
from cloud_sync.model_registry import ModelNotFound, ModelRegistry
from cloud_sync.registry.devices import Device
from cloud_sync.service.keys import DEVICE_API
from models.package import Artifact

from .archives import PackageArchives
from .artifacts import choose
from .pins import PinStore, pin_for
from .records import Pin
from .states import FINAL, State
from .tables import rollout_devices, rollouts

log = logging.getLogger(__name__)
MAX_HALTED = 50  # halted rollouts named in one desired state, newest first
Membership = Mapping[str, Any]
"""A rollouts row joined with the device's rollout_devices row (its ``stage``)."""


@dataclass(frozen=True, slots=True)
class Choice:
    model: str
    version: str
    stage: Stage
    rollout: Optional[Membership] = None  # the rollout that gives the candidate (None for a pin or a baseline)


def package_url(device_id: str, name: str, version: str) -> str:
    return f"{DEVICE_API}/devices/{device_id}/packages/{name}/{version}"


def memberships(conn: Connection, device_ids: Iterable[str]) -> dict[str, list[Membership]]:
    """Each device's rollouts (joined with its row of each), newest first."""
    query = (select(rollouts, rollout_devices.c.device_id, rollout_devices.c.stage)
             .join(rollout_devices, rollout_devices.c.rollout_id == rollouts.c.id)
             .where(rollout_devices.c.device_id.in_(list(device_ids)))
             .order_by(rollouts.c.created_ts.desc(), rollouts.c.id.desc()))
    out: dict[str, list[Membership]] = {}
    for row in conn.execute(query).mappings():
        out.setdefault(row["device_id"], []).append(dict(row))
    return out


def choose_version(device: Device, slot: str, pins: list[Pin], member_of: list[Membership]) -> Choice | None:
    """The version ``device`` should run in ``slot`` (see the module docstring), or None."""
    pin = pin_for(device, slot, pins)
    if pin is not None and pin.scope == "device":
        return Choice(pin.model, pin.version, "pinned")
    rollout = next((r for r in member_of if r["slot"] == slot), None)
    if rollout is not None:
        state, canary = State(rollout["state"]), rollout["stage"] == "canary"
        given = (state in (State.PROMOTED, State.COMPLETED) or (state is State.CANARY and canary)
                 or (state is State.PAUSED and (canary or rollout["promoted_ts"] is not None)))
        if given:
            stage: Stage = "canary" if canary and rollout["promoted_ts"] is None else "fleet"
            return Choice(rollout["model"], rollout["version"], stage, rollout)
        if rollout["baseline_version"] is not None:
            return Choice(rollout["model"], rollout["baseline_version"], "pinned")
    if pin is not None:
        return Choice(pin.model, pin.version, "pinned")
    return None


class DesiredStates:
    def __init__(self, engine: Engine, registry: ModelRegistry, archives: PackageArchives, pins: PinStore, *,
                 report_interval_s: float, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._registry = registry
        self._archives = archives
        self._pins = pins
        self.report_interval_s = report_interval_s
        self._clock = clock

    def for_device(self, device: Device) -> DesiredState:
        pins = self._pins.list()
        with self._engine.connect() as conn:
            member_of = memberships(conn, [device.id]).get(device.id, [])
        models = {}
        for slot in SLOTS:
            choice = choose_version(device, slot, pins, member_of)
            if choice is not None and (model := self._desired_model(device, choice)) is not None:
                models[slot] = model
        halted = [r["id"] for r in member_of if State(r["state"]) in FINAL][:MAX_HALTED]
        return DesiredState(device=device.id, generated_ts=self._clock(), report_interval_s=self.report_interval_s,
                            models=models, halted=halted)

    def _desired_model(self, device: Device, choice: Choice) -> DesiredModel | None:
        try:
            version = self._registry.get(choice.model, choice.version)
        except ModelNotFound:
            log.warning("device %s: desired %s %s is not registered; its slot is left out", device.id, choice.model,
                        choice.version)
            return None
        artifact = choose([Artifact.model_validate(a) for a in version.manifest["artifacts"]], device.profile)
        archive = self._archives.archive(version.name, version.version, self._registry.package_dir(version))
        rollout = choice.rollout or {}
        return DesiredModel(
            name=version.name, version=version.version, package_sha256=archive.sha256, package_bytes=archive.size,
            url=package_url(device.id, version.name, version.version), artifact=artifact.path,
            rollout_id=rollout.get("id"), stage=choice.stage,
            **{k: rollout[k] for k in ("shadow_s", "watch_s", "latency_budget_ms") if rollout.get(k) is not None})
