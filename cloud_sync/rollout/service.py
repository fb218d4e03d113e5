"""The rollout parts of one service, built on its engine, device registry and model registry.

``SITEGUARD_REPORT_INTERVAL_S`` sets how often devices are told to report
(and so to poll: a halt reaches every device within one interval).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import Engine, select

from cloud_sync.contract.rollout import REPORT_INTERVAL_ENV
from cloud_sync.model_registry import ModelRegistry
from cloud_sync.model_registry.tables import model_activity
from cloud_sync.registry.devices import Device, DeviceRegistry

from .archives import Archive, PackageArchives
from .desired import DesiredStates, memberships
from .pins import PinStore
from .records import ActivityEntry, DeviceRollout, DeviceUpdates
from .reports import Reports
from .rollouts import RolloutStore
from .tables import rollout_devices

DEFAULT_REPORT_INTERVAL_S = 30.0
ACTIVITY_LIMIT = 100


class NotAllowed(Exception):
    """A device asking for a package it is neither desired to run nor ran."""


@dataclass(frozen=True)
class RolloutService:
    engine: Engine
    devices: DeviceRegistry
    registry: ModelRegistry
    pins: PinStore
    store: RolloutStore
    desired: DesiredStates
    reports: Reports
    archives: PackageArchives

    @classmethod
    def build(cls, engine: Engine, devices: DeviceRegistry, registry: ModelRegistry, *,
              environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time) -> RolloutService:
        env = os.environ if environ is None else environ
        interval = float(env.get(REPORT_INTERVAL_ENV) or DEFAULT_REPORT_INTERVAL_S)
        if not interval > 0:
            raise ValueError(f"{REPORT_INTERVAL_ENV}={interval}: want a positive number of seconds")
        pins = PinStore(engine, clock=clock)
        archives = PackageArchives(registry.store.root)
        store = RolloutStore(engine, devices, registry, pins, clock=clock)
        return cls(engine, devices, registry, pins, store,
                   DesiredStates(engine, registry, archives, pins, report_interval_s=interval, clock=clock),
                   Reports(engine, store, registry, clock=clock), archives)

    def package_for(self, device: Device, name: str, version: str) -> Archive:
        """The archive of a version ``device`` is desired to run or ran; NotAllowed for any other."""
        desired = self.desired.for_device(device).models.values()
        if not any(m.name == name and m.version == version for m in desired) and not self._ran(device.id, name,
                                                                                              version):
            raise NotAllowed(f"device {device.id} is not desired to run {name} {version} and never ran it")
        found = self.registry.get(name, version)
        return self.archives.archive(name, version, self.registry.package_dir(found))

    def updates(self, device_id: str) -> DeviceUpdates:
        """One device's update state for the console: desired, latest report, its rollouts, what it ran."""
        device = self.devices.get(device_id)
        latest = self.reports.latest(device_id)
        with self.engine.connect() as conn:
            member_of = memberships(conn, [device_id]).get(device_id, [])
            rows = {r["rollout_id"]: dict(r) for r in conn.execute(
                select(rollout_devices).where(rollout_devices.c.device_id == device_id)).mappings()}
            activity = [ActivityEntry.model_validate(dict(r)) for r in conn.execute(
                select(model_activity).where(model_activity.c.device_id == device_id)
                .order_by(model_activity.c.from_ts.desc(), model_activity.c.seq.desc()).limit(ACTIVITY_LIMIT))
                .mappings()]
        rollouts = [DeviceRollout.model_validate({**rows[r["id"]], "rollout_id": r["id"], "slot": r["slot"],
                                                  "model": r["model"], "version": r["version"],
                                                  "rollout_state": r["state"]}) for r in member_of]
        return DeviceUpdates(device_id=device_id, desired=self.desired.for_device(device),
                             report=latest[0] if latest else None, report_received_ts=latest[1] if latest else None,
                             rollouts=rollouts, activity=activity)

    def _ran(self, device_id: str, name: str, version: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(model_activity.c.id).where(
                model_activity.c.device_id == device_id, model_activity.c.name == name,
                model_activity.c.version == version).limit(1)).first() is not None


ROLLOUTS = web.AppKey("rollouts", RolloutService)
