"""The fusion rules of DOMAIN.md: who hears about gas, evacuation, man-down."""
from __future__ import annotations

from edge_runtime.alarms.model import AlarmKind, Priority, SubjectKind
from firmware_bridge.readings import Contact, HeartRate, Motion

from .support import Harness

STILL = Motion(0.0, 0.02, 1.0)


def enter(h: Harness, gps: str, x: float = 20.0, y: float = 20.0) -> None:
    """Walk into Tank 3 (z1) and stay past its 5 s dwell."""
    for _ in range(7):
        h.fix(gps, x, y)
        h.advance(1)


def detectors_alive(h: Harness) -> None:
    for device in ("pd07", "pd08"):
        for gas, value in (("O2", 20.9), ("CO", 0.0), ("H2S", 0.0), ("LEL", 0.0)):
            h.gas(device, gas, value)


def test_portable_detector_alerts_only_its_worker() -> None:
    h = Harness()
    detectors_alive(h)
    enter(h, "gp07")
    enter(h, "gp08", 25.0)
    h.gas("pd07", "H2S", 12.0)
    u = h.last("gas:H2S", "w07")
    assert u.notify.workers == ("w07",) and u.notify.sirens == ()
    assert h.of("zone_gas:H2S") == [] and h.of("evacuate") == []


def test_fixed_detector_alerts_the_zone_and_sounds_its_siren() -> None:
    h = Harness()
    detectors_alive(h)
    enter(h, "gp07")
    h.gas("fd1", "H2S", 12.0)
    u = h.last("zone_gas:H2S", "z1")
    assert u.active and u.kind is AlarmKind.ZONE_GAS and u.priority is Priority.HIGH
    assert u.subject.kind is SubjectKind.ZONE and u.zone == "z1"
    assert u.notify.workers == ("w07", "w09") and u.notify.sirens == ("z1",)  # occupant + attendant
    assert u.message == ("H2S 12.0 ppm over low set point 10 ppm on fixed detector fd1 in Tank 3 (z1): "
                         "everyone in the zone alerted")
    enter(h, "gp08", 25.0)  # Ben walks in while it is active: he is told too
    assert h.last("zone_gas:H2S", "z1").notify.workers == ("w07", "w08", "w09")
    h.gas("fd1", "H2S", 2.0)
    assert not h.active("zone_gas:H2S", "z1")


def test_fixed_detector_over_range_is_critical_for_the_zone() -> None:
    h = Harness()
    h.gas("fd1", "LEL", 100.0)
    u = h.last("zone_gas:LEL", "z1")
    assert u.priority is Priority.CRITICAL and "explosion hazard" in u.message


def test_two_fixed_detectors_evacuate_the_zone() -> None:
    h = Harness()
    detectors_alive(h)
    enter(h, "gp07")
    h.gas("fd1", "H2S", 12.0)
    assert h.of("evacuate") == []
    h.gas("fd2", "H2S", 11.0)
    u = h.last("evacuate", "z1")
    assert u.active and u.kind is AlarmKind.ZONE_EVACUATE and u.priority is Priority.CRITICAL
    assert u.notify.sirens == ("z1",) and u.notify.workers == ("w07", "w09")
    assert u.message == "Evacuate Tank 3 (z1): 2 detectors beyond a gas set point (fd1, fd2)"
    assert "and 1 more detector" in h.last("zone_gas:H2S", "z1").message
    h.gas("fd2", "H2S", 1.0)
    assert not h.active("evacuate", "z1")


def test_fixed_plus_the_portable_of_a_worker_inside_evacuate() -> None:
    h = Harness()
    detectors_alive(h)
    h.gas("fd1", "LEL", 12.0)
    h.gas("pd07", "H2S", 12.0)  # Ana is still outside the tank
    assert h.of("evacuate") == []
    enter(h, "gp07")
    assert h.active("evacuate", "z1")
    for _ in range(3):
        h.fix("gp07", 70.0, 20.0)  # she leaves: one detector remains
        h.advance(1)
    assert not h.active("evacuate", "z1")


def test_two_workers_portables_inside_evacuate() -> None:
    h = Harness()
    detectors_alive(h)
    enter(h, "gp07")
    enter(h, "gp08", 25.0)
    h.gas("pd07", "CO", 40.0)
    h.gas("pd08", "O2", 19.0)
    u = h.last("evacuate", "z1")
    assert u.active and "pd07, pd08" in u.message


def test_portables_in_a_nested_zone_evacuate_only_the_inner_zone() -> None:
    """A tank inside the yard: a leak the entrants carry out of the tank's air
    evacuates the tank, not the whole yard around it."""
    from .support import site

    base = site()
    yard = {"id": "z4", "name": "Big yard", "dwell_s": 0, "polygon": [[-50, -50], [90, -50], [90, 90], [-50, 90]]}
    h = Harness(site(zones=[*base["zones"], yard]))
    detectors_alive(h)
    enter(h, "gp07")
    enter(h, "gp08", 25.0)
    h.gas("pd07", "H2S", 25.0)
    h.gas("pd08", "H2S", 25.0)
    assert h.active("evacuate", "z1")
    assert not h.active("evacuate", "z4")


def lie_still(h: Harness, seconds: float, bpm: int, contact: Contact = Contact.DETECTED) -> None:
    for _ in range(int(seconds)):
        for _ in range(10):
            h.feed("wb07", STILL)
        h.feed("wb07", HeartRate(bpm, contact))
        h.advance(1)


def test_man_down_with_missing_pulse_is_critical() -> None:
    h = Harness()
    lie_still(h, 100, 80)
    lie_still(h, 52, 0, Contact.NOT_DETECTED)
    u = h.last("man_down", "w07")
    assert u.kind is AlarmKind.MAN_DOWN and u.priority is Priority.CRITICAL
    assert "heart rate missing" in u.message and "possible medical emergency" in u.message
    assert [x.kind for x in h.of("man_down")] == [AlarmKind.MAN_DOWN]


def test_man_down_with_normal_pulse_escalates_when_it_turns_abnormal_and_stays() -> None:
    h = Harness()
    lie_still(h, 152, 80)
    assert h.kind("man_down", "w07") is AlarmKind.NO_MOTION
    lie_still(h, 2, 165)  # above 150 (180 - 30): abnormal now, no need to be sustained
    assert h.kind("man_down", "w07") is AlarmKind.MAN_DOWN
    lie_still(h, 10, 80)
    assert h.kind("man_down", "w07") is AlarmKind.MAN_DOWN  # no flapping back
    assert [x.kind for x in h.of("man_down")] == [AlarmKind.NO_MOTION, AlarmKind.MAN_DOWN]


def test_man_down_when_the_pulse_stops_arriving() -> None:
    h = Harness()
    for _ in range(152):
        for _ in range(10):
            h.feed("wb07", STILL)
        if h.t < 1_700_000_100:
            h.feed("wb07", HeartRate(80, Contact.DETECTED))
        h.advance(1)
    assert h.kind("man_down", "w07") is AlarmKind.MAN_DOWN
    assert "no heart-rate data" in h.last("man_down", "w07").message


def test_man_down_in_a_confined_space_alerts_the_attendant_and_sounds_the_siren() -> None:
    h = Harness()
    detectors_alive(h)
    enter(h, "gp07")
    lie_still(h, 145, 80)
    h.fix("gp08", 30.0, 20.0)  # Ben, 10 m from where Ana's tag last reported (a fresh fix)
    lie_still(h, 7, 80)
    u = h.last("man_down", "w07")
    assert u.kind is AlarmKind.NO_MOTION and u.zone == "z1"
    assert u.notify.sirens == ("z1",)
    assert set(u.notify.workers) == {"w07", "s01", "w08", "w09"}
    assert "confined space Tank 3 (z1): attendant alerted, siren on" in u.message


def test_a_wearable_that_goes_quiet_is_a_lost_link_not_a_man_down() -> None:
    h = Harness()
    for _ in range(20):  # working normally
        h.feed("wb07", Motion(0.4, 0.1, 1.3))
        h.feed("wb07", HeartRate(90, Contact.DETECTED))
        h.advance(1)
    h.advance(400)  # then nothing at all: battery pulled, out of radio range
    assert h.of("man_down") == [] and h.pre_alarms == []
    assert h.active("link", "wb07")


def test_missing_pulse_alone_is_never_man_down() -> None:
    h = Harness()
    for _ in range(300):
        h.feed("wb07", Motion(0.4, 0.1, 1.3))
        h.feed("wb07", HeartRate(0, Contact.NOT_DETECTED))
        h.advance(1)
    assert h.of("man_down") == []
    assert h.active("hr_signal", "w07")
