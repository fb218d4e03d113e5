"""What the sync agent reports: per-lane backlog and how the uplink is doing.

The agent process sends a :class:`SyncState` to the daemon about once a
second (picklable, frozen); ``/metrics``, ``/readyz``, the dashboard and the
cloud heartbeat all read this one snapshot.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LaneBacklog:
    """Rows not yet in the cloud: how many, about how many stored bytes, and the oldest one's time."""

    rows: int = 0
    bytes: int = 0
    oldest_ts: float | None = None

    def heartbeat(self) -> dict[str, Any]:
        """The lane as docs/sync.md's heartbeat names it."""
        return {"backlog_rows": self.rows, "backlog_bytes": self.bytes, "oldest_unsynced_ts": self.oldest_ts}


@dataclass(frozen=True, slots=True)
class SyncState:
    lanes: dict[str, LaneBacklog] = field(default_factory=dict)
    last_success_ts: float | None = None  # the last batch the cloud answered with a receipt
    last_error: str | None = None  # the last failed request (None once one succeeds again)
    last_error_ts: float | None = None
    breaker: str = "closed"  # breaker.BreakerState
    quarantined: int = 0  # ranges kept aside because the cloud refused them (sync_quarantine)
    quarantined_rows: int = 0
    last_quarantine: str | None = None  # table, range and the cloud's reason of the latest one
    rows_sent: dict[str, int] = field(default_factory=dict)  # per lane: rows the cloud confirmed durable
    bytes_sent: dict[str, int] = field(default_factory=dict)  # per lane: compressed bytes of batches sent
    batches: int = 0  # batches answered with a receipt
    failures: int = 0  # batch requests that failed (5xx, timeouts, refused connections, 401/403)
    too_large: int = 0  # 413 answers (the batch was halved)
    snapshots_missing: int = 0  # snapshot rows whose JPEG the folder's budget deleted before upload
    last_heartbeat_ts: float | None = None
    heartbeat_failures: int = 0

    @property
    def degraded(self) -> bool:
        """The uplink is failing (the edge still runs: only the cloud's copy lags)."""
        return self.last_error is not None or self.breaker != "closed"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
