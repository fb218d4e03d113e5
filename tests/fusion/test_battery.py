"""Low battery on any device."""
from __future__ import annotations

from edge_runtime.alarms.model import AlarmKind, Priority, SubjectKind
from firmware_bridge.readings import Battery

from .support import Harness


def test_low_battery_on_the_device_with_deadband() -> None:
    h = Harness()
    for pct in (50, 11, 9, 10.5, 11.9, 12.5, 12.0):
        h.feed("wb07", Battery(pct))
    ups = h.of("battery", "wb07")
    assert [u.active for u in ups] == [True, False]
    low = ups[0]
    assert low.kind is AlarmKind.LOW_BATTERY and low.priority is Priority.LOW
    assert low.subject.kind is SubjectKind.DEVICE and low.notify.workers == ("w07",)
    assert low.message == "Battery of wb07 carried by Ana (w07) low: 9 % (under 10 %)"
    assert h.engine.worker_view("w07")["battery"] == {"wb07": 12.0}


def test_each_device_has_its_own_battery_alarm() -> None:
    h = Harness()
    h.feed("pd07", Battery(5))
    h.feed("gp07", Battery(6))
    h.feed("fd1", Battery(4))
    assert h.active("battery", "pd07") and h.active("battery", "gp07") and h.active("battery", "fd1")
    assert h.last("battery", "fd1").notify.workers == ()
