"""What travels on a producer's connection to the store process (pickled, protocol 5).

Producer -> store: :class:`Batch` (everything queued since the last send),
:class:`FlushRequest`, :class:`Goodbye`. Store -> producer: :class:`FlushReply`,
:class:`StatsReport`. NamedTuples: a class reference and a tuple, the
cheapest shape pickle knows.
"""
from __future__ import annotations

from typing import NamedTuple

from firmware_bridge.readings import Observation

from .statements import Row, Write
from .stats import StoreStats

Chunk = tuple[str, float, bytes]  # (serial port, wall-clock ts stamped on its readings, raw bytes)
Telemetry = tuple[str, float, bytes]  # (wearable, wall-clock ts it was received, raw MQTT payload)
Priority = tuple[float, tuple[Write, ...]]  # (time.perf_counter() when queued, writes of one transaction)


CHUNK_BYTES_PER_ITEM = 32  # a serial chunk counts against a queue's bound as this many bytes per reading


def chunk_weight(data: bytes) -> int:
    """How many bulk items a serial chunk counts as: about one per frame it holds, so a bound in items
    also bounds the bytes waiting, however large the reads of a port that fell behind."""
    return 1 + len(data) // CHUNK_BYTES_PER_ITEM


def bulk_items(batch: Batch) -> int:
    """A batch's bulk items as every bounded queue between producers and the disk counts them."""
    return (len(batch.rows) + sum(chunk_weight(data) for _, _, data in batch.chunks) + len(batch.observations)
            + len(batch.telemetry))


class Batch(NamedTuple):
    rows: list[Row]  # ``readings`` rows built by the producer (rows.reading_row)
    chunks: list[Chunk]
    observations: list[Observation]  # low-rate sources: rows are built in the store process
    priority: list[Priority]
    writes: list[Write]  # low-priority writes: exposure minutes, fusion state, outbox marks
    telemetry: list[Telemetry]  # wearable messages as received: parsed and encoded in the store process


class FlushRequest(NamedTuple):
    token: int
    timeout_s: float


class Goodbye(NamedTuple):
    """The producer is closing: the store process closes its end, which ends the producer's reply reader."""


class FlushReply(NamedTuple):
    token: int
    ok: bool
    stats: StoreStats


class StatsReport(NamedTuple):
    stats: StoreStats
