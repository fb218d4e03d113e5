"""The ingest process's connection to the store process: every telemetry message stored.

The message goes as received (payload bytes and receive time); the store
process parses it again and builds the rows. So neither the alarm process nor
the ingest process, both on the way from a panic press to its alert, spends
time on rows or JSON for routine readings. The producer is bounded (the
site's ``storage.max_queued_readings``): when the store process falls behind,
messages are shed and counted, and the ingest process never blocks.
"""
from __future__ import annotations

from edge_runtime.store.producer import ProducerAddress, StoreProducer


class TelemetryStore:
    """Hands each received message to the store process."""

    def __init__(self, address: ProducerAddress) -> None:
        self.producer = StoreProducer.connect(address.address, address.authkey, address.capacity,
                                              name="store.telemetry")

    def __call__(self, wearable: str, ts: float, payload: bytes) -> None:
        self.producer.put_telemetry(wearable, ts, payload)

    def stats(self) -> dict[str, int]:
        """The producer's bounded queue, for the alarm process's /metrics."""
        (rows, _priority) = self.producer.queues()
        return {"store_depth": rows.depth, "store_capacity": rows.capacity, "store_high_water": rows.high_water,
                "store_enqueued": rows.enqueued, "store_shed": rows.shed}

    def close(self) -> None:
        self.producer.close()
