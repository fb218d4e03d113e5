"""The update agent's memory in SQLite: what each slot has installed, runs, ran before, refused, and has to report.

It must survive a crash or a reboot at any point: the active and previous
version, why the last install was refused or undone, the watch of a new model
(with the unclean starts during it), and every event not yet acknowledged.
Written on a connection of its own (``SideTable``): a few rows per install,
each needing its answer at once (docs/store.md says why that is safe beside
the store process's writer). Every method blocks: the agent calls them on its
own thread, never on the event loop.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud_sync.contract.rollout import ModelRef, UpdateEvent
from edge_runtime.store.connection import transaction
from edge_runtime.store.side_table import SideTable

_INSTALL_COLUMNS = ("id, slot, name, version, package_sha256, artifact_sha256, path, rollout_id, installed_ts, "
                    "activated_ts, state, reason")
# install states: installed (verified, not yet switched in), active, previous, retired (its files removed),
# refused (never switched in), rolled_back (switched in, then undone)


@dataclass(frozen=True, slots=True)
class Install:
    """One package a slot saw (``path`` is its verified directory; None when it never got that far)."""

    id: int
    slot: str
    name: str
    version: str
    package_sha256: str
    artifact_sha256: str | None
    path: Path | None
    rollout_id: str | None
    installed_ts: float
    activated_ts: float | None
    state: str
    reason: str | None

    @property
    def ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version, sha256=self.artifact_sha256)


@dataclass(frozen=True, slots=True)
class SlotRecord:
    """A slot as last committed."""

    slot: str
    state: str = "idle"
    active: Install | None = None
    previous: Install | None = None
    reason: str | None = None
    refused_sha256: str | None = None  # skipped while the desired state names it
    since_ts: float | None = None
    watch_until: float | None = None  # set while a new model is watched
    latency_budget_ms: float | None = None
    boots: tuple[float, ...] = ()  # unclean starts during the watch


class UpdateState(SideTable):
    """The ``update_*`` tables of an already migrated store file."""

    row_factory = sqlite3.Row

    # ---- the agent's own run -------------------------------------------
    def start_run(self, now: float) -> bool:
        """Mark the agent running; True when the run before ended uncleanly (a crash, a kill, a power cut)."""
        with self._lock:
            conn = self._connection()
            with transaction(conn):
                row = conn.execute("SELECT running FROM update_agent WHERE id = 1").fetchone()
                conn.execute("INSERT INTO update_agent (id, running, ts) VALUES (1, 1, ?) "
                             "ON CONFLICT (id) DO UPDATE SET running = 1, ts = excluded.ts", (now,))
            return bool(row and row["running"])

    def end_run(self, now: float) -> None:
        """A clean stop: the next start is not counted as a crash."""
        with self._lock:
            self._connection().execute("UPDATE update_agent SET running = 0, ts = ? WHERE id = 1", (now,))

    # ---- slots ------------------------------------------------------------
    def slot(self, slot: str) -> SlotRecord:
        with self._lock:
            return self._slot(self._connection(), slot)

    def set_state(self, slot: str, state: str, reason: str | None = None) -> None:
        """The slot's state (and, when given, its reason), without touching what runs."""
        with self._lock:
            conn = self._connection()
            with transaction(conn):
                self._ensure(conn, slot)
                conn.execute("UPDATE update_slots SET state = ?, reason = coalesce(?, reason) WHERE slot = ?",
                             (state, reason, slot))

    def adopt(self, slot: str, ref: ModelRef, path: Path, now: float) -> Install:
        """Record what a slot runs that the agent did not install (the site file's model) as its active one."""
        digest = "adopted:" + (ref.sha256 or f"{ref.name}@{ref.version}")
        with self._lock:
            conn = self._connection()
            with transaction(conn):
                self._ensure(conn, slot)
                install = self._upsert(conn, slot, ref, digest, path, None, now, "active", None)
                conn.execute("UPDATE update_slots SET active_id = ?, since_ts = coalesce(since_ts, ?) WHERE slot = ?",
                             (install.id, now, slot))
            return install

    def installed(self, slot: str, ref: ModelRef, package_sha256: str, path: Path, rollout_id: str | None,
                  now: float) -> Install:
        """A package verified and unpacked at ``path``, not yet switched in."""
        with self._lock:
            conn = self._connection()
            with transaction(conn):
                self._ensure(conn, slot)
                return self._upsert(conn, slot, ref, package_sha256, path, rollout_id, now, "installed", None)

    def install(self, slot: str, package_sha256: str) -> Install | None:
        with self._lock:
            row = self._connection().execute(
                f"SELECT {_INSTALL_COLUMNS} FROM update_installs WHERE slot = ? AND package_sha256 = ?",
                (slot, package_sha256)).fetchone()
            return _install(row)

    def refuse(self, slot: str, ref: ModelRef, package_sha256: str, rollout_id: str | None, reason: str,
               event: UpdateEvent, now: float) -> None:
        """The package will not run here, and why: skipped until the desired state names another."""
        with self._lock:
            conn = self._connection()
            with transaction(conn):
                self._ensure(conn, slot)
                self._upsert(conn, slot, ref, package_sha256, None, rollout_id, now, "refused", reason)
                conn.execute("UPDATE update_slots SET state = 'refused', reason = ?, refused_sha256 = ? WHERE slot = ?",
                             (reason, package_sha256, slot))
                _add_event(conn, event)

    def switched(self, slot: str, new: Install, now: float, watch_until: float,
                 latency_budget_ms: float | None) -> list[Install]:
        """``new`` runs (committed before the slot loads it: a crash while it loads is a start during its watch),
        the one before is previous, the new one is watched; returns the installs to retire."""
        with self._lock:
            conn = self._connection()
            with transaction(conn):
                record = self._slot(conn, slot)
                conn.execute("UPDATE update_installs SET state = 'active', activated_ts = ? WHERE id = ?",
                             (now, new.id))
                previous_id = record.active.id if record.active is not None and record.active.id != new.id else None
                if previous_id is not None:
                    conn.execute("UPDATE update_installs SET state = 'previous' WHERE id = ?", (previous_id,))
                conn.execute(
                    "UPDATE update_slots SET state = 'watching', active_id = ?, previous_id = ?, reason = NULL, "
                    "since_ts = ?, watch_until = ?, latency_budget_ms = ?, boots = '[]' WHERE slot = ?",
                    (new.id, previous_id, now, watch_until, latency_budget_ms, slot))
                stale = conn.execute(
                    f"SELECT {_INSTALL_COLUMNS} FROM update_installs WHERE slot = ? AND path IS NOT NULL "
                    "AND state IN ('previous', 'installed') AND id NOT IN (?, ?)",
                    (slot, new.id, previous_id if previous_id is not None else -1)).fetchall()
                conn.execute(f"UPDATE update_installs SET state = 'retired' WHERE id IN ({','.join('?' * len(stale))})",
                             [r["id"] for r in stale])
            return [i for i in map(_install, stale) if i is not None]

    def watched(self, slot: str) -> None:
        """The watch ended without a problem: the new model is simply active."""
        with self._lock:
            self._connection().execute(
                "UPDATE update_slots SET state = 'active', watch_until = NULL, boots = '[]' WHERE slot = ?", (slot,))

    def undo(self, slot: str, outcome: str, reason: str, event: UpdateEvent, now: float) -> Install | None:
        """The active model is undone (``outcome``: rolled_back after a watch's signal, refused when it never
        loaded) and the previous one runs again; returns the undone install (to retire)."""
        with self._lock:
            conn = self._connection()
            with transaction(conn):
                record = self._slot(conn, slot)
                undone, previous = record.active, record.previous
                if undone is not None:
                    conn.execute("UPDATE update_installs SET state = ?, reason = ? WHERE id = ?",
                                 (outcome, reason, undone.id))
                if previous is not None:
                    conn.execute("UPDATE update_installs SET state = 'active' WHERE id = ?", (previous.id,))
                conn.execute(
                    "UPDATE update_slots SET state = ?, active_id = ?, previous_id = NULL, reason = ?, "
                    "refused_sha256 = ?, since_ts = ?, watch_until = NULL, boots = '[]' WHERE slot = ?",
                    (outcome, previous.id if previous else None, reason, undone.package_sha256 if undone else None,
                     now, slot))
                _add_event(conn, event)
            return undone

    def add_event(self, event: UpdateEvent) -> None:
        with self._lock:
            _add_event(self._connection(), event)

    def count_boot(self, slot: str, now: float, window_s: float) -> tuple[float, ...]:
        """An unclean start during the watch: the starts within ``window_s`` up to now, this one included."""
        with self._lock:
            conn = self._connection()
            with transaction(conn):
                boots = tuple(t for t in self._slot(conn, slot).boots if now - t <= window_s) + (now,)
                conn.execute("UPDATE update_slots SET boots = ? WHERE slot = ?", (json.dumps(boots), slot))
            return boots

    # ---- events -----------------------------------------------------------
    def pending_events(self, limit: int) -> list[tuple[int, UpdateEvent]]:
        with self._lock:
            rows = self._connection().execute("SELECT id, event FROM update_events ORDER BY id LIMIT ?", (limit,))
            return [(r["id"], UpdateEvent.model_validate_json(r["event"])) for r in rows.fetchall()]

    def count_events(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT count(*) FROM update_events").fetchone()[0])

    def acknowledged(self, ids: list[int]) -> None:
        """Delete events the cloud took (after a report's 200, never before)."""
        if ids:
            with self._lock:
                self._connection().execute(f"DELETE FROM update_events WHERE id IN ({','.join('?' * len(ids))})", ids)

    # ---- rows ---------------------------------------------------------------
    def _ensure(self, conn: sqlite3.Connection, slot: str) -> None:
        conn.execute("INSERT OR IGNORE INTO update_slots (slot, state) VALUES (?, 'idle')", (slot,))

    def _slot(self, conn: sqlite3.Connection, slot: str) -> SlotRecord:
        row = conn.execute("SELECT * FROM update_slots WHERE slot = ?", (slot,)).fetchone()
        if row is None:
            return SlotRecord(slot)
        by_id = {r["id"]: _install(r) for r in conn.execute(
            f"SELECT {_INSTALL_COLUMNS} FROM update_installs WHERE id IN (?, ?)",
            (row["active_id"], row["previous_id"]))}
        return SlotRecord(slot, row["state"], by_id.get(row["active_id"]), by_id.get(row["previous_id"]),
                          row["reason"], row["refused_sha256"], row["since_ts"], row["watch_until"],
                          row["latency_budget_ms"], tuple(json.loads(row["boots"])))

    def _upsert(self, conn: sqlite3.Connection, slot: str, ref: ModelRef, package_sha256: str, path: Path | None,
                rollout_id: str | None, now: float, state: str, reason: str | None) -> Install:
        row = conn.execute(
            "INSERT INTO update_installs (slot, name, version, package_sha256, artifact_sha256, path, rollout_id, "
            "installed_ts, state, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (slot, package_sha256) DO UPDATE SET name = excluded.name, version = excluded.version, "
            "artifact_sha256 = coalesce(excluded.artifact_sha256, artifact_sha256), "
            "path = coalesce(excluded.path, path), rollout_id = coalesce(excluded.rollout_id, rollout_id), "
            f"state = excluded.state, reason = excluded.reason RETURNING {_INSTALL_COLUMNS}",
            (slot, ref.name, ref.version, package_sha256, ref.sha256, str(path) if path else None, rollout_id, now,
             state, reason)).fetchone()
        install = _install(row)
        assert install is not None
        return install


def _add_event(conn: sqlite3.Connection, event: UpdateEvent) -> None:
    conn.execute("INSERT INTO update_events (ts, event) VALUES (?, ?)", (event.ts, event.model_dump_json()))


def _install(row: Any) -> Install | None:
    if row is None:
        return None
    return Install(row["id"], row["slot"], row["name"], row["version"], row["package_sha256"], row["artifact_sha256"],
                   Path(row["path"]) if row["path"] else None, row["rollout_id"], row["installed_ts"],
                   row["activated_ts"], row["state"], row["reason"])
