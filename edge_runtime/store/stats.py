"""Counters the store keeps so operators (and the dashboard) can see it keeping up."""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(slots=True)
class StoreStats:
    """Written by the writer thread, read as a snapshot via ``Store.stats``."""

    rows_written: dict[str, int] = field(default_factory=dict)
    batches: int = 0  # bulk (readings) transactions committed
    priority_commits: int = 0  # alarm transitions committed (each with its alarm row, and verdict)
    write_ms_max: float = 0.0  # longest transaction, any kind
    write_ms_total: float = 0.0
    transactions: int = 0
    priority_latency_ms_max: float = 0.0  # record_transition() -> committed
    priority_latency_ms_total: float = 0.0
    queue_depth: int = 0  # items waiting for the writer when the snapshot was taken
    write_errors: int = 0  # failed transactions (disk full, read-only, I/O error)
    dropped_on_error: int = 0  # rows given up because the database failed or refused them
    dropped_overflow: int = 0  # readings refused because the queue was full
    record_errors: int = 0  # record_*() calls that could not be queued (closed store, bad input)
    sampled_out: int = 0  # readings skipped by readings_sample_s
    priority_pending_retry: int = 0  # alarm writes held (memory, spill files) until the database takes them
    failure: str = ""  # why the database cannot be opened or written now ("" while it can)
    # the journal of alarm writes held while the database fails (journal.py, spill.py)
    journal_depth: int = 0  # in memory
    journal_high_water: int = 0
    journal_held: int = 0  # alarm writes held since start
    journal_lost: int = 0  # held in neither memory (full) nor a spill file (not writable): gone at a restart
    spilled: int = 0  # appended to a spill file
    spill_errors: int = 0  # appends that failed or did not fit: held in memory only
    spill_unreadable: int = 0  # lines of a spill file that could not be read back (a torn last line)
    replayed: int = 0  # held alarm writes committed once the database took writes again
    evicted: dict[str, int] = field(default_factory=dict)  # rows deleted by the disk budget
    evicted_unsynced: int = 0  # of those, readings the cloud never got (last resort)
    thinned: int = 0  # of those, readings the cloud never got, thinned out (every other one, alarm context kept)
    # the store process's own bounded queues (bulk items waiting to be decoded, rows waiting to be written)
    intake_depth: int = 0
    intake_high_water: int = 0
    intake_enqueued: int = 0
    intake_shed: int = 0
    writer_high_water: int = 0
    writer_enqueued: int = 0
    writer_shed: int = 0

    @property
    def write_ms_avg(self) -> float:
        return self.write_ms_total / self.transactions if self.transactions else 0.0

    @property
    def priority_latency_ms_avg(self) -> float:
        return self.priority_latency_ms_total / self.priority_commits if self.priority_commits else 0.0

    def count_written(self, table: str, rows: int) -> None:
        self.rows_written[table] = self.rows_written.get(table, 0) + rows

    def count_evicted(self, table: str, rows: int) -> None:
        self.evicted[table] = self.evicted.get(table, 0) + rows

    def snapshot(self, queue_depth: int, intake_depth: int | None = None) -> StoreStats:
        """A copy for readers on other threads (dict copies are atomic under the GIL)."""
        return replace(self, rows_written=dict(self.rows_written), evicted=dict(self.evicted), queue_depth=queue_depth,
                       intake_depth=self.intake_depth if intake_depth is None else intake_depth)

