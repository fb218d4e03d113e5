"""The append-only record of which model each device ran in each slot, and since when.

A heartbeat names the model in every slot (a camera id, or ``risk``). A row
is appended only when a slot's model (name, version, sha256) differs from
the device's last row for that slot, and a slot that stops being reported
gets a row with no model; so the table grows with changes, not heartbeats.

"What ran on device X at time T" is, per slot, the newest row with
``from_ts <= T``. The slots of a device are found with a recursive query that
hops from one slot to the next through the index (a loose index scan: one
seek per slot, however many rows the device has), then each slot's row is
one seek on ``(device_id, slot, from_ts, seq)``: both dialects answer in
milliseconds at a million rows.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from pydantic import BaseModel
from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from .errors import ModelRegistryError
from .records import ModelRef
from .tables import model_activity

ReportedModel = ModelRef | BaseModel | Mapping[str, Any]
"""A slot's entry: a ModelRef, any model with name/version/sha256 (the heartbeat's), or a dict."""
APPEND_ATTEMPTS = 3  # a concurrent append of the same device wins; re-read and try again this often
MAX_SLOTS = 256

_SLOTS = """
WITH RECURSIVE slots(slot) AS (
    SELECT MIN(slot) FROM model_activity WHERE device_id = :device
    UNION ALL
    SELECT (SELECT MIN(m.slot) FROM model_activity m WHERE m.device_id = :device AND m.slot > slots.slot)
    FROM slots WHERE slots.slot IS NOT NULL
)
"""
_LATEST = text(_SLOTS + """
SELECT a.* FROM slots JOIN model_activity a ON a.id = (
    SELECT b.id FROM model_activity b WHERE b.device_id = :device AND b.slot = slots.slot
    ORDER BY b.seq DESC LIMIT 1)
""")
_AT = text(_SLOTS + """
SELECT a.* FROM slots JOIN model_activity a ON a.id = (
    SELECT b.id FROM model_activity b WHERE b.device_id = :device AND b.slot = slots.slot AND b.from_ts <= :ts
    ORDER BY b.from_ts DESC, b.seq DESC LIMIT 1)
ORDER BY a.slot
""")


@dataclass(frozen=True, slots=True)
class ActivityRow:
    slot: str
    seq: int
    name: Optional[str]
    version: Optional[str]
    sha256: Optional[str]
    from_ts: float
    reported_ts: float

    @property
    def model(self) -> tuple[str | None, str | None, str | None]:
        return self.name, self.version, self.sha256


@dataclass(frozen=True, slots=True)
class Running:
    """A slot's model at some time (what :meth:`ActivityLog.at` returns)."""

    slot: str
    name: str
    version: str
    sha256: Optional[str]
    from_ts: float
    reported_ts: float


class ActivityLog:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def record(self, device_id: str, models: Mapping[str, ReportedModel], reported_ts: float | None = None, *,
               from_ts: float | None = None, keep: Collection[str] = ()) -> int:
        """Appends the changed slots of this report; returns how many rows were appended.

        A slot missing from ``models`` is recorded as running nothing, unless it is in ``keep``: the slots
        another kind of report owns (heartbeats name cameras, update reports the ``camera``/``risk`` slots).
        """
        if len(models) > MAX_SLOTS:
            raise ModelRegistryError(f"{len(models)} model slots reported; at most {MAX_SLOTS}")
        server_ts = self._clock() if reported_ts is None else reported_ts
        device_ts = server_ts if from_ts is None else from_ts
        reported = {slot: _ref(entry) for slot, entry in models.items()}
        for attempt in range(APPEND_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    latest = {slot: row for slot, row in self._latest(conn, device_id).items()
                              if slot in reported or slot not in keep}
                    rows = _changes(latest, reported, device_id, device_ts, server_ts)
                    if rows:
                        conn.execute(insert(model_activity), rows)
                    return len(rows)
            except IntegrityError:
                if attempt == APPEND_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def latest(self, device_id: str) -> dict[str, ActivityRow]:
        """Each slot's newest row (what the device reported last), by slot."""
        with self._engine.connect() as conn:
            return self._latest(conn, device_id)

    def at(self, device_id: str, ts: float) -> list[Running]:
        """Per slot, the model running at device time ``ts`` (slots with none then are left out), by slot."""
        with self._engine.connect() as conn:
            rows = [_row(r) for r in conn.execute(_AT, {"device": device_id, "ts": ts}).mappings()]
        return [Running(r.slot, r.name, r.version, r.sha256, r.from_ts, r.reported_ts)
                for r in rows if r.name is not None and r.version is not None]

    @staticmethod
    def _latest(conn: Connection, device_id: str) -> dict[str, ActivityRow]:
        return {r.slot: r for r in map(_row, conn.execute(_LATEST, {"device": device_id}).mappings())}


def _changes(latest: dict[str, ActivityRow], reported: dict[str, ModelRef], device_id: str, from_ts: float,
             reported_ts: float) -> list[dict[str, Any]]:
    """Rows for the slots whose model differs from their last row, and for slots no longer reported."""
    rows = []
    for slot in sorted(set(latest) | set(reported)):
        last, now = latest.get(slot), reported.get(slot)
        model = (now.name, now.version, now.sha256) if now is not None else (None, None, None)
        if (last.model if last is not None else (None, None, None)) == model:
            continue
        rows.append({"device_id": device_id, "slot": slot, "seq": (last.seq if last else 0) + 1,
                     "name": model[0], "version": model[1], "sha256": model[2], "from_ts": from_ts,
                     "reported_ts": reported_ts})
    return rows


def _ref(entry: ReportedModel) -> ModelRef:
    if isinstance(entry, ModelRef):
        return entry
    data = entry.model_dump() if isinstance(entry, BaseModel) else dict(entry)
    return ModelRef.model_validate({k: data.get(k) for k in ("name", "version", "sha256")})


def _row(r: Mapping[str, Any]) -> ActivityRow:
    return ActivityRow(r["slot"], r["seq"], r["name"], r["version"], r["sha256"], r["from_ts"], r["reported_ts"])
