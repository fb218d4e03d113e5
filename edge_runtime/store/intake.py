"""The store process's share of the work: batches from producers become rows for the writer.

Alarm writes go to the writer as soon as a receiver thread has a batch;
the bulk part is queued for the intake thread, so an alarm never waits
behind the decoding of batches that arrived before it. That queue holds at
most ``max_queued`` bulk items (rows, observations, telemetry messages, serial
chunks weighed by their size: ``messages.chunk_weight``); the bulk part of
a batch that does not fit is dropped and counted in ``dropped_overflow``.

Serial chunks are decoded again here, with one ``StreamDecoder`` per port
and the daemon's own device mapping (``sensors.device_of``), so the alarm
process only hands over the bytes it read. Observations from low-rate
sources are encoded here. Then ``readings_sample_s`` applies to every row,
whoever built it. Nothing here raises: input that cannot be stored is
counted in ``record_errors`` and logged (throttled).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence

from edge_runtime.logs import LogThrottle
from edge_runtime.config.devices import SerialPort
from edge_runtime.mqtt.messages import MessageError, TelemetryError, parse_telemetry
from edge_runtime.sensors import device_of
from firmware_bridge.protocols import StreamDecoder
from firmware_bridge.readings import Observation

from .messages import Batch, Chunk, Telemetry, bulk_items
from .rows import reading_row
from .sampling import Sampler
from .statements import Row
from .stats import StoreStats
from .writer import Writer

log = logging.getLogger(__name__)

_ROW_WIDTH = 7  # (device, kind, ts, v1, v2, v3, extra)
YIELD_S = 0.05  # the longest the intake pauses for one alarm commit


class Intake:
    """``accept`` is called by the receiver threads; decoding and encoding run on the intake thread."""

    def __init__(
        self, writer: Writer, stats: StoreStats, serial: Iterable[SerialPort], *, sample_s: float, max_queued: int
    ) -> None:
        self._writer = writer
        self._stats = stats
        self._ports = {p.port: p for p in serial if p.protocol != "modbus"}
        self._decoders = {port: StreamDecoder(p.protocol) for port, p in self._ports.items()}
        self._sampler = Sampler(sample_s) if sample_s > 0 else None
        self._max_queued = max_queued
        self._work: deque[Batch] = deque()
        self._queued = 0  # bulk items in _work
        self._busy = False
        self._stopping = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="store-intake", daemon=True)
        self._error_log = LogThrottle()

    def start(self) -> None:
        self._thread.start()

    def accept(self, batch: Batch) -> None:
        """Alarm and other writes to the writer now; the bulk part to the intake thread."""
        writer = self._writer
        for queued_at, writes in batch.priority:
            writer.put_priority(writes, queued_at)
        for write in batch.writes:
            writer.put(write)
        items = bulk_items(batch)
        if not items:
            return
        stats = self._stats
        with self._changed:
            if self._queued + items > self._max_queued:
                stats.dropped_overflow += items
                stats.intake_shed += items
                return
            self._work.append(batch)
            self._queued += items
            stats.intake_enqueued += items
            if self._queued > stats.intake_high_water:
                stats.intake_high_water = self._queued
            self._changed.notify_all()

    @property
    def depth(self) -> int:
        """Bulk items waiting to be decoded and encoded."""
        return self._queued

    def wait_idle(self, timeout: float) -> bool:
        """Block until everything accepted so far is in the writer's queue."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._work and not self._busy, timeout)

    def stop(self, timeout: float) -> None:
        """Hand what is queued to the writer, then end the thread."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._busy = False
                self._changed.notify_all()
                self._changed.wait_for(lambda: self._work or self._stopping)
                if not self._work:
                    return
                batch = self._work.popleft()
                self._queued -= bulk_items(batch)
                self._busy = True
            try:
                self._rows_to_writer(batch)
            except Exception:  # a bug here must not stop the intake
                self._refused(bulk_items(batch), "a batch it could not process", exc_info=True)

    def _rows_to_writer(self, batch: Batch) -> None:
        self._writer.yield_to_priority(YIELD_S)
        rows = self._checked(batch.rows)
        observations = batch.observations
        if batch.chunks:
            observations = observations + self._decoded(batch.chunks)
        if batch.telemetry:
            observations = observations + _parsed(batch.telemetry)
        if observations:
            rows = rows + self._encoded(observations)
        if self._sampler is not None:
            keep = self._sampler.keep
            kept = [row for row in rows if keep(row)]
            self._stats.sampled_out += len(rows) - len(kept)
            rows = kept
        if rows:
            self._writer.put_rows(rows)

    def _checked(self, rows: list[Row]) -> list[Row]:
        """Rows of the ``readings`` shape; one of another shape would fail its whole transaction."""
        try:
            if all(len(row) == _ROW_WIDTH for row in rows):
                return rows
        except TypeError:
            pass
        good = [row for row in rows if isinstance(row, tuple) and len(row) == _ROW_WIDTH]
        self._refused(len(rows) - len(good), "readings rows of the wrong shape")
        return good

    def _decoded(self, chunks: Sequence[Chunk]) -> list[Observation]:
        out: list[Observation] = []
        for source, ts, data in chunks:
            spec = self._ports.get(source)
            if spec is None:
                self._refused(1, "a chunk from a serial port the site file does not list", source)
                continue
            self._writer.yield_to_priority(YIELD_S)
            for decoded in self._decoders[source].feed(data):
                device = device_of(spec, decoded)
                if device is not None:  # the daemon counts unknown addresses in its port health
                    out.append(Observation(device, decoded.reading, ts))
        return out

    def _encoded(self, observations: list[Observation]) -> list[Row]:
        try:
            return [reading_row(obs) for obs in observations]
        except Exception:  # one that cannot be encoded spoils only itself
            rows = []
            for obs in observations:
                try:
                    rows.append(reading_row(obs))
                except Exception:
                    self._refused(1, "an observation that cannot be encoded", repr(obs)[:200], exc_info=True)
            return rows

    def _refused(self, n: int, what: str, detail: str = "", *, exc_info: bool = False) -> None:
        self._stats.record_errors += n
        if self._error_log.ready():
            log.error("store process refused %s", what,
                      extra={"detail": detail, "refused": self._stats.record_errors}, exc_info=exc_info)


def _parsed(messages: Sequence[Telemetry]) -> list[Observation]:
    """Telemetry as the ingest process received it (which counted and logged bad fields already)."""
    out: list[Observation] = []
    for wearable, ts, payload in messages:
        try:
            out += parse_telemetry(wearable, payload, ts)
        except TelemetryError as exc:
            out += exc.observations
        except MessageError:
            pass
    return out

