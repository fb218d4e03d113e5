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

  Up to ``max_in_flight`` batches are on the wire at once: the next one is read
  and encoded (on a thread) while the cloud stores the previous one. Answers
  are applied oldest first, and a mark moves only over a chunk that starts
  where the mark is, so it never passes a range the cloud has not confirmed.
  An answer that leaves a chunk unconfirmed (a failure, a 413, a receipt
  without it) lets the batches behind it answer too, then reading starts
  again at the marks. A lane sends only while no earlier lane has a batch in
  flight, and events may go while bulk batches are in flight.
* **heartbeat**: every ``heartbeat_interval_s``, also while batches fail.
* **count**: the lanes' backlog (``backlog.py``), on a thread with its own
  read connection, paced by its cost.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
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
from .breaker import BreakerState, CircuitBreaker
from .client import Accepted, CloudClient, Invalid, Outcome, Refused, TooLarge, Unavailable
from .lanes import LanePolicy
from .reader import OutboxReader, TableRead
from .state import LaneBacklog, SyncState

log = logging.getLogger(__name__)

COUNT_EVERY_S = 1.0  # the backlog is counted at most this often ...
COUNT_COST_FACTOR = 10.0  # ... and at most every this many times what one count took

Context = Callable[[], dict[str, Any]]  # what the daemon adds to heartbeats: {"models", "alarms", "roster"}


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


@dataclass(frozen=True, slots=True)
class InFlight:
    """A batch sent and its answer to come."""

    outgoing: Outgoing
    answer: asyncio.Future[Outcome]


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
        self._rank = {policy.lane: rank for rank, policy in enumerate(lanes)}  # drain order
        self._waiting_since: dict[Lane, float] = {}  # when a lane was first seen with a partial batch
        self._state = SyncState(lanes={lane.value: LaneBacklog() for lane in Lane},
                                rows_sent=dict.fromkeys((lane.value for lane in Lane), 0),
                                bytes_sent=dict.fromkeys((lane.value for lane in Lane), 0))
        self._counts: Counts | None = None
        self.counted = asyncio.Event()  # set once the backlog was counted: a report before says nothing of it
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
        flight: deque[InFlight] = deque()  # batches sent and not yet answered, oldest first
        try:
            while True:
                wait = await self._start_next(flight)
                if wait == 0.0:
                    continue  # one went: look for the next at once
                if not flight:
                    await asyncio.sleep(wait)
                elif await self._answer_of(flight[0], wait):
                    await self._settle(flight)
        finally:
            for sent in flight:
                sent.answer.cancel()
            await asyncio.gather(*(sent.answer for sent in flight), return_exceptions=True)

    async def _start_next(self, flight: deque[InFlight]) -> float:
        """Build and send the next batch if one may go now (0.0), else how long to wait before looking again.

        A lane may send while only batches of its own lane or of later lanes are
        in flight, so events are never held up by bulk answers and bulk never
        overtakes events; a lane that is behind the first one in flight waits
        for its answer. Only a closed breaker lets more than one request out.
        """
        if (wait := self._breaker.wait_s()) > 0:
            return min(wait, self._settings.poll_s)
        if flight and self._breaker.state is not BreakerState.CLOSED:
            return self._settings.poll_s
        lanes = self._lanes
        if flight:
            first = min(self._rank[sent.outgoing.policy.lane] for sent in flight)
            lanes = lanes[:first + 1] if len(flight) < self._settings.max_in_flight else lanes[:first]
        if not lanes:
            return self._settings.poll_s
        outgoing, wait = await asyncio.to_thread(self._next_batch, lanes)  # SQLite and zstd: off the loop
        if outgoing is None:
            return wait
        flight.append(self._send(outgoing))
        return 0.0

    def _next_batch(self, lanes: tuple[LanePolicy, ...]) -> tuple[Outgoing | None, float]:
        """The first of ``lanes`` whose batch may and should go now, or how long to wait before looking again."""
        now = self._clock()
        wait = self._settings.poll_s
        for policy in lanes:
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

    def _send(self, outgoing: Outgoing) -> InFlight:
        """Put the batch on the wire (a body over the limit is answered 413 here: the cloud would)."""
        if len(outgoing.body) > batch.MAX_BODY_BYTES:
            answered: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            answered.set_result(TooLarge(f"over {batch.MAX_BODY_BYTES} bytes compressed"))
            return InFlight(outgoing, answered)
        lane = outgoing.policy.lane.value
        outgoing.policy.bucket.spend(len(outgoing.body))
        self._state = replace(self._state, bytes_sent={**self._state.bytes_sent,
                                                       lane: self._state.bytes_sent[lane] + len(outgoing.body)})
        return InFlight(outgoing, asyncio.ensure_future(self._client.post_batch(outgoing.body)))

    async def _answer_of(self, sent: InFlight, wait: float) -> bool:
        """Wait for the oldest batch's answer, at most ``wait`` when an earlier lane could still go meanwhile."""
        can_overtake = self._rank[sent.outgoing.policy.lane] > 0
        done, _ = await asyncio.wait({sent.answer}, timeout=wait if can_overtake else None)
        return bool(done)

    async def _settle(self, flight: deque[InFlight]) -> None:
        """Apply the oldest answer. When it left a chunk unconfirmed, the batches behind it cannot move marks
        past it: their answers are applied as far as they connect, and reading starts again at the marks."""
        sent = flight.popleft()
        outcome = sent.answer.result()
        self._answered(sent.outgoing, outcome)
        if self._confirmed(sent.outgoing):
            lane = sent.outgoing.policy.lane
            self._limits[lane] = min(self._settings.max_rows, self._limits[lane] * 2)  # grows back after a 413
            return
        outcomes = [outcome]
        while flight:
            behind = flight.popleft()
            outcomes.append(await behind.answer)
            self._answered(behind.outgoing, outcomes[-1])
        self._reader.rewind()
        if any(isinstance(o, Unavailable) for o in outcomes):
            await asyncio.sleep(self._backoff.next_delay())

    def _confirmed(self, outgoing: Outgoing) -> bool:
        """Every chunk's mark reached the chunk's end (durable, or quarantined and moved past)."""
        return all(self._outbox.high_water_mark(read.chunk.table) >= read.chunk.last_id for read in outgoing.reads)

    def _answered(self, outgoing: Outgoing, outcome: Outcome) -> None:
        if isinstance(outcome, Accepted):
            self._receipt(outgoing, outcome.receipt)
            self._succeeded()
        elif isinstance(outcome, Invalid):  # the cloud answered: the link is fine, the batch is not
            for read in outgoing.reads:
                self._quarantine(read, outcome.reason)
            self._succeeded()
        elif isinstance(outcome, TooLarge):
            self._too_large(outgoing, outcome.reason)
        elif isinstance(outcome, Refused):
            self._failed(outcome.reason)
            self._breaker.trip()
        else:
            assert isinstance(outcome, Unavailable)
            self._failed(outcome.reason)
            self._breaker.failure()

    def _connects(self, read: TableRead) -> bool:
        """The chunk starts where its table's mark is: every row before it is in the cloud (or quarantined)."""
        return self._outbox.high_water_mark(read.chunk.table) >= read.after

    def _receipt(self, outgoing: Outgoing, receipt: batch.Receipt) -> None:
        durable = {d.key for d in receipt.durable}
        rejected = {r.key: r.reason for r in receipt.rejected}
        lane = outgoing.policy.lane.value
        sent = missing = 0
        for read in outgoing.reads:
            chunk = read.chunk
            key = chunk.key(self._device)
            if not self._connects(read):
                continue  # an earlier chunk of its table is not confirmed: this one goes again after it
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
        if not self._connects(read):
            return  # it goes again once the chunks before it are confirmed, and is refused again then
        chunk = read.chunk
        self._outbox.quarantine(chunk.table, chunk.first_id, chunk.last_id, chunk.key(self._device), reason,
                                chunk.rows)
        what = f"{chunk.table} {chunk.first_id}-{chunk.last_id}: {reason}"
        log.error("sync: the cloud refused %s; quarantined, moving on", what)
        state = self._state
        self._state = replace(state, quarantined=state.quarantined + 1,
                              quarantined_rows=state.quarantined_rows + chunk.rows, last_quarantine=what)

    def _succeeded(self) -> None:
        self._backoff.reset()
        self._breaker.success()
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
            "roster": context.get("roster", {}), "software": __version__,
        }

    async def _count(self) -> None:
        while True:
            started = time.perf_counter()
            self._counts = await asyncio.to_thread(self._backlog.count)
            self.counted.set()
            cost = time.perf_counter() - started
            await asyncio.sleep(max(COUNT_EVERY_S, COUNT_COST_FACTOR * cost))
