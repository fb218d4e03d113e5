"""The edge daemon: sensors -> fusion -> alarm engine -> notifiers, with storage.

One asyncio loop carries the alarm path as plain calls (see bus.py): a frame's
last byte, its decode, the fusion rule, the alarm transition and the MQTT
publish all happen in the same loop iteration. SQLite writes go to the store's
writer thread; transitions are committed at once so nothing announced is lost.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from edge_runtime.alarms.engine import AlarmEngine, UnknownAlarm
from edge_runtime.alarms.model import Actor, Alarm, AlarmTransition, Channel, ConditionUpdate, PreAlarm
from edge_runtime.alarms.rules import can_acknowledge
from edge_runtime.bus import Bus
from edge_runtime.config import SiteConfig
from edge_runtime.controller_output import ControllerOutput
from edge_runtime.fusion.engine import FusionEngine
from edge_runtime.http_api import HttpServer
from edge_runtime.logs import LogThrottle
from edge_runtime.mqtt.link import MqttLink
from edge_runtime.mqtt.messages import AckCommand, InboundRouter
from edge_runtime.mqtt.topics import Topics
from edge_runtime.notifiers.mqtt_notifier import MqttNotifier
from edge_runtime.queue_stats import QueueStats
from edge_runtime.restore_watch import RestoredConditionWatch
from edge_runtime.risk.service import RiskScorer
from edge_runtime.sensors import SensorInputs
from edge_runtime.store import Store, StoreError
from edge_runtime.store.health import StorageFaultAlarm
from edge_runtime.sync.process import AgentSpec
from edge_runtime.sync.supervisor import SyncSupervisor
from edge_runtime.telemetry.ingest_process import IngestSettings
from edge_runtime.telemetry.supervisor import TelemetryIngestSupervisor
from edge_runtime.updates.runner import UpdateRunner
from edge_runtime.updates.slots import ModelSlot
from firmware_bridge.backoff import Backoff
from firmware_bridge.readings import Observation

from . import __version__

if TYPE_CHECKING:
    from edge_runtime.vision.supervisor import VisionSupervisor

log = logging.getLogger(__name__)

TICK_S = 0.25
SNAPSHOT_S = 10.0


class EdgeDaemon:
    """Owns every component of one edge node and their start/stop order."""

    def __init__(self, config: SiteConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.bus = Bus()
        self.topics = Topics(config.site.id)
        self.store = Store(config.storage, serial=config.serial, clock=clock)
        self.inbound = InboundRouter(self.topics, None, self._on_ack, clock=clock)  # telemetry: see self.telemetry
        # the site broker is local: retry it often, an alarm waiting for it is an alarm not heard
        self.link = MqttLink(
            config.mqtt, self.topics, config.device_id, self.inbound,
            version=__version__, backoff=Backoff(initial=0.2, maximum=5.0),
        )
        # wearable telemetry is parsed and coalesced in a child process, off the alarm path
        self.telemetry = TelemetryIngestSupervisor(
            IngestSettings(config.mqtt, config.site.id, f"{self.link.client_id}-ingest", config.man_down,
                           wearables=frozenset(w.wearable for w in config.workers if w.wearable),
                           log_level=logging.getLogger().getEffectiveLevel()),
            self.bus.publish, clock=clock,
        )
        self.fusion = FusionEngine(config, self.bus.publish, self.bus.publish, clock=clock)
        self.alarms = AlarmEngine(config.alarms, self.bus.publish, mute_s=config.gas.mute_s, clock=clock)
        self.sensors = SensorInputs(config, self.bus.publish, self.store, clock)
        self.restore_watch = RestoredConditionWatch(config, self.alarms.update, clock)
        self.storage_alarm = StorageFaultAlarm.for_site(config, self.bus.publish)
        self.controller = ControllerOutput(config) if config.controller else None
        self.http = HttpServer(self, config.http)
        self.sync: SyncSupervisor | None = None  # docs/sync_agent.md: uploads in a child process, off the alarm path
        if config.sync.enabled:
            self.sync = SyncSupervisor(
                AgentSpec(config.sync, config.device_id, config.dashboard.timezone, config.storage.path,
                          config.storage.max_bytes, nice=config.storage.process_nice,
                          log_level=logging.getLogger().getEffectiveLevel()),
                context=self._sync_context,
            )
        # every alarm scored by the active risk model, off the loop (docs/rollout.md); never quietens one
        self.risk = RiskScorer(config.risk, config.roster(), self.alarms, keys=config.vision.keys,
                               require_signature=config.vision.require_signature, clock=clock)
        self.updates = UpdateRunner(config, clock=clock)  # docs/rollout.md: opened once the store is migrated
        self.vision: VisionSupervisor | None = None
        if config.cameras:  # docs/cameras.md; OpenCV and the inference runtimes load only with cameras
            self.vision = _build_vision(config, self.bus, self.fusion, self.store, clock)
        self.unknown_acks = 0
        self.refused_acks = 0  # from accounts that may not acknowledge, or verdicts from operators
        self._refused_log = LogThrottle()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._wire()

    def _wire(self) -> None:
        bus = self.bus
        bus.subscribe(Observation, self.fusion.on_observation)
        # readings are stored by who reads them, off the bus: serial bytes as read (sensors), telemetry in
        # the ingest process, so routine readings cost the alarm path no row building
        self.fusion.on_exposure_minute(self.store.record_exposure_minute)
        bus.subscribe(ConditionUpdate, self.restore_watch.on_condition)
        bus.subscribe(ConditionUpdate, self.alarms.update)
        notifier = MqttNotifier(self.link, self.topics, siren_zones=[z.id for z in self.config.zones if z.siren])
        # notify first (latency), persist in the same tick (durability)
        bus.subscribe(AlarmTransition, notifier.on_transition)
        bus.subscribe(PreAlarm, notifier.on_pre_alarm)
        if self.controller:
            bus.subscribe(AlarmTransition, self.controller.notifier.on_transition)
            bus.subscribe(PreAlarm, self.controller.notifier.on_pre_alarm)
        bus.subscribe(AlarmTransition, self.store.record_transition)
        if self.config.risk.enabled:  # after the notifiers and the store: a score waits behind the alarm, never ahead
            bus.subscribe(Observation, self.risk.readings.on_observation)
            bus.subscribe(AlarmTransition, self.risk.on_transition)

    # ---- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.store.open()
        state, restored = self._stored_state()
        if state:
            self.fusion.restore(state)
        # replay restored alarms before connecting, so only their final state goes out
        self.alarms.restore(restored)
        self.restore_watch.arm(restored)
        self.link.subscribe(self.topics.ACK_FILTER, qos=1)
        # sirens and alarm records are this daemon's to state: anyone else's retained value is overwritten
        self.link.own_retained(self.topics.SIREN_FILTER)
        self.link.own_retained(self.topics.ALARM_RECORD_FILTER)
        await self.link.start(loop)
        await self.telemetry.start(self.store.producer_address)
        if self.sync:
            await self.sync.start(self.store.producer_address)
        if self.controller:
            self.controller.start()
        self.sensors.start()
        await self.http.start()
        boot = await self.updates.open()  # before any slot loads: after a crash loop, the previous model boots
        await self.risk.start(boot.get("risk"))
        slots: dict[str, ModelSlot] = {"risk": self.risk}
        if self.vision:
            await self.vision.start(boot.get("camera"))
            slots["camera"] = self._camera_slot(self.vision)
        self.updates.run(slots)
        self._tasks.append(asyncio.create_task(self._ticker(), name="ticker"))
        log.warning(
            "siteguard edge daemon started",
            extra={"site": self.config.site.id, "restored_alarms": len(restored), "http": self.http.url},
        )

    async def stop(self) -> None:
        self._stopping.set()
        await self.updates.stop()  # first: its slots must outlive it
        if self.vision:
            await self.vision.stop()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.telemetry.stop()
        if self.sync:
            await self.sync.stop()  # bounded: it commits its last marks, or is terminated
        await self.sensors.stop()
        if self.controller:
            await self.controller.stop()
        await self.http.stop()
        await self.risk.stop()
        self.store.save_fusion_state(self.fusion.snapshot())
        await self.link.stop()
        self.store.close()

    def _camera_slot(self, vision: VisionSupervisor) -> ModelSlot:
        """The cameras' slot for the update agent, its alarm counts from the camera alarms and their verdicts."""
        from edge_runtime.updates.alarm_tally import CameraAlarmTally
        from edge_runtime.updates.camera_slot import CameraSlot

        tally = CameraAlarmTally()
        self.bus.subscribe(AlarmTransition, tally.on_transition)
        return CameraSlot(vision, alarm_counts=tally.counts)

    async def run_until_stopped(self) -> None:
        await self._stopping.wait()

    def request_stop(self) -> None:
        self._stopping.set()

    async def _ticker(self) -> None:
        next_snapshot = self.clock() + SNAPSHOT_S
        while True:
            await asyncio.sleep(TICK_S)
            now = self.clock()
            try:
                self.fusion.tick(now)
                self.alarms.tick(now)
                self.restore_watch.tick(now)
                self.storage_alarm.check(self.store.health(), now)
                if now >= next_snapshot:
                    self.store.save_fusion_state(self.fusion.snapshot())
                    next_snapshot = now + SNAPSHOT_S
            except Exception:  # a bug in one rule must not stop the timers of all others
                log.exception("tick failed")

    def _stored_state(self) -> tuple[dict[str, Any] | None, list[Alarm]]:
        """Fusion state and open alarms from the last run; none when storage cannot be read (fail safe:
        the node starts and alarms all the same, and fusion raises what is still present)."""
        try:
            return self.store.load_fusion_state(), self.store.load_open_alarms()
        except StoreError as exc:
            log.error("storage unreadable at start: no alarms or fusion state restored", extra={"error": str(exc)})
            return None, []

    # ---- inbound MQTT ----------------------------------------------------
    def _on_ack(self, alarm_id: str, account: str, cmd: AckCommand) -> None:
        """A console's ack (and optional verdict) from ``alarms/{id}/ack/{account}``.

        The account is who acted, on the mqtt channel (the broker's ACL lets no one publish under
        another's name); only a supervisor account labels alarms, so an operator's verdict is
        refused and counted, and the ack itself still taken.
        """
        role = self.config.console_role(account)
        if role is None:
            self.refused_acks += 1
            if self._refused_log.ready():
                log.warning("ack refused: %r is not a console account of this site (mqtt.accounts)", account,
                            extra={"alarm_id": alarm_id})
            return
        actor = Actor(Channel.MQTT, account, may_label=role == "supervisor")
        verdict = cmd.verdict
        if verdict is not None and not actor.may_label:
            self.refused_acks += 1
            if self._refused_log.ready():
                log.warning("verdict refused: %r is an operator account; only supervisors label alarms", account,
                            extra={"alarm_id": alarm_id})
            verdict = None
        try:
            alarm = self.alarms.get(alarm_id)
            if can_acknowledge(alarm):
                self.alarms.acknowledge(alarm_id, actor, note=cmd.note, verdict=verdict)
            elif verdict is not None:
                self.alarms.set_verdict(alarm_id, verdict, actor, note=cmd.note)
        except UnknownAlarm:
            self.unknown_acks += 1
            log.warning("ack for unknown alarm", extra={"alarm_id": alarm_id})

    # ---- health ----------------------------------------------------------
    def queues(self) -> list[QueueStats]:
        """Every bounded queue of this node (telemetry ingest, store channel), a snapshot."""
        return self.link.queues() + self.telemetry.queues() + self.store.queues() + self.risk.queues()

    def readiness(self) -> dict[str, object]:
        """What /readyz answers. The cloud uplink is shown, never gating: a site whose uplink is down is
        ``sync.degraded``, not unready, because readiness must not take a site's alarms offline (a pod
        restarted, a load balancer draining it) for the sake of a copy the agent catches up on later."""
        ports = [h.as_dict() for h in self.sensors.health()]
        storage = self.store.health()
        checks = {
            "broker": self.link.connected.is_set(),
            "storage": storage.writable,
            "sensors": self.sensors.ready(),
            "telemetry": self.telemetry.alive,
        }
        queues = self.queues()
        report: dict[str, object] = {
            "ready": all(checks.values()), "checks": checks, "ports": ports, "storage": storage.as_dict(),
            "telemetry": self.telemetry.health(),
            # shown, not gating: shedding routine telemetry is the overload policy working
            "load": {"shedding": any(q.shedding for q in queues), "queues": [q.as_dict() for q in queues]},
        }
        report["sync"] = self.sync.report() if self.sync is not None else {"enabled": False}
        report["updates"] = self.updates.status()
        if self.vision is not None:  # shown, not gating: the sensor alarm path works without cameras
            report["cameras"] = {cid: {"online": s["online"], "reason": s["reason"], "restarts": s["restarts"]}
                                 for cid, s in self.vision.status().items()}
        return report

    def _sync_context(self) -> dict[str, object]:
        """What the agent's heartbeats carry from here: each camera's model and the risk model, the open alarms by
        priority and the site's roster (which sensors belong to whom)."""
        by_priority: dict[str, int] = {}
        for alarm in self.alarms.active():
            name = alarm.priority.name.lower()
            by_priority[name] = by_priority.get(name, 0) + 1
        return {"models": self.models_in_use(), "alarms": {"open": sum(by_priority.values()),
                                                           "by_priority": by_priority},
                "roster": self.config.roster()}

    def models_in_use(self) -> dict[str, dict[str, str]]:
        """Each camera's model and the risk model, as they run now (name, version, artifact sha256)."""
        lineages = {cid: s["model"] for cid, s in self.vision.status().items()} if self.vision is not None else {}
        models = {cid: {"name": lin["model"], "version": lin["version"], "sha256": lin["sha256"]}
                  for cid, lin in lineages.items() if lin}  # a camera whose model has not loaded yet: none
        risk = self.risk.active()
        if risk is not None:
            models["risk"] = {"name": risk.name, "version": risk.version, "sha256": risk.sha256 or ""}
        return models


def _build_vision(config: SiteConfig, bus: Bus, fusion: FusionEngine, store: Store,
                  clock: Callable[[], float]) -> VisionSupervisor:
    """The daemon's camera side: supervisor, camera rules and snapshots (each recorded by the store for the
    snapshots lane), wired on the bus.

    Imported here, not at the top: OpenCV and the inference runtimes load only with cameras.
    """
    from edge_runtime.fusion.camera_rules import CameraRules
    from edge_runtime.vision.detections import CameraStatus, FrameDetections
    from edge_runtime.vision.supervisor import VisionSupervisor

    snapshot_dir = config.vision.snapshot_dir or Path(config.storage.path).parent / "snapshots"
    vision = VisionSupervisor(config.cameras, config.vision, bus.publish, snapshot_dir=snapshot_dir,
                              on_snapshot=store.record_snapshot, clock=clock)
    rules = CameraRules(config, fusion, bus.publish, on_alarm=vision.snapshots.alarm, clock=clock)
    bus.subscribe(FrameDetections, rules.on_frame)
    bus.subscribe(CameraStatus, rules.on_status)
    return vision
