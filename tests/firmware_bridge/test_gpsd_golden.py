"""Our NMEA decoding agrees with GPSD on GPSD's own regression captures.

Each ``NAME.log.chk`` interleaves the capture's sentences with the JSON GPSD
printed while reading them. A TPV object is GPSD's *accumulated* state for the
current cycle, not a decode of one sentence: after a GSA, its lat/lon are the
GGA's from earlier in the cycle; a GGA with a position may be reported only
once the cycle's RMC arrives. The one thing that is exact is this: GPSD prints a
TPV right after the sentence that completed it, and every GGA, RMC, GLL and
GSA handler sets GPSD's fix mode from that sentence alone (GGA: quality,
position, satellite count; RMC and GLL: status, FAA mode and position; GSA: fix
type). So the rule is:

    For every GGA, RMC, GLL or GSA line directly followed (before the next
    sentence) by TPV objects, and for each of those TPVs:
      * our ``fix_valid`` == (TPV ``mode`` >= 2), both ways - no weaker
        one-directional check;
      * for GGA, RMC and GLL with a valid fix, the TPV has lat/lon and ours
        agree to 1e-6 degrees;
      * where both have a time, the time of day agrees to the millisecond
        (not the date: GPSD's regression harness shifts the year of old
        captures, e.g. 2014 becomes 2034, to test GPS week rollover);
      * for GGA, where both have an altitude, ours equals GPSD's ``altMSL``.

Sentences not directly followed by a TPV cannot be compared this way, and a
looser "same cycle" rule is wrong on real data: the Garmin 25LP sends RMC
status A and, in the same second, GGA with 0 satellites, for which GPSD (and
we) report no fix. They are still decoded, and must all decode without error.
The SkyTraq capture (cold start) must give no valid fix at all, and every
capture must pass through the stream decoder with no rejected frame.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from firmware_bridge.codecs.nmea import decode_nmea
from firmware_bridge.protocols import StreamDecoder
from firmware_bridge.readings import GpsFix

DATA = Path(__file__).parents[2].parent / "shared" / "data" / "nmea"
CAPTURES = sorted(DATA.glob("*.log")) if DATA.is_dir() else []
pytestmark = pytest.mark.skipif(not CAPTURES, reason=f"GPSD captures not found in {DATA}")

# Files whose GPSD output holds positions: each must yield position agreements, so the test cannot pass vacuously.
WITH_POSITIONS = {
    "beidou-bd.log", "bu353-glonass.log", "garmin25lp.log", "gp-320fw-2019-04-06-overflow.log", "hemi.log",
    "mt3339.log", "navika-100-fix.log", "rx210.log", "sirfstarv-nmea.log", "telit-he910.log",
    "ublox-zed-f9p-nmea.log",
}  # fmt: skip
POSITION_SENTENCES = ("GGA", "RMC", "GLL")


@dataclass
class Comparison:
    """What one capture's adjacent sentence/TPV pairs showed."""

    pairs: int = 0
    positions: int = 0
    gll_positions: int = 0
    times: int = 0
    altitudes: int = 0
    failures: list[str] = field(default_factory=list)


def compare(chk: Path) -> Comparison:
    result = Comparison()
    last: tuple[bytes, GpsFix] | None = None
    for raw in chk.read_bytes().split(b"\n"):
        line = raw.strip()
        if line.startswith((b"$", b"!")):
            fix = decode_nmea(line)
            last = (line, fix) if fix is not None else None
        elif line.startswith(b"{") and last is not None:
            tpv = json.loads(line)
            if tpv.get("class") == "TPV":
                check_pair(*last, tpv, result)
    return result


def time_of_day(stamp: str) -> str:
    """``HH:MM:SS.sss`` of an ISO 8601 timestamp, or the stamp itself when it has no date."""
    return stamp[11:23] if "T" in stamp else stamp


def check_pair(sentence: bytes, fix: GpsFix, tpv: dict, result: Comparison) -> None:  # type: ignore[type-arg]
    result.pairs += 1
    where = sentence.decode()
    gpsd_fix = tpv["mode"] >= 2
    if fix.fix_valid != gpsd_fix:
        result.failures.append(f"{where}: fix_valid={fix.fix_valid}, GPSD mode {tpv['mode']}")
    if fix.sentence in POSITION_SENTENCES and fix.fix_valid:
        if "lat" not in tpv or fix.lat is None or fix.lon is None:
            result.failures.append(f"{where}: GPSD TPV without position: {tpv}")
        elif abs(fix.lat - tpv["lat"]) > 1e-6 or abs(fix.lon - tpv["lon"]) > 1e-6:
            result.failures.append(f"{where}: ({fix.lat}, {fix.lon}) vs GPSD ({tpv['lat']}, {tpv['lon']})")
        else:
            result.positions += 1
            result.gll_positions += fix.sentence == "GLL"
    if fix.time is not None and "time" in tpv:
        result.times += 1
        if time_of_day(fix.time) != time_of_day(tpv["time"]):
            result.failures.append(f"{where}: time {fix.time} vs GPSD {tpv['time']}")
    if fix.sentence == "GGA" and fix.alt is not None and "altMSL" in tpv:
        result.altitudes += 1
        if abs(fix.alt - tpv["altMSL"]) > 1e-6:
            result.failures.append(f"{where}: altitude {fix.alt} vs GPSD altMSL {tpv['altMSL']}")


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_agrees_with_gpsd(capture: Path) -> None:
    chk = capture.with_name(capture.name + ".chk")
    assert chk.exists(), f"{chk} missing"
    result = compare(chk)
    assert not result.failures, "\n".join(result.failures[:20])
    assert result.pairs > 0
    if capture.name in WITH_POSITIONS:
        assert result.positions > 0


def test_the_comparison_covers_positions_times_and_altitudes() -> None:
    totals = [compare(c.with_name(c.name + ".chk")) for c in CAPTURES]
    assert sum(r.positions for r in totals) >= 300
    assert sum(r.gll_positions for r in totals) >= 30  # gp-320fw, Navika, Telit and F9P send GLL
    assert sum(r.times for r in totals) >= 300
    assert sum(r.altitudes for r in totals) >= 50


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_whole_capture_streams_without_rejections(capture: Path) -> None:
    data = capture.read_bytes()
    decoder = StreamDecoder("nmea")
    readings = []
    for i in range(0, len(data), 61):  # an odd chunk size: sentences straddle reads
        readings += decoder.feed(data[i : i + 61])
    assert decoder.stats.frames_rejected == 0
    # Only the BeiDou capture has noise: a blank line and a space before one sentence.
    assert decoder.stats.bytes_discarded == (2 if capture.name == "beidou-bd.log" else 0)
    assert decoder.stats.readings == len(readings) > 0


def test_skytraq_cold_start_gives_no_valid_fix() -> None:
    capture = DATA / "skytraq.log"
    fixes = [decode_nmea(line.strip()) for line in capture.read_bytes().splitlines() if line.startswith(b"$")]
    positions = [f for f in fixes if f is not None and f.sentence in POSITION_SENTENCES]
    assert len(positions) == 51  # 17 epochs of GGA, RMC and GLL
    assert not any(f.fix_valid for f in fixes if f is not None)
