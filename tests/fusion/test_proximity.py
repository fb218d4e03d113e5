"""Worker-equipment distance bands with hysteresis."""
from __future__ import annotations

from edge_runtime.alarms.model import AlarmKind, Priority

from .support import Harness

CRANE = (300.0, 300.0)  # Crane 1 stands where the config puts it


def at_distance(h: Harness, device: str, d: float) -> None:
    h.fix(device, CRANE[0] + d, CRANE[1])


def test_bands_escalate_one_key_and_leave_with_hysteresis() -> None:
    h = Harness()
    steps = [(10.0, None), (7.0, Priority.MEDIUM), (2.5, Priority.HIGH), (0.8, Priority.CRITICAL),
             (1.2, Priority.CRITICAL), (1.6, Priority.HIGH), (8.3, Priority.MEDIUM), (8.6, None)]
    for d, expected in steps:
        at_distance(h, "gp07", d)
        assert h.priority("proximity:crane1", "w07") is expected, d
    ups = h.of("proximity:crane1", "w07")
    assert [u.active for u in ups] == [True, True, True, True, True, False]
    assert all(u.kind is AlarmKind.PROXIMITY and u.direction == "low" for u in ups)
    assert ups[2].message == "Ana (w07) 0.8 m from Crane 1 (crane1): emergency proximity band (< 1 m)"
    assert ups[2].threshold == 1.0 and ups[2].notify.workers == ("w07",)


def test_gps_tracked_equipment_driving_up_to_a_worker() -> None:
    h = Harness()
    h.fix("gp08", 50.0, 50.0)
    for x in (70.0, 60.0, 55.0, 52.0):
        h.fix("gpx1", x, 50.0)
        h.advance(1)
    u = h.last("proximity:exc1", "w08")
    assert u.active and u.priority is Priority.HIGH and "Excavator (exc1)" in u.message


def test_a_stale_worker_position_neither_raises_nor_clears() -> None:
    h = Harness()
    h.fix("gp08", 50.0, 50.0)
    h.fix("gpx1", 55.0, 50.0)
    assert h.active("proximity:exc1", "w08")
    h.advance(30)  # Ben's tag is stale now
    h.fix("gpx1", 150.0, 50.0)
    assert h.active("proximity:exc1", "w08")
    h.fix("gp09", 10.0, 10.0)
    h.fix("gpx1", 12.0, 10.0)
    assert h.active("proximity:exc1", "w09")
