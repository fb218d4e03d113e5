"""Latest fixes, staleness and NO_POSITION."""
from __future__ import annotations

import pytest

from edge_runtime.alarms.model import AlarmKind, Priority, SubjectKind
from firmware_bridge.readings import GpsFix

from .support import ORIGIN, Harness


def test_a_stale_fix_raises_no_position_and_a_new_fix_clears_it() -> None:
    h = Harness()
    h.fix("gp07", 12.0, 34.0)
    h.advance(10)
    assert h.of("position") == []
    h.advance(0.5)
    u = h.last("position", "w07")
    assert u.active and u.kind is AlarmKind.NO_POSITION and u.priority is Priority.LOW
    assert u.notify.workers == ("w07",)
    view = h.engine.worker_view("w07")["position"]
    assert view["stale"] is True and view["x"] == pytest.approx(12.0) and view["age_s"] == pytest.approx(10.5)
    h.fix("gp07", 12.0, 35.0)
    assert not h.active("position", "w07")
    assert h.engine.worker_view("w07")["position"]["stale"] is False


def test_invalid_and_null_island_fixes_do_not_refresh_the_position() -> None:
    h = Harness()
    h.fix("gp07", 5.0, 5.0)
    for _ in range(12):
        h.advance(1)
        h.feed("gp07", GpsFix("GP", "GGA", False, lat=ORIGIN[0], lon=ORIGIN[1], fix_quality=0))
        h.feed("gp07", GpsFix("GP", "RMC", True, lat=0.0, lon=0.0))
    assert h.active("position", "w07")
    assert h.engine.worker_view("w07")["position"]["x"] == pytest.approx(5.0)


def test_repeated_sentences_of_one_epoch_refresh_the_timestamp() -> None:
    h = Harness()
    lat, lon = h.frame.to_latlon(7.0, 8.0)
    for _ in range(20):
        h.feed("gp07", GpsFix("GN", "GGA", True, lat=lat, lon=lon, fix_quality=4, hdop=0.6))
        h.feed("gp07", GpsFix("GN", "GSA", True, fix_type=3, hdop=0.7))
        h.feed("gp07", GpsFix("GN", "RMC", True, lat=lat, lon=lon, speed_mps=0.0))  # no HDOP: GSA's applies
        h.advance(1)
    assert h.of("position") == []
    assert h.engine.worker_view("w07")["position"]["hdop"] == 0.7


def test_a_tag_that_never_reported_raises_nothing() -> None:
    h = Harness()
    h.advance(60)
    assert h.of("position") == []
    assert h.engine.worker_view("w08")["position"] is None


def test_equipment_tags_go_stale_on_the_device() -> None:
    h = Harness()
    h.fix("gpx1", 50.0, 50.0)
    h.advance(11)
    u = h.last("position", "gpx1")
    assert u.active and u.subject.kind is SubjectKind.DEVICE and u.notify.workers == ()
