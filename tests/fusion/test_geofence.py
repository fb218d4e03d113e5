"""Occupancy hysteresis and dwell, and the restricted / confined-space rules."""
from __future__ import annotations

from edge_runtime.alarms.model import AlarmKind, Priority

from .support import Harness, site

# z1 "Tank 3" is the square (0,0)-(40,40), dwell 5 s; with HDOP 1 and UERE 5 m the margin is 10 m.


def walk(h: Harness, device: str, points: list[tuple[float, float]], every: float = 1.0, hdop: float = 1.0) -> None:
    for x, y in points:
        h.fix(device, x, y, hdop)
        h.advance(every)


def keep_detector_alive(h: Harness) -> None:
    for gas, value in (("O2", 20.9), ("CO", 0.0), ("H2S", 0.0), ("LEL", 0.0)):
        h.gas("pd07", gas, value)


def test_a_fix_jittering_on_the_boundary_never_flaps() -> None:
    h = Harness()
    walk(h, "gp07", [(38.0 + 4.0 * (i % 2), 20.0) for i in range(120)])
    assert h.engine.zone_occupants("z1") == set()
    assert h.of("geofence:z1") == []


def test_enter_after_dwell_then_jitter_inside_the_band_keeps_occupancy() -> None:
    h = Harness()
    keep_detector_alive(h)
    walk(h, "gp07", [(60.0, 20.0), (45.0, 20.0), (31.0, 20.0)])  # depth 9: not yet
    assert h.engine.zone_occupants("z1") == set()
    walk(h, "gp07", [(29.0, 20.0)] * 4)  # depth 11, dwelling
    assert h.engine.zone_occupants("z1") == set()
    h.advance(1.5)
    assert h.engine.zone_occupants("z1") == {"w07"}
    assert h.engine.worker_view("w07")["zones"] == ["z1"]
    walk(h, "gp07", [(38.0 + 8.0 * (i % 2), 20.0) for i in range(30)])  # out by up to 6 m: not left
    assert h.engine.zone_occupants("z1") == {"w07"}
    walk(h, "gp07", [(51.0, 20.0)])
    assert h.engine.zone_occupants("z1") == set()


def test_a_brief_incursion_shorter_than_the_dwell_is_not_an_entry() -> None:
    h = Harness()
    walk(h, "gp09", [(20.0, 20.0), (20.0, 21.0), (20.0, 22.0), (-20.0, 20.0)])
    h.advance(30)
    assert h.engine.zone_occupants("z1") == set()
    assert h.of("geofence:z1") == []


def test_a_poor_fix_widens_the_margin_up_to_the_cap() -> None:
    h = Harness()
    walk(h, "gp09", [(25.0, 20.0)] * 8, hdop=1.0)
    assert "w09" in h.engine.zone_occupants("z1")
    walk(h, "gp09", [(55.0, 20.0)], hdop=2.0)  # 15 m outside, margin min(15, 2*2*5=20) = 15: left
    assert h.engine.zone_occupants("z1") == set()


def test_a_zone_smaller_than_the_gps_error_can_still_be_entered() -> None:
    cfg = site()
    cfg["zones"].append({"id": "mh1", "name": "Manhole", "hazard": "confined_space", "dwell_s": 0,
                         "polygon": [[500, 500], [504, 500], [504, 504], [500, 504]]})
    h = Harness(cfg)
    walk(h, "gp09", [(502.0, 501.5)], hdop=1.5)  # depth 1.5 >= max_depth/2 = 1
    assert h.engine.zone_occupants("mh1") == {"w09"}


def test_restricted_zone_needs_authorisation() -> None:
    h = Harness()
    walk(h, "gp07", [(120.0, 20.0)] * 2)  # Ana is authorised for z2
    walk(h, "gp08", [(120.0, 20.0)] * 2)  # Ben is not
    assert h.of("geofence:z2", "w07") == []
    u = h.last("geofence:z2", "w08")
    assert u.active and u.kind is AlarmKind.GEOFENCE and u.priority is Priority.MEDIUM and u.zone == "z2"
    assert u.message == "Ben (w08) in Substation (z2) is not authorised for this restricted zone"
    walk(h, "gp08", [(160.0, 20.0)])
    assert not h.active("geofence:z2", "w08")


def test_confined_space_needs_a_working_gas_monitor() -> None:
    h = Harness()
    keep_detector_alive(h)
    walk(h, "gp07", [(20.0, 20.0)] * 7)
    walk(h, "gp09", [(22.0, 20.0)] * 7)  # Cara carries no detector
    assert h.of("geofence:z1", "w07") == []
    u = h.last("geofence:z1", "w09")
    assert u.active and "no working portable gas detector" in u.message
    walk(h, "gp07", [(20.0, 20.0)] * 30)  # Ana's detector goes quiet while she is inside
    u = h.last("geofence:z1", "w07")
    assert u.active and u.notify.workers == ("w07", "w09")  # she and the attendant
    keep_detector_alive(h)
    assert not h.active("geofence:z1", "w07")


def test_a_stale_position_never_clears_occupancy_or_its_alarm() -> None:
    h = Harness()
    walk(h, "gp08", [(120.0, 20.0)] * 2)
    assert h.active("geofence:z2", "w08")
    h.advance(600)  # the tag goes quiet inside the substation
    assert h.active("position", "w08")
    assert h.active("geofence:z2", "w08")
    assert h.engine.zone_occupants("z2") == {"w08"}
    assert [u.active for u in h.of("geofence:z2")] == [True]


def test_a_pending_entry_completes_when_gps_is_lost_inside() -> None:
    h = Harness()
    walk(h, "gp09", [(20.0, 20.0)])  # then nothing: GPS lost under the tank roof
    h.advance(10)
    assert h.engine.zone_occupants("z1") == {"w09"}
