"""Prometheus metrics of the edge node on ``GET /metrics`` (a session, or the bearer token of
``dashboard.metrics_token_sha256``), in a registry of their own.

Events are counted on the bus with plain integer increments: the handlers run
inline in the alarm path, so they cost a dict update and take no lock (all of
it runs on the event loop). Everything that is state (open alarms, serial
ports, the store, cameras) is read when Prometheus scrapes, by a collector,
so there is no second copy of it to keep in step.
"""
from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import hdrs, web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from edge_runtime import __version__
from edge_runtime.alarms.model import (
    AlarmState,
    AlarmTransition,
    ConditionUpdate,
    Priority,
    TransitionCause,
)
from edge_runtime.vision.detections import FrameDetections
from firmware_bridge.readings import (
    Battery,
    CheckIn,
    DetectorStatus,
    GasSample,
    GpsFix,
    HeartRate,
    Motion,
    Observation,
    PanicButton,
)

from .keys import DASHBOARD
from .roles import Role

if TYPE_CHECKING:
    from .runtime import DashboardRuntime

    from . import Dashboard

NAMESPACE = "siteguard"
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
FPS_WINDOW = 16  # frames per camera the inference rate is measured over
FPS_STALE_S = 5.0  # a camera with no frame for this long runs at 0 frames/s
_ANNOUNCING = frozenset({TransitionCause.RAISED, TransitionCause.ESCALATED})
_READING_KINDS = {
    GpsFix: "gps", GasSample: "gas", HeartRate: "hr", Motion: "motion", PanicButton: "panic",
    CheckIn: "check_in", Battery: "battery", DetectorStatus: "detector",
}
_OPEN_STATES = tuple(s for s in AlarmState if s is not AlarmState.NORMAL)


class _BusCounts:
    """What the bus handlers count; read by the collector at scrape time."""

    def __init__(self) -> None:
        self.readings: defaultdict[type, int] = defaultdict(int)
        self.transitions: defaultdict[TransitionCause, int] = defaultdict(int)
        self.frame_ts: dict[str, deque[float]] = {}  # camera -> capture times of its latest frames


class SiteMetrics:
    """The daemon's metrics; :attr:`handle` is the ``/metrics`` route handler."""

    def __init__(self, daemon: "DashboardRuntime") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counts = _BusCounts()
        self._collector = _StateCollector(daemon, self._counts)
        self.registry.register(self._collector)
        self._latency = Histogram(
            "alarm_latency_seconds", "From the reading that triggered an alarm (raised or escalated) to its transition",
            namespace=NAMESPACE, buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self._live_clients = Gauge("live_clients", "Pages connected to the live-update stream",
                                   namespace=NAMESPACE, registry=self.registry)
        self._announced: AlarmTransition | None = None  # a raise or escalation whose ConditionUpdate is running
        bus = daemon.bus
        bus.subscribe(Observation, self._on_observation)
        bus.subscribe(AlarmTransition, self._on_transition)
        # after the alarm engine's own subscription: the update's transitions have happened when this runs
        bus.subscribe(ConditionUpdate, self._on_condition)
        if daemon.vision is not None:
            bus.subscribe(FrameDetections, self._on_frame)
        self.handle = _scrape_handler(self)

    def close(self) -> None:
        """Scrapes after shutdown no longer read the (stopped) daemon."""
        self.registry.unregister(self._collector)

    def scrape(self, live_clients: int) -> bytes:
        self._live_clients.set(live_clients)
        return generate_latest(self.registry)

    # -- bus handlers: O(1) --------------------------------------------------------------------

    def _on_observation(self, obs: Observation) -> None:
        self._counts.readings[type(obs.reading)] += 1

    def _on_transition(self, t: AlarmTransition) -> None:
        self._counts.transitions[t.cause] += 1
        if t.cause in _ANNOUNCING:
            self._announced = t

    def _on_condition(self, update: ConditionUpdate) -> None:
        """Pairs the update with the raise it caused. A raise by a timer (an on-delay) has no update of
        its own: the next update of another key, or a later reading of the same key, is not its cause."""
        t, self._announced = self._announced, None
        if t is not None and t.alarm.key == update.key and update.ts <= t.ts:
            self._latency.observe(t.ts - update.ts)

    def _on_frame(self, event: FrameDetections) -> None:
        times = self._counts.frame_ts.get(event.camera)
        if times is None:
            times = self._counts.frame_ts[event.camera] = deque(maxlen=FPS_WINDOW)
        times.append(event.ts)


def _scrape_handler(metrics: SiteMetrics) -> Any:
    """A plain function, so the security middleware can read its marks: viewers, or the metrics token."""

    async def metrics_handler(request: web.Request) -> web.Response:
        dashboard: "Dashboard | None" = request.app.get(DASHBOARD)  # type: ignore[assignment]
        body = metrics.scrape(dashboard.live.client_count if dashboard is not None else 0)
        return web.Response(body=body, headers={hdrs.CONTENT_TYPE: CONTENT_TYPE_LATEST})

    metrics_handler.required_role = Role.VIEWER  # type: ignore[attr-defined]
    metrics_handler.metrics_token_ok = True  # type: ignore[attr-defined]
    return metrics_handler


class _StateCollector(Collector):
    """Reads the daemon's state (and the bus counts) into metric families at scrape time."""

    def __init__(self, daemon: "DashboardRuntime", counts: _BusCounts) -> None:
        self._daemon = daemon
        self._counts = counts

    def collect(self) -> Iterator[Any]:
        yield from self._info()
        yield from self._readings()
        yield from self._alarms()
        yield from self._store()
        yield from self._queues()
        yield from self._telemetry()
        if self._daemon.sync is not None:
            yield from self._sync(self._daemon.sync.report())
        if self._daemon.vision is not None:
            yield from self._cameras()

    def _info(self) -> Iterator[Any]:
        d = self._daemon
        yield InfoMetricFamily(f"{NAMESPACE}", "This edge node", value={
            "version": __version__, "site": d.config.site.id, "device": d.config.device_id, "http": d.http.url or "",
        })
        models = InfoMetricFamily(f"{NAMESPACE}_model", "The model each slot runs now (a camera by its id, risk)",
                                  labels=["slot"])
        for slot, model in sorted(d.models_in_use().items()):
            models.add_metric([slot], {"model": model["name"], "version": model["version"], "sha256": model["sha256"]})
        yield models

    def _readings(self) -> Iterator[Any]:
        readings = CounterMetricFamily(f"{NAMESPACE}_readings", "Sensor readings received, by kind", labels=["kind"])
        for kind, n in self._counts.readings.items():
            readings.add_metric([_READING_KINDS.get(kind, kind.__name__)], n)
        yield readings
        errors = CounterMetricFamily(f"{NAMESPACE}_decode_errors", "Frames rejected by a serial port's decoder",
                                     labels=["port"])
        for health in self._daemon.sensors.health():
            port = health.as_dict()
            errors.add_metric([str(port["port"])], float(port["frames_rejected"]))  # type: ignore[arg-type]
        yield errors

    def _alarms(self) -> Iterator[Any]:
        open_alarms = GaugeMetricFamily(f"{NAMESPACE}_alarms", "Open alarms", labels=["priority", "state"])
        counts: dict[tuple[Priority, AlarmState], int] = {(p, s): 0 for p in Priority for s in _OPEN_STATES}
        for alarm in self._daemon.alarms.active():
            counts[(alarm.priority, alarm.state)] += 1
        for (priority, state), n in counts.items():
            open_alarms.add_metric([priority.name.lower(), state.value], n)
        yield open_alarms
        transitions = CounterMetricFamily(f"{NAMESPACE}_alarm_transitions", "Alarm transitions", labels=["cause"])
        for cause, n in self._counts.transitions.items():
            transitions.add_metric([cause.value], n)
        yield transitions

    def _store(self) -> Iterator[Any]:
        stats = self._daemon.store.stats
        yield SummaryMetricFamily(f"{NAMESPACE}_sqlite_write_seconds", "SQLite write transactions",
                                  count_value=stats.transactions, sum_value=stats.write_ms_total / 1000)
        yield GaugeMetricFamily(f"{NAMESPACE}_sqlite_write_max_seconds", "Longest SQLite write transaction so far",
                                value=stats.write_ms_max / 1000)
        yield GaugeMetricFamily(f"{NAMESPACE}_store_queue_depth", "Writes waiting for the store's writer thread",
                                value=stats.queue_depth)
        yield CounterMetricFamily(f"{NAMESPACE}_store_thinned_readings",
                                  "Readings the cloud did not have, thinned by the disk budget (alarm context kept)",
                                  value=stats.thinned)
        yield CounterMetricFamily(f"{NAMESPACE}_store_evicted_unsynced_readings",
                                  "Readings the cloud never got, deleted by the disk budget as a last resort",
                                  value=stats.evicted_unsynced)

    def _queues(self) -> Iterator[Any]:
        """Every bounded queue between the alarm path and bulk work (the overload policy, counted)."""
        labels = ["queue", "kind"]
        depth = GaugeMetricFamily(f"{NAMESPACE}_queue_depth", "Items waiting in the queue", labels=labels)
        capacity = GaugeMetricFamily(f"{NAMESPACE}_queue_capacity",
                                     "The queue's bound (0: one coalescing slot per source, or never shed)",
                                     labels=labels)
        high_water = GaugeMetricFamily(f"{NAMESPACE}_queue_high_water", "Largest depth seen", labels=labels)
        enqueued = CounterMetricFamily(f"{NAMESPACE}_queue_enqueued", "Items accepted", labels=labels)
        shed = CounterMetricFamily(f"{NAMESPACE}_queue_shed",
                                   "Routine items dropped or coalesced into a newer one (events queues: always 0)",
                                   labels=labels)
        queues = self._daemon.queues()
        for q in queues:
            key = [q.name, q.kind]
            depth.add_metric(key, q.depth)
            capacity.add_metric(key, q.capacity)
            high_water.add_metric(key, q.high_water)
            enqueued.add_metric(key, q.enqueued)
            shed.add_metric(key, q.shed)
        yield from (depth, capacity, high_water, enqueued, shed)
        yield GaugeMetricFamily(f"{NAMESPACE}_load_shedding", "1 while any queue has shed routine data",
                                value=float(any(q.shedding for q in queues)))

    def _telemetry(self) -> Iterator[Any]:
        """Wearable telemetry the ingest took, and what it refused before parsing or while parsing."""
        health = self._daemon.telemetry.health()
        yield CounterMetricFamily(f"{NAMESPACE}_telemetry_messages", "Wearable telemetry messages parsed",
                                  value=float(health.get("messages", 0)))  # type: ignore[arg-type]
        dropped = CounterMetricFamily(f"{NAMESPACE}_telemetry_dropped",
                                      "Telemetry messages refused whole (unknown_wearable, oversized) or in part "
                                      "(rejected: a bad field, counted once per message; its presses still count)",
                                      labels=["reason"])
        for reason in ("unknown_wearable", "oversized", "rejected"):
            dropped.add_metric([reason], float(health.get(reason, 0)))  # type: ignore[arg-type]
        yield dropped

    def _sync(self, report: dict[str, Any]) -> Iterator[Any]:
        """The cloud uplink (the agent's last report): backlog per lane, what went, how it fails."""
        lanes: dict[str, dict[str, Any]] = report["lanes"]
        yield GaugeMetricFamily(f"{NAMESPACE}_sync_up", "1 while the sync agent runs and its uplink works",
                                value=float(report["alive"] and not report["degraded"]))
        rows = GaugeMetricFamily(f"{NAMESPACE}_sync_backlog_rows", "Rows not in the cloud yet", labels=["lane"])
        size = GaugeMetricFamily(f"{NAMESPACE}_sync_backlog_bytes", "Stored bytes not in the cloud yet (estimate)",
                                 labels=["lane"])
        oldest = GaugeMetricFamily(f"{NAMESPACE}_sync_oldest_unsynced_timestamp_seconds",
                                   "When the oldest row not in the cloud happened (lanes with a backlog)",
                                   labels=["lane"])
        sent_rows = CounterMetricFamily(f"{NAMESPACE}_sync_sent_rows", "Rows the cloud confirmed durable",
                                        labels=["lane"])
        sent_bytes = CounterMetricFamily(f"{NAMESPACE}_sync_sent_bytes", "Compressed bytes of batches sent",
                                         labels=["lane"])
        for lane, backlog in lanes.items():
            rows.add_metric([lane], backlog["rows"])
            size.add_metric([lane], backlog["bytes"])
            if backlog["oldest_ts"] is not None:
                oldest.add_metric([lane], backlog["oldest_ts"])
            sent_rows.add_metric([lane], report["rows_sent"].get(lane, 0))
            sent_bytes.add_metric([lane], report["bytes_sent"].get(lane, 0))
        yield from (rows, size, oldest, sent_rows, sent_bytes)
        if report["last_success_ts"] is not None:
            yield GaugeMetricFamily(f"{NAMESPACE}_sync_last_success_timestamp_seconds",
                                    "When the cloud last confirmed a batch", value=report["last_success_ts"])
        breaker = GaugeMetricFamily(f"{NAMESPACE}_sync_breaker", "The circuit breaker's state (1 for the current one)",
                                    labels=["state"])
        for state in ("closed", "open", "half_open"):
            breaker.add_metric([state], float(report["breaker"] == state))
        yield breaker
        yield GaugeMetricFamily(f"{NAMESPACE}_sync_quarantined_ranges", "Ranges the cloud refused, kept on the device",
                                value=report["quarantined"])
        for key, help_text in (
            ("failures", "Batch requests that failed (5xx, timeouts, refused connections, 401/403)"),
            ("too_large", "Batches the cloud answered 413 (halved and sent again)"),
            ("snapshots_missing", "Snapshot rows whose JPEG was gone before upload (skipped)"),
            ("heartbeat_failures", "Heartbeats that failed"),
            ("restarts", "Times the sync agent's process was started again after it died"),
        ):
            yield CounterMetricFamily(f"{NAMESPACE}_sync_{key}", help_text, value=report[key])

    def _cameras(self) -> Iterator[Any]:
        assert self._daemon.vision is not None
        status = self._daemon.vision.status()
        now = self._daemon.clock()
        online = GaugeMetricFamily(f"{NAMESPACE}_camera_online", "1 while the camera delivers frames", labels=["camera"])
        frames = CounterMetricFamily(f"{NAMESPACE}_camera_frames", "Frames the camera's model processed",
                                     labels=["camera"])
        fps = GaugeMetricFamily(f"{NAMESPACE}_camera_inference_fps", "Frames processed per second, recently",
                                labels=["camera"])
        for camera, st in status.items():
            online.add_metric([camera], 1.0 if st.get("online") else 0.0)
            frames.add_metric([camera], st.get("frames", 0))
            fps.add_metric([camera], _rate(self._counts.frame_ts.get(camera), now))
        yield from (online, frames, fps)


def _rate(times: deque[float] | None, now: float) -> float:
    if not times or len(times) < 2 or now - times[-1] > FPS_STALE_S or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])
