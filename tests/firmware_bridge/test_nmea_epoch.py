"""A receiver's sentences combined as GPSD does: GLL/GGA fixes get ZDA's (or RMC's) date and VTG's speed."""
from __future__ import annotations

from datetime import datetime

import pytest

from firmware_bridge.codecs.nmea import KNOTS_TO_MPS, encode_gga, encode_rmc, nmea_checksum
from firmware_bridge.codecs.nmea_epoch import DATE_KEPT_FIXES, NmeaEpoch
from firmware_bridge.errors import CodecError
from firmware_bridge.protocols import StreamDecoder
from firmware_bridge.readings import GpsFix


def sentence(body: str) -> bytes:
    return f"${body}*{nmea_checksum(body.encode()):02X}\r\n".encode()


def gll(hhmmss: str, status: str = "A") -> bytes:
    return sentence(f"GNGLL,5154.00000,N,00424.00000,E,{hhmmss}.00,{status},A")


def zda(hhmmss: str, day: str = "17", month: str = "05", year: str = "2026") -> bytes:
    return sentence(f"GPZDA,{hhmmss}.00,{day},{month},{year},00,00")


VTG = sentence("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K,A")
VTG_NOT_VALID = sentence("GPVTG,,T,,M,,N,,K,N")
VTG_NMEA_15 = sentence("GPVTG,054.7,034.4,005.5,010.2")


def fixes(epoch: NmeaEpoch, *sentences: bytes) -> list[GpsFix]:
    return [f for f in (epoch(s) for s in sentences) if f is not None]


def test_a_gll_fix_gets_the_date_of_the_receivers_zda() -> None:
    first, second = fixes(NmeaEpoch(), gll("120000"), zda("120000"), gll("120001"))
    assert first.time == "12:00:00.000"  # no date seen yet: a time of day, as before
    assert second.time == "2026-05-17T12:00:01.000Z" and second.fix_valid


def test_the_date_rolls_over_at_midnight_both_ways() -> None:
    (after,) = fixes(NmeaEpoch(), zda("235959"), gll("000000"))
    assert after.time == "2026-05-18T00:00:00.000Z"
    (before,) = fixes(NmeaEpoch(), zda("000001", "18"), gll("235959"))
    assert before.time == "2026-05-17T23:59:59.000Z"
    (leap,) = fixes(NmeaEpoch(), zda("235959", "28", "02", "2028"), gll("000000"))
    assert leap.time == "2028-02-29T00:00:00.000Z"


def test_an_rmc_date_dates_the_gga_of_its_cycle() -> None:
    t = datetime(2026, 5, 17, 8, 30, 0)
    rmc, gga = fixes(NmeaEpoch(), encode_rmc(51.9, 4.4, time_utc=t, speed_knots=2.0),
                     encode_gga(51.9, 4.4, time_utc=t))
    assert rmc.time == gga.time == "2026-05-17T08:30:00.000Z"
    assert gga.speed_mps is None  # RMC's speed stays RMC's: only VTG completes other sentences


def test_vtg_speed_and_course_complete_the_fixes_of_its_cycle() -> None:
    epoch = NmeaEpoch()
    a, b, c = fixes(epoch, VTG, gll("120000"), encode_gga(51.9, 4.4, time_utc=datetime(2026, 5, 17, 12, 0, 0)),
                    gll("120001"))
    assert a.speed_mps == pytest.approx(5.5 * KNOTS_TO_MPS) and a.course_deg == 54.7
    assert b.speed_mps == pytest.approx(5.5 * KNOTS_TO_MPS)  # same cycle (12:00:00)
    assert c.speed_mps is None  # the next cycle had no VTG of its own
    (d,) = fixes(epoch, VTG_NOT_VALID, gll("120002"))
    assert d.speed_mps is None
    (e,) = fixes(epoch, VTG_NMEA_15, gll("120003"))
    assert e.speed_mps == pytest.approx(5.5 * KNOTS_TO_MPS) and e.course_deg == 54.7


def test_a_date_not_refreshed_is_dropped_not_guessed() -> None:
    epoch = NmeaEpoch()
    fixes(epoch, zda("000000"))
    seen = fixes(epoch, *[gll(f"{(i // 3600) % 24:02d}{(i // 60) % 60:02d}{i % 60:02d}")
                          for i in range(DATE_KEPT_FIXES + 1)])
    assert "T" in seen[DATE_KEPT_FIXES - 1].time and "T" not in seen[DATE_KEPT_FIXES].time  # type: ignore[operator]


@pytest.mark.parametrize("bad", [
    sentence("GPZDA,120000.00,31,02,2026,00,00"),  # 31 February
    sentence("GPZDA,12000,17,05,2026,00,00"),
    sentence("GPVTG,abc,T,,M,1.0,N,,K,A"),
])
def test_a_malformed_zda_or_vtg_is_a_codec_error(bad: bytes) -> None:
    with pytest.raises(CodecError):
        NmeaEpoch()(bad)


def test_each_port_keeps_its_own_cycle() -> None:
    dated, undated = StreamDecoder("nmea"), StreamDecoder("nmea")
    dated.feed(zda("120000") + VTG)
    (a,) = dated.feed(gll("120001"))
    (b,) = undated.feed(gll("120001"))
    assert "T" in a.reading.time and a.reading.speed_mps is not None  # type: ignore[attr-defined, operator]
    assert b.reading.time == "12:00:01.000" and b.reading.speed_mps is None  # type: ignore[attr-defined]
    assert dated.stats.readings == 1  # VTG and ZDA complete fixes, they are no readings themselves
