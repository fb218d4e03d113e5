"""Claims and leases: why a job never runs twice at once, and why a killed worker's job still finishes.

huey delivers a task once to one worker, but it may deliver it again (a
periodic re-send, a retry, two services enqueueing) and, above all, it does
not redeliver a task whose worker was killed: the message left the queue when
the worker took it. So the queue only says "run job N, attempt A" and the
database decides. A worker **claims** the attempt with one conditional UPDATE
(``state = 'queued' AND attempt = A``), which sets a lease (owner, expiry);
only one UPDATE can match, on SQLite and PostgreSQL alike. Every later write
of that attempt is conditional on still holding the lease, which the runner
renews while the steps run. A periodic task (:meth:`Leases.reap`) finds
leases that expired (a killed or frozen worker) and puts the job back in the
queue as attempt A+1, up to ``max_attempts``, else marks it failed with why;
a frozen worker that wakes finds its lease gone and stops.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from .context import LogLine, RunContext
from .jobs import Job, job_of
from .settings import JobSettings
from .states import RUNNING, State
from .tables import training_jobs, training_logs

J = training_jobs.c
_RUNNING = [s.value for s in RUNNING]


@dataclass(frozen=True, slots=True)
class Attempt:
    """A claimed attempt: what every conditional write names."""

    job_id: int
    attempt: int
    owner: str


@dataclass(frozen=True, slots=True)
class Retry:
    """What the queue must send after a failed attempt: nothing (``attempt`` None: the job failed)."""

    attempt: int | None
    delay_s: float = 0.0


class Leases:
    def __init__(self, engine: Engine, settings: JobSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock

    def claim(self, job_id: int, attempt: int, owner: str) -> Job | None:
        """Takes the queued attempt for ``owner``; None when it is not queued (taken, finished, superseded)."""
        now = self._clock()
        with self._engine.begin() as conn:
            taken = conn.execute(update(training_jobs).where(
                J.id == job_id, J.attempt == attempt, J.state == State.QUEUED.value).values(
                state=State.PREPROCESSING.value, lease_owner=owner, lease_until=now + self._settings.lease_s,
                started_ts=now, progress=0.0, step=None, timings={})).rowcount
            if not taken:
                return None
            _log(conn, job_id, now, "info", f"attempt {attempt} claimed by {owner}")
            return job_of(conn.execute(select(training_jobs).where(J.id == job_id)).mappings().one())

    def renew(self, held: Attempt) -> bool:
        """Pushes the lease's expiry out; False when it is no longer held."""
        with self._engine.begin() as conn:
            return bool(conn.execute(update(training_jobs).where(*_holding(held)).values(
                lease_until=self._clock() + self._settings.lease_s)).rowcount)

    def write(self, held: Attempt, progress: float, step: str | None, lines: list[LogLine]) -> bool:
        """Progress and log lines of the attempt, in one transaction, if the lease is held."""
        with self._engine.begin() as conn:
            if not conn.execute(update(training_jobs).where(*_holding(held))
                                .values(progress=progress, step=step)).rowcount:
                return False
            if lines:
                conn.execute(insert(training_logs), [{"job_id": held.job_id, "ts": l.ts, "level": l.level,
                                                      "line": l.line} for l in lines])
            return True

    def enter(self, held: Attempt, state: State, timings: dict[str, float]) -> bool:
        with self._engine.begin() as conn:
            return bool(conn.execute(update(training_jobs).where(*_holding(held))
                                     .values(state=state.value, timings=timings)).rowcount)

    def finish(self, held: Attempt, ctx: RunContext, timings: dict[str, float],
               reference: dict[str, list[float]]) -> bool:
        """The attempt is done: its outputs stored, the lease released."""
        now = self._clock()
        with self._engine.begin() as conn:
            done = conn.execute(update(training_jobs).where(*_holding(held)).values(
                state=State.DONE.value, progress=1.0, ended_ts=now, duration_s=now - J.started_ts,
                lease_owner=None, lease_until=None, timings=timings, metrics=ctx.metrics, result=ctx.result,
                data_snapshot_id=ctx.data_snapshot_id, parent_version=ctx.parent_version, reference=reference,
                error=None)).rowcount
            if done:
                _log(conn, held.job_id, now, "info", f"attempt {held.attempt} done")
            return bool(done)

    def fail(self, held: Attempt, error: str, *, final: bool = False) -> Retry | None:
        """A step raised: the next attempt after a backoff, or failed for good (at once when ``final``).
        None when the lease was lost."""
        now = self._clock()
        with self._engine.begin() as conn:
            row = conn.execute(select(J.max_attempts).where(*_holding(held))).first()
            if row is None:
                return None
            last = held.attempt if final else row.max_attempts
            return self._requeue_or_fail(conn, held.job_id, held.attempt, last, error, now,
                                         _holding(held), self._settings.retry_delay(held.attempt))

    def reap(self) -> list[tuple[int, int]]:
        """Expired leases go to their next attempt (or fail); queued jobs long past their time are sent again.
        Returns the (job, attempt) messages to send."""
        now = self._clock()
        send: list[tuple[int, int]] = []
        with self._engine.connect() as conn:
            expired = conn.execute(select(J.id, J.attempt, J.max_attempts, J.lease_owner, J.lease_until).where(
                J.state.in_(_RUNNING), J.lease_until < now)).all()
            stale = conn.execute(select(J.id, J.attempt, J.eligible_ts).where(
                J.state == State.QUEUED.value, J.eligible_ts < now - self._settings.resend_after_s)).all()
        for job in expired:
            error = (f"worker lost: the lease of {job.lease_owner} expired at {job.lease_until:.3f} "
                     f"during attempt {job.attempt} of {job.max_attempts}")
            with self._engine.begin() as conn:
                retry = self._requeue_or_fail(conn, job.id, job.attempt, job.max_attempts, error, now,
                                              [J.id == job.id, J.attempt == job.attempt, J.state.in_(_RUNNING),
                                               J.lease_until < now], 0.0)
            if retry is not None and retry.attempt is not None:
                send.append((job.id, retry.attempt))
        for job in stale:
            with self._engine.begin() as conn:
                if conn.execute(update(training_jobs).where(
                        J.id == job.id, J.attempt == job.attempt, J.state == State.QUEUED.value,
                        J.eligible_ts == job.eligible_ts).values(eligible_ts=now)).rowcount:
                    _log(conn, job.id, now, "warning", f"attempt {job.attempt} was not taken: sent again")
                    send.append((job.id, job.attempt))
        return send

    @staticmethod
    def _requeue_or_fail(conn: Connection, job_id: int, attempt: int, max_attempts: int, error: str, now: float,
                         where: list[ColumnElement[bool]], delay_s: float) -> Retry | None:
        if attempt < max_attempts:
            values: dict[str, Any] = {"state": State.QUEUED.value, "attempt": attempt + 1, "lease_owner": None,
                                      "lease_until": None, "eligible_ts": now + delay_s, "error": error}
            retry = Retry(attempt + 1, delay_s)
            said = f"attempt {attempt} of {max_attempts} failed: {error}; attempt {attempt + 1} in {delay_s:.0f} s"
        else:
            values = {"state": State.FAILED.value, "ended_ts": now, "duration_s": now - J.started_ts,
                      "lease_owner": None, "lease_until": None, "error": error}
            retry = Retry(None)
            said = f"attempt {attempt} of {max_attempts} failed: {error}; the job failed"
        if not conn.execute(update(training_jobs).where(*where).values(**values)).rowcount:
            return None
        _log(conn, job_id, now, "error", said)
        return retry


def _holding(held: Attempt) -> list[ColumnElement[bool]]:
    return [J.id == held.job_id, J.attempt == held.attempt, J.lease_owner == held.owner, J.ended_ts.is_(None)]


def _log(conn: Connection, job_id: int, ts: float, level: str, line: str) -> None:
    conn.execute(insert(training_logs).values(job_id=job_id, ts=ts, level=level, line=line))
