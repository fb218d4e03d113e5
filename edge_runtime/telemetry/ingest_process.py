"""The telemetry ingest process: MQTT telemetry in, events and coalesced routine data out.

Runs as a child of the daemon (``supervisor`` starts it) with its own
interpreter lock, so paho's packet parsing, JSON and row building for tens of
thousands of readings a second never delay the alarm process. For each
telemetry message it

1. stores every message (as received: the store process parses it again and
   builds the rows, off the panic's way),
2. sends panic, cancel and check-in presses to the alarm process at once on
   the *events* pipe (never coalesced, never behind routine data),
3. puts heart rate, battery and accelerometer samples into the wearable's
   slot of the :class:`~.coalescer.Coalescer`.

A forwarding thread sends the waiting slots on the *routine* pipe whenever
the alarm process has answered the previous batch (a credit) and at least
``mqtt.telemetry_interval_s`` has passed: the alarm process sets the pace, and what it
cannot take in time is coalesced, not queued.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_runtime.child_process import die_with_parent, name_process
from edge_runtime.config.devices import MqttSettings
from edge_runtime.config.people import ManDownSettings
from edge_runtime.logs import setup_logging, verbosity_of
from edge_runtime.mqtt.messages import InboundRouter
from edge_runtime.mqtt.nodelay import disable_nagle
from edge_runtime.mqtt.topics import Topics
from firmware_bridge.readings import Battery, CheckIn, HeartRate, Motion, Observation, PanicButton

from . import wire
from .coalescer import Coalescer
from .motion_window import MotionReducer
from .store_link import TelemetryStore

log = logging.getLogger(__name__)

STATS_EVERY_S = 1.0
SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class IngestSettings:
    """Everything the child needs, picklable (it is spawned, not forked)."""

    mqtt: MqttSettings
    site: str
    client_id: str
    man_down: ManDownSettings
    store_address: Any = None  # the store process's producer address; None: readings are not stored
    log_level: int = logging.WARNING


@dataclass(slots=True)
class IngestCounters:
    """Sent to the alarm process with every routine batch and stats frame."""

    events: int = 0
    stored: int = 0  # messages handed to the store process
    connects: int = 0


class TelemetryIngest:
    """Parses, splits and coalesces telemetry; the pipes are injected, so tests drive it directly."""

    def __init__(self, settings: IngestSettings, events: Connection, routine: Connection,
                 store: TelemetryStore | None = None) -> None:
        self._settings = settings
        self._events = events
        self._routine = routine
        self._store = store
        self._topics = Topics(settings.site)
        self._received_ts = 0.0  # the receive time of the message being handled
        self.coalescer = Coalescer(MotionReducer(settings.man_down))
        self.counters = IngestCounters()
        self.router = InboundRouter(self._topics, self.on_telemetry, None, clock=lambda: self._received_ts)
        self._credit = threading.Event()
        self._credit.set()  # the first batch needs no answer
        self._stopping = threading.Event()

    # --- paho's thread ------------------------------------------------------------------

    def on_message(self, topic: str, payload: bytes) -> None:
        """paho's on_message: store the message as received, then route it."""
        ts = self._received_ts = time.time()
        if self._store is not None and payload and (wearable := self._topics.parse_telemetry_topic(topic)):
            self._store(wearable, ts, payload)
            self.counters.stored += 1
        self.router(topic, payload)

    def on_telemetry(self, observations: list[Observation]) -> None:
        """The readings of one message: send events now, coalesce the rest."""
        wearable, ts = observations[0].device, observations[0].ts
        events: list[wire.EventRecord] = []
        hr: wire.HeartRateTuple | None = None
        battery: float | None = None
        motion: list[tuple[float, float, float, float]] = []
        for obs in observations:
            r = obs.reading
            if isinstance(r, Motion):
                motion.append((r.ax, r.ay, r.az, ts))
            elif isinstance(r, HeartRate):
                hr = wire.heart_rate_tuple(r)
            elif isinstance(r, Battery):
                battery = r.percent
            elif isinstance(r, PanicButton):
                events.append((wearable, wire.PANIC if r.pressed else wire.CANCEL, ts))
            elif isinstance(r, CheckIn):
                events.append((wearable, wire.CHECK_IN, ts))
        if hr is not None or battery is not None or motion:
            self.coalescer.put(wearable, ts, hr, battery, motion)
        if events:
            self.counters.events += len(events)
            self._events.send_bytes(wire.encode(events))

    # --- the forwarding thread ----------------------------------------------------------

    def forward(self) -> None:
        """Send routine batches as the alarm process takes them, and stats once a second."""
        interval = self._settings.mqtt.telemetry_interval_s
        next_stats = time.monotonic() + STATS_EVERY_S
        while not self._stopping.is_set():
            if not self._credit.wait(0.25):
                continue
            now = time.monotonic()
            if self.coalescer.pending() or now >= next_stats:
                self._credit.clear()
                next_stats = now + STATS_EVERY_S
                self._routine.send_bytes(wire.encode((self.coalescer.take(), self.stats())))
            self._stopping.wait(interval)

    def read_credits(self) -> None:
        """The thread reading the alarm process's answers (EOF: the parent is gone)."""
        try:
            while not self._stopping.is_set():
                self._routine.recv_bytes()
                self._credit.set()
        except (EOFError, OSError):
            self._stopping.set()

    def stats(self) -> dict[str, int]:
        c, r, i = self.coalescer.counters, self.router.counters, self.counters
        return {
            "messages": r.telemetry_messages, "rejected": r.telemetry_rejected, "events": i.events,
            "hr_shed": c.hr_shed, "battery_shed": c.battery_shed, "motion_in": c.motion_in,
            "motion_out": c.motion_out, "batches": c.batches, "max_slots": c.max_slots,
            "pending": self.coalescer.pending(), "stored": i.stored, "connects": i.connects,
            **(self._store.stats() if self._store is not None else {}),
        }

    def stop(self) -> None:
        self._stopping.set()
        self._credit.set()

    @property
    def stopping(self) -> threading.Event:
        return self._stopping


def _mqtt_client(settings: IngestSettings, ingest: TelemetryIngest) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id, clean_session=True,
                         protocol=mqtt.MQTTv311)
    if settings.mqtt.username is not None:
        client.username_pw_set(settings.mqtt.username, settings.mqtt.password)
    client.reconnect_delay_set(0.2, 5.0)  # the site broker is local: retry it often
    topic = Topics(settings.site).TELEMETRY_FILTER

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        if not reason.is_failure:
            ingest.counters.connects += 1
            c.subscribe(topic, 0)

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, m: ingest.on_message(m.topic, m.payload)
    return disable_nagle(client)


def run(settings: IngestSettings, events: Connection, routine: Connection) -> None:
    """The child's main: until the parent says stop (or goes away)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the daemon's to handle
    # paho's thread (where a panic press is parsed and forwarded) must get the lock back
    # quickly from the forwarding thread: CPython's 5 ms default would be the panic's delay
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    die_with_parent()
    name_process("sg-ingest")
    setup_logging(verbosity_of(settings.log_level))
    store = TelemetryStore(settings.store_address) if settings.store_address is not None else None
    ingest = TelemetryIngest(settings, events, routine, store)
    signal.signal(signal.SIGTERM, lambda *_: ingest.stop())
    client = _mqtt_client(settings, ingest)
    client.connect_async(settings.mqtt.host, settings.mqtt.port, settings.mqtt.keepalive_s)
    client.loop_start()
    credits = threading.Thread(target=ingest.read_credits, name="ingest-credits", daemon=True)
    credits.start()
    try:
        ingest.forward()
    except (BrokenPipeError, ConnectionError, EOFError):
        pass  # the daemon went away
    finally:
        client.disconnect()
        client.loop_stop()
        if store is not None:
            store.close()  # sends what is still queued
