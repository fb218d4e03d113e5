"""The telemetry ingest process: MQTT telemetry in, events and coalesced routine data out.

Runs as a child of the daemon (``supervisor`` starts it) with its own
interpreter lock, so MQTT packet parsing, JSON and row building for tens of
thousands of readings a second never delay the alarm process. The
:class:`~.subscriber.BulkSubscriber` hands over what each socket read
brought, and for that batch the ingest

1. drops messages of wearables no worker carries, at the cheapest point (one
   dict lookup of the topic), counted: a flood of unknown ids costs neither
   the alarm path nor the disk,
2. handles first the messages that hold a press (a cheap byte search), so a
   panic read together with a hundred heart-rate messages goes to the alarm
   process on the *events* pipe before they are parsed,
3. stores every known message (as received: the store process parses it
   again and builds the rows, off the panic's way),
4. puts heart rate, battery and accelerometer samples into the wearable's
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

from edge_runtime.child_process import die_with_parent, name_process
from edge_runtime.config.devices import MqttSettings
from edge_runtime.config.people import ManDownSettings
from edge_runtime.logs import LogThrottle, setup_logging, verbosity_of
from edge_runtime.mqtt.messages import InboundRouter, may_hold_press
from edge_runtime.mqtt.topics import Topics
from firmware_bridge.readings import Battery, CheckIn, HeartRate, Motion, Observation, PanicButton

from . import wire
from .coalescer import Coalescer
from .motion_window import MotionReducer
from .store_link import TelemetryStore
from .subscriber import BulkSubscriber, Message

log = logging.getLogger(__name__)

STATS_EVERY_S = 1.0
SWITCH_INTERVAL_S = 0.0005
TOPIC_ROOM = 512  # bytes of a PUBLISH packet besides its payload: the topic and its header


@dataclass(frozen=True)
class IngestSettings:
    """Everything the child needs, picklable (it is spawned, not forked)."""

    mqtt: MqttSettings
    site: str
    client_id: str
    man_down: ManDownSettings
    wearables: frozenset[str]  # the ids the site's workers carry: telemetry of any other is dropped, counted
    store_address: Any = None  # the store process's producer address; None: readings are not stored
    log_level: int = logging.WARNING


@dataclass(slots=True)
class IngestCounters:
    """Sent to the alarm process with every routine batch and stats frame."""

    events: int = 0
    stored: int = 0  # messages handed to the store process
    unknown: int = 0  # messages of wearables no worker carries, dropped


class TelemetryIngest:
    """Parses, splits and coalesces telemetry; the pipes are injected, so tests drive it directly."""

    def __init__(self, settings: IngestSettings, events: Connection, routine: Connection,
                 store: TelemetryStore | None = None) -> None:
        self._settings = settings
        self._events = events
        self._routine = routine
        self._store = store
        self._topics = Topics(settings.site)
        # topic bytes -> wearable id: the one lookup that admits a message
        self._known = {self._topics.wearable_telemetry(w).encode(): w for w in settings.wearables}
        self._received_ts = 0.0  # the receive time of the batch being handled
        self.coalescer = Coalescer(MotionReducer(settings.man_down))
        self.counters = IngestCounters()
        self.router = InboundRouter(self._topics, self.on_telemetry, None, clock=lambda: self._received_ts)
        self._unknown_log = LogThrottle()
        self.subscriber = BulkSubscriber(settings.mqtt, settings.client_id, self._topics.TELEMETRY_FILTER,
                                         max_packet=settings.mqtt.max_telemetry_bytes + TOPIC_ROOM)
        self._credit = threading.Event()
        self._credit.set()  # the first batch needs no answer
        self._stopping = threading.Event()

    # --- the subscriber's thread ---------------------------------------------------------

    def on_batch(self, messages: list[Message]) -> None:
        """The messages of one socket read: presses first, then store and coalesce the rest."""
        ts = self._received_ts = time.time()
        known, telemetry = self._known, self.router.telemetry
        admitted: list[tuple[str, bytes]] = []
        for topic, payload in messages:
            wearable = known.get(topic)
            if wearable is None:
                self._dropped_unknown(topic)
            elif payload:  # an empty payload clears a retained message: nothing to read
                admitted.append((wearable, payload))
        later: list[tuple[str, bytes]] = []
        for wearable, payload in admitted:
            if may_hold_press(payload):
                telemetry(wearable, payload)
            else:
                later.append((wearable, payload))
        if self._store is not None:
            for wearable, payload in admitted:
                self._store(wearable, ts, payload)
            self.counters.stored += len(admitted)
        for wearable, payload in later:
            telemetry(wearable, payload)

    def _dropped_unknown(self, topic: bytes) -> None:
        self.counters.unknown += 1
        if self._unknown_log.ready():
            log.warning("telemetry dropped: %s is not a wearable of this site (%d dropped so far)",
                        topic[:120].decode(errors="replace"), self.counters.unknown)

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
            "pending": self.coalescer.pending(), "stored": i.stored, "unknown": i.unknown,
            "connects": self.subscriber.counters.connects, "oversized": self.subscriber.counters.oversized,
            **(self._store.stats() if self._store is not None else {}),
        }

    def stop(self) -> None:
        self._stopping.set()
        self._credit.set()

    @property
    def stopping(self) -> threading.Event:
        return self._stopping


def run(settings: IngestSettings, events: Connection, routine: Connection) -> None:
    """The child's main: until the parent says stop (or goes away)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the daemon's to handle
    # the subscriber's thread (where a panic press is parsed and forwarded) must get the lock
    # back quickly from the forwarding thread: CPython's 5 ms default would be the panic's delay
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    die_with_parent()
    name_process("sg-ingest")
    setup_logging(verbosity_of(settings.log_level))
    store = TelemetryStore(settings.store_address) if settings.store_address is not None else None
    ingest = TelemetryIngest(settings, events, routine, store)
    signal.signal(signal.SIGTERM, lambda *_: ingest.stop())
    reader = threading.Thread(target=ingest.subscriber.run, args=(ingest.on_batch, ingest.stopping),
                              name="ingest-subscriber", daemon=True)
    reader.start()
    credits = threading.Thread(target=ingest.read_credits, name="ingest-credits", daemon=True)
    credits.start()
    try:
        ingest.forward()
    except (BrokenPipeError, ConnectionError, EOFError):
        pass  # the daemon went away
    finally:
        ingest.stop()
        reader.join(1.0)  # it sends DISCONNECT within one poll
        if store is not None:
            store.close()  # sends what is still queued
