"""Whether storage works, as the node shows it: ``/readyz``, the dashboard, and a technical alarm.

The alarm is like a detector fault or an offline camera: STORAGE_FAILED on
``device:storage``, for the site's supervisors, raised while the database
cannot be written and cleared when it can again. Alarms keep sounding
meanwhile; what the alarm says is that their history is only held (memory,
spill file), not yet kept.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from edge_runtime.alarms.model import AlarmKind, ConditionUpdate, Notify, Priority, Subject, SubjectKind
from edge_runtime.config import SiteConfig

SUBJECT = Subject(SubjectKind.DEVICE, "storage")
CONDITION = "storage"


@dataclass(frozen=True, slots=True)
class StorageHealth:
    writable: bool  # the database takes writes
    reason: str  # why not ("" while it does)
    held: int  # alarm writes waiting for it (memory, spill files)
    spilled: int  # alarm writes appended to a spill file since start
    lost: int  # alarm writes kept nowhere: the journal was full and the spill file could not take them

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class StorageFaultAlarm:
    """Turns storage health into condition reports, on change only; the first check always reports, so an
    alarm restored from an earlier failure clears at once when storage works now."""

    def __init__(self, priority: Priority, notify: Notify, emit: Callable[[ConditionUpdate], None]) -> None:
        self._priority = priority
        self._notify = notify
        self._emit = emit
        self._failed: bool | None = None  # as last reported (None: not yet)

    @classmethod
    def for_site(cls, config: SiteConfig, emit: Callable[[ConditionUpdate], None]) -> StorageFaultAlarm:
        """Told to the site's supervisors, at the configured priority."""
        supervisors = tuple(w.id for w in config.workers if w.role == "supervisor")
        return cls(config.alarms.for_kind(AlarmKind.STORAGE_FAILED).priority, Notify(workers=supervisors), emit)

    def check(self, health: StorageHealth, ts: float) -> None:
        failed = not health.writable
        if failed == self._failed:
            return
        self._failed = failed
        message = (
            f"Storage failed ({health.reason}): alarms are still raised and sent, their history is held "
            "until the database takes writes again"
            if failed else "Storage writable again: the held alarm history is being written"
        )
        self._emit(ConditionUpdate(SUBJECT, CONDITION, AlarmKind.STORAGE_FAILED, failed, self._priority, message,
                                   ts, notify=self._notify))
