"""The sync agent: drains the outbox lane by lane, moves a mark only on a receipt, and reports.

Three tasks on the agent process's loop:

* **drain**: the first lane (events, bulk, snapshots) that may send now
  (inside its schedule, its bucket not in debt) and has a batch ready sends
  it. A batch is bounded by ``max_rows`` and ``max_bytes`` over the lane's
  tables; a bulk or snapshot batch smaller than that waits until its oldest
  row is ``max_age_s`` old (events go at once). The answer decides
  (docs/sync.md): a receipt moves each durable table's mark to the end of its
  chunk and quarantines each rejected chunk (and moves past it); 400
  quarantines the whole batch with the reason; 413 halves the lane's batch
  (a single row still too big is quarantined); 401/403 open the breaker; 5xx,
  timeouts and refused connections wait the shared ``Backoff`` (and count
  towards the breaker). Nothing else moves a mark, so after a crash, a reboot
  or a week offline the agent resumes from the last receipt: what it had sent
  since goes again, which the cloud answers as duplicate.
* **heartbeat**: every ``heartbeat_interval_s``, also while batches fail.
* **count**: the lanes' backlog (``backlog.py``), on a thread with its own
  read connection, paced by its cost.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from cloud_sync.contract import batch
from cloud_sync.contract.tables import Lane
from edge_runtime import __version__
from edge_runtime.config.sync import SyncSettings
from edge_runtime.logs import LogThrottle
from edge_runtime.store import Outbox
from firmware_bridge.backoff import Backoff

from .backlog import BacklogCounter, Counts
from .breaker import CircuitBreaker
from .client import Accepted, CloudClient, Invalid, Outcome, Refused, TooLarge, Unavailable
from .lanes import LanePolicy
from .reader import OutboxReader, TableRead
from .state import LaneBacklog, SyncState

log = logging.getLogger(__name__)

COUNT_EVERY_S = 1.0  # the backlog is counted at most this often ...
COUNT_COST_FACTOR = 10.0  # ... and at most every this many times what one count took

Context = Callable[[], dict[str, Any]]  # what the daemon adds to heartbeats: {"models": ..., "alarms": ...}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A batch on its way: the lane it drains and the chunks it carries, encoded."""

    policy: LanePolicy
    reads: tuple[TableRead, ...]
    body: bytes

    @property
    def rows(self) -> int:
        """Rows read into it, skipped snapshot rows included (what the lane's row bound counts)."""
        return sum(read.chunk.rows + read.missing for read in self.reads)


class SyncAgent:
    def __init__(
        self,
        settings: SyncSettings,
        *,
        device: str,
        outbox: Outbox,
        reader: OutboxReader,
        backlog: BacklogCounter,
        client: CloudClient,
        lanes: tuple[LanePolicy, ...],
        breaker: CircuitBreaker,
        context: Context = dict,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
    ) -> None:
        self._settings = settings
        self._device = device
        self._outbox = outbox
        self._reader = reader
        self._backlog = backlog
        self._client = client
        self._lanes = lanes
        self._breaker = breaker
        self._context = context
        self._clock = clock
        self._backoff = backoff or Backoff(initial=settings.retry_initial_s, maximum=settings.retry_max_s)
        self._limits = {policy.lane: settings.max_rows for policy in lanes}  # rows per batch now (413 halves)
        self._waiting_since: dict[Lane, float] = {}  # when a lane was first seen with a partial batch
        self._state = SyncState(lanes={lane.value: LaneBacklog() for lane in Lane},
                                rows_sent=dict.fromkeys((lane.value for lane in Lane), 0),
                                bytes_sent=dict.fromkeys((lane.value for lane in Lane), 0))
        self._counts: Counts | None = None
        self._error_log = LogThrottle(30.0)

    def state(self) -> SyncState:
        """The latest snapshot (backlog as last counted)."""
        state = replace(self._state, breaker=self._breaker.state.value)
        if self._counts is not None:  # quarantined ranges are never deleted: the larger count is the newer
            state = replace(state, lanes=self._counts.lanes,
                            quarantined=max(state.quarantined, self._counts.quarantined),
                            quarantined_rows=max(state.quarantined_rows, self._counts.quarantined_rows))
        return state

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set; an upload in flight is abandoned (its rows go again: nothing moved)."""
        tasks = [asyncio.create_task(coro, name=f"sync-{coro.__name__}")
                 for coro in (self._drain(), self._heartbeats(), self._count())]
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopping}:
                task.result()  # a task that ended raised: let the process's owner see and restart it
        finally:
            for task in [*tasks, stopping]:
                task.cancel()
            await asyncio.gather(*tasks, stopping, return_exceptions=True)

    # --- drain ------------------------------------------------------------------------------

    async def _drain(self) -> None:
        while True:
            if (wait := self._breaker.wait_s()) > 0:
                await asyncio.sleep(min(wait, self._settings.poll_s))
                continue
            outgoing, wait = self._next_batch()
            if outgoing is None:
                await asyncio.sleep(wait)
                continue
            await self._send(outgoing)

    def _next_batch(self) -> tuple[Outgoing | None, float]:
        """The first lane's batch that may and should go now, or how long to wait before looking again."""
        now = self._clock()
        wait = self._settings.poll_s
        for policy in self._lanes:
            lane_wait = policy.wait_s(now)
            if lane_wait is None:  # outside its schedule
                continue
            if lane_wait > 0:
                wait = min(wait, lane_wait)
                continue
            outgoing = self._build(policy, now)
            if outgoing is not None:
                return outgoing, 0.0
        return None, wait

    def _build(self, policy: LanePolicy, now: float) -> Outgoing | None:
        lane, limit = policy.lane, self._limits[policy.lane]
        probes = {table: self._reader.probe(table, limit) for table in policy.tables}
        oldest = [p.oldest_ts for p in probes.values() if p.oldest_ts is not None]
        if not oldest:
            self._waiting_since.pop(lane, None)
            return None
        since = self._waiting_since.setdefault(lane, now)
        if lane is not Lane.EVENTS and not any(p.full for p in probes.values()):
            if now - min(min(oldest), since) < self._settings.max_age_s:
                return None
        reads: list[TableRead] = []
        rows, size = limit, self._settings.max_bytes
        for table, probe in probes.items():
            if probe.oldest_ts is None or rows <= 0 or size <= 0:
                continue
            read = self._reader.read(table, rows, size)
            if read is not None:
                reads.append(read)
                rows -= read.chunk.rows + read.missing
                size -= read.stored_bytes
        if not reads:
            return None
        self._waiting_since.pop(lane, None)
        body = batch.encode(self._device, [read.chunk for read in reads], now)
        return Outgoing(policy, tuple(reads), body)

    async def _send(self, outgoing: Outgoing) -> None:
        if len(outgoing.body) > batch.MAX_BODY_BYTES:  # the cloud would answer 413: do not send it
            self._too_large(outgoing, f"over {batch.MAX_BODY_BYTES} bytes compressed")
            return
        lane = outgoing.policy.lane.value
        outgoing.policy.bucket.spend(len(outgoing.body))
        outcome = await self._client.post_batch(outgoing.body)
        self._state = replace(self._state, bytes_sent={**self._state.bytes_sent,
                                                       lane: self._state.bytes_sent[lane] + len(outgoing.body)})
        await self._answered(outgoing, outcome)

    async def _answered(self, outgoing: Outgoing, outcome: Outcome) -> None:
        if isinstance(outcome, Accepted):
            self._receipt(outgoing, outcome.receipt)
            self._succeeded(outgoing.policy.lane)
        elif isinstance(outcome, Invalid):  # the cloud answered: the link is fine, the batch is not
            for read in outgoing.reads:
                self._quarantine(read, outcome.reason)
            self._succeeded(outgoing.policy.lane)
        elif isinstance(outcome, TooLarge):
            self._too_large(outgoing, outcome.reason)
        elif isinstance(outcome, Refused):
            self._failed(outcome.reason)
            self._breaker.trip()
        else:
            assert isinstance(outcome, Unavailable)
            self._failed(outcome.reason)
            self._breaker.failure()
            await asyncio.sleep(self._backoff.next_delay())

    def _receipt(self, outgoing: Outgoing, receipt: batch.Receipt) -> None:
        durable = {d.key for d in receipt.durable}
        rejected = {r.key: r.reason for r in receipt.rejected}
        lane = outgoing.policy.lane.value
        sent = missing = 0
        for read in outgoing.reads:
            chunk = read.chunk
            key = chunk.key(self._device)
            if key in durable:
                self._outbox.mark_synced(chunk.table, chunk.last_id)
                sent += chunk.rows
                missing += read.missing
            elif key in rejected:
                self._quarantine(read, rejected[key])
            # neither: not stored, so the mark stays and the chunk goes again
        state = self._state
        self._state = replace(state, rows_sent={**state.rows_sent, lane: state.rows_sent[lane] + sent},
                              snapshots_missing=state.snapshots_missing + missing, batches=state.batches + 1)

    def _too_large(self, outgoing: Outgoing, reason: str) -> None:
        lane = outgoing.policy.lane
        self._state = replace(self._state, too_large=self._state.too_large + 1)
        if outgoing.rows <= 1:
            for read in outgoing.reads:
                self._quarantine(read, f"a single row too large: {reason}")
            return
        self._limits[lane] = max(1, outgoing.rows // 2)
        log.warning("sync batch too large: %s; %s batches now hold at most %d rows", reason, lane.value,
                    self._limits[lane])

    def _quarantine(self, read: TableRead, reason: str) -> None:
        chunk = read.chunk
        self._outbox.quarantine(chunk.table, chunk.first_id, chunk.last_id, chunk.key(self._device), reason,
                                chunk.rows)
        what = f"{chunk.table} {chunk.first_id}-{chunk.last_id}: {reason}"
        log.error("sync: the cloud refused %s; quarantined, moving on", what)
        state = self._state
        self._state = replace(state, quarantined=state.quarantined + 1,
                              quarantined_rows=state.quarantined_rows + chunk.rows, last_quarantine=what)

    def _succeeded(self, lane: Lane) -> None:
        self._backoff.reset()
        self._breaker.success()
        self._limits[lane] = min(self._settings.max_rows, self._limits[lane] * 2)
        self._state = replace(self._state, last_success_ts=self._clock(), last_error=None, last_error_ts=None)

    def _failed(self, reason: str) -> None:
        self._state = replace(self._state, last_error=reason, last_error_ts=self._clock(),
                              failures=self._state.failures + 1)
        if self._error_log.ready():
            log.warning("sync upload failed: %s (%d failures so far)", reason, self._state.failures)

    # --- heartbeat and backlog ------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        while True:
            outcome = await self._client.post_heartbeat(self.heartbeat())
            if isinstance(outcome, Accepted):
                self._state = replace(self._state, last_heartbeat_ts=self._clock())
            else:
                self._state = replace(self._state, heartbeat_failures=self._state.heartbeat_failures + 1)
            await asyncio.sleep(self._settings.heartbeat_interval_s)

    def heartbeat(self) -> dict[str, Any]:
        """The heartbeat body of docs/sync.md."""
        state, context = self.state(), self._context()
        disk = self._counts.disk if self._counts is not None else None
        return {
            "ts": self._clock(), "interval_s": self._settings.heartbeat_interval_s,
            "lanes": {lane: backlog.heartbeat() for lane, backlog in state.lanes.items()},
            "last_success_ts": state.last_success_ts, "last_error": state.last_error,
            "quarantined": state.quarantined,
            "disk": {"used_bytes": disk.used_bytes if disk else 0, "budget_bytes": disk.budget_bytes if disk else 0},
            "models": context.get("models", {}), "alarms": context.get("alarms", {"open": 0, "by_priority": {}}),
            "software": __version__,
        }

    async def _count(self) -> None:
        while True:
            started = time.perf_counter()
            self._counts = await asyncio.to_thread(self._backlog.count)
            cost = time.perf_counter() - started
            await asyncio.sleep(max(COUNT_EVERY_S, COUNT_COST_FACTOR * cost))
