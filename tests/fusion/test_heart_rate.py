"""Sustained heart-rate rules and the meaning of the contact bits."""
from __future__ import annotations

from edge_runtime.alarms.model import AlarmKind, Priority
from firmware_bridge.readings import Contact, HeartRate, Motion

from .support import Harness


def pulse(h: Harness, bpm: int, seconds: int, contact: Contact = Contact.DETECTED, worker: str = "wb07") -> None:
    """One 0x2A37 reading per second (Ana is 30: the high limit is 180 - 30 = 150 bpm)."""
    for _ in range(seconds):
        h.feed(worker, HeartRate(bpm, contact))
        h.advance(1)


def test_sustained_high_heart_rate_is_heat_strain() -> None:
    h = Harness()
    pulse(h, 160, 299)
    assert h.of("hr") == []
    pulse(h, 160, 2)
    u = h.last("hr", "w07")
    assert u.active and u.kind is AlarmKind.HR_HIGH and u.priority is Priority.MEDIUM
    assert (u.threshold, u.direction) == (150, "high")
    assert "heart rate over 150 bpm (180 - age) for 5 min" in u.message


def test_a_transient_spike_restarts_the_timer() -> None:
    h = Harness()
    pulse(h, 160, 240)
    pulse(h, 140, 5)
    pulse(h, 160, 240)
    assert h.of("hr") == []


def test_high_clears_only_past_the_deadband() -> None:
    h = Harness()
    pulse(h, 165, 301)
    pulse(h, 147, 30)  # within 5 bpm of 150: held
    assert h.active("hr", "w07")
    pulse(h, 144, 1)
    assert not h.active("hr", "w07") and len(h.of("hr")) == 2


def test_sustained_low_heart_rate_is_an_advisory() -> None:
    h = Harness()
    pulse(h, 38, 601)
    u = h.last("hr", "w07")
    assert u.kind is AlarmKind.HR_LOW and u.priority is Priority.LOW and u.direction == "low"


def test_a_gap_in_valid_readings_restarts_the_sustain_timer() -> None:
    h = Harness()
    pulse(h, 160, 200)
    pulse(h, 0, 70, Contact.NOT_DETECTED)  # strap slipped for longer than no_signal_s
    pulse(h, 160, 200)
    assert h.of("hr") == []


def test_no_contact_is_no_signal_never_an_emergency() -> None:
    h = Harness()
    pulse(h, 72, 10)
    pulse(h, 72, 58, Contact.NOT_DETECTED)  # contact bits say "not detected": the 72 is noise
    assert h.of("hr_signal") == []
    pulse(h, 72, 2, Contact.NOT_DETECTED)  # 60 s since the last valid reading
    u = h.last("hr_signal", "w07")
    assert u.active and u.kind is AlarmKind.HR_NO_SIGNAL and u.priority is Priority.LOW
    assert "not in contact" in u.message
    assert h.of("man_down") == [] and h.of("hr") == []
    pulse(h, 75, 1)
    assert not h.active("hr_signal", "w07")


def test_bpm_zero_with_contact_is_also_no_signal() -> None:
    h = Harness()
    pulse(h, 0, 62, Contact.DETECTED)
    assert h.kind("hr_signal", "w07") is AlarmKind.HR_NO_SIGNAL


def test_no_signal_is_not_raised_for_a_wearable_that_lost_its_link() -> None:
    h = Harness()
    pulse(h, 72, 5)
    h.advance(120)  # nothing at all: the link is lost, that is LINK_LOST's job
    assert h.of("hr_signal") == []
    assert h.active("link", "wb07")


def test_accelerometer_only_wearable_without_hr_raises_nothing() -> None:
    h = Harness()
    for _ in range(100):
        h.feed("wb07", Motion(0.3, 0.2, 1.2))
        h.advance(1)
    assert h.of("hr_signal") == []
