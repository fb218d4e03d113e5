"""The ingest process's connection to the store process: every telemetry reading stored.

Rows are built here, in the ingest process, so the alarm process never
builds a row or a JSON object for routine telemetry. The producer is bounded
(the site's ``storage.max_queued_readings``): when the store process falls
behind, rows are shed and counted, and the ingest process never blocks.
"""
from __future__ import annotations

from edge_runtime.store.producer import ProducerAddress, StoreProducer
from edge_runtime.store.rows import reading_row
from firmware_bridge.readings import Observation


class TelemetryRows:
    """Turns one message's observations into rows for the store process."""

    def __init__(self, address: ProducerAddress) -> None:
        self.producer = StoreProducer.connect(address.address, address.authkey, address.capacity,
                                              name="store.telemetry")

    def __call__(self, observations: list[Observation]) -> None:
        self.producer.put_rows([reading_row(obs) for obs in observations])

    def stats(self) -> dict[str, int]:
        """The producer's bounded queue, for the alarm process's /metrics."""
        (rows, _priority) = self.producer.queues()
        return {"store_depth": rows.depth, "store_capacity": rows.capacity, "store_high_water": rows.high_water,
                "store_enqueued": rows.enqueued, "store_shed": rows.shed}

    def close(self) -> None:
        self.producer.close()
