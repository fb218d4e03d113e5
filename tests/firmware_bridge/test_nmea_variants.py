"""What real receivers vary that GPSD accepts: GLL, and GGA/RMC/GLL with trailing fields left off.

GPSD's NMEA driver (``driver_nmea0183.c``) takes a sentence once it has its
minimum field count ``nf`` (the address counts as one field) and treats every
later field as optional: GGA 13, RMC 8, GLL 7, GSA 18. These tests pin each
variation to what GPSD makes of it, and DOMAIN.md's rules where they are
stricter than GPSD's.
"""
from __future__ import annotations

import pytest

from firmware_bridge.codecs.nmea import decode_nmea, nmea_checksum
from firmware_bridge.errors import CodecError

# Verbatim from GPSD's regression captures (shared/data/nmea).
MT3339_GGA = b"$GPGGA,202640.000,4404.1306,N,12118.8515,W,2,10,0.98,1127.7,M,-19.6,M,0000,0000*6C"
MT3339_RMC = b"$GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*73"
NAVIKA_RMC_NMEA41 = b"$GPRMC,223251.00,A,3757.92653,N,12231.94543,W,0.068,338.51,210416,0.00,E,A,V*5B"
F9P_GLL = b"$GNGLL,4552.65403,S,17030.00668,E,003956.00,A,A*6C"
TELIT_GLL = b"$GPGLL,5050.4122,N,00420.8266,E,105153.71,A,A*65"
SKYTRAQ_GLL_COLD = b"$GPGLL,0000.0000000,N,00000.0000000,E,212406.000,V,N*42"
TELIT_GLL_COLD = b"$GPGLL,,,,,,V,N*64"

# GPSD's nf less the address: the data fields a sentence needs before GPSD decodes it.
MIN_DATA_FIELDS = {"GGA": 12, "RMC": 7, "GLL": 6}


def with_checksum(body: str) -> bytes:
    return b"$%s*%02X" % (body.encode(), nmea_checksum(body.encode()))


def truncated(sentence: bytes, data_fields: int) -> bytes:
    """The sentence with only its first ``data_fields`` fields after the address, re-checksummed."""
    fields = sentence[1 : sentence.index(b"*")].decode().split(",")
    return with_checksum(",".join(fields[: 1 + data_fields]))


def data_field_count(sentence: bytes) -> int:
    return sentence.count(b",")


@pytest.mark.parametrize("sentence", [MT3339_GGA, MT3339_RMC, NAVIKA_RMC_NMEA41, F9P_GLL])
def test_every_truncation_gpsd_accepts_keeps_the_position(sentence: bytes) -> None:
    full = decode_nmea(sentence)
    assert full is not None and full.fix_valid
    for n in range(MIN_DATA_FIELDS[full.sentence], data_field_count(sentence) + 1):
        fix = decode_nmea(truncated(sentence, n))
        assert fix is not None, n
        assert (fix.sentence, fix.fix_valid, fix.lat, fix.lon) == (full.sentence, True, full.lat, full.lon), n


@pytest.mark.parametrize("sentence", [MT3339_GGA, MT3339_RMC, F9P_GLL])
def test_shorter_than_gpsd_minimum_is_rejected(sentence: bytes) -> None:
    kind = sentence[3:6].decode()
    for n in range(MIN_DATA_FIELDS[kind]):
        with pytest.raises(CodecError):
            decode_nmea(truncated(sentence, n))


def test_rmc_without_the_magnetic_variation_direction() -> None:
    fix = decode_nmea(with_checksum("GPRMC,120000.00,A,4807.0380,N,01131.0000,E,0.5,54.7,010124,"))
    assert fix is not None and fix.fix_valid and fix.time == "2024-01-01T12:00:00.000Z" and fix.course_deg == 54.7


def test_rmc_without_date_gives_a_time_of_day_and_without_course_no_course() -> None:
    fix = decode_nmea(truncated(MT3339_RMC, 8))
    assert fix is not None and fix.fix_valid and fix.time == "20:26:40.000" and fix.course_deg == 225.97
    fix = decode_nmea(truncated(MT3339_RMC, 7))
    assert fix is not None and fix.fix_valid and fix.course_deg is None
    assert fix.speed_mps == pytest.approx(0.03 * 1852 / 3600)


@pytest.mark.parametrize("data_fields", [12, 13])
def test_gga_without_dgps_station_or_age_keeps_altitude(data_fields: int) -> None:
    fix = decode_nmea(truncated(MT3339_GGA, data_fields))
    assert fix is not None and fix.fix_valid and fix.alt == 1127.7 and fix.fix_quality == 2 and fix.satellites == 10


def test_optional_fields_are_still_checked_when_present() -> None:
    for bad in (
        "GPRMC,120000.00,A,4807.0380,N,01131.0000,E,0.5,abc",  # course
        "GPRMC,120000.00,A,4807.0380,N,01131.0000,E,0.5,54.7,320124",  # day 32
        "GPRMC,120000.00,A,4807.0380,N,01131.0000,E,0.5,54.7,010124,3.1,X",  # variation E/W
        "GPRMC,120000.00,A,4807.0380,N,01131.0000,E,0.5,54.7,010124,,,AB",  # FAA mode
        "GPGLL,4807.0380,N,01131.0000,E,120000.00,A,1",  # FAA mode
        "GPGLL,4807.0380,N,01131.0000,E,1200,A",  # time
    ):
        with pytest.raises(CodecError):
            decode_nmea(with_checksum(bad))


def test_fields_a_later_nmea_version_adds_are_accepted() -> None:
    rmc = decode_nmea(with_checksum("GNRMC,120000.00,A,4807.0380,N,01131.0000,E,0.5,54.7,010124,,,A,V,extra"))
    gll = decode_nmea(with_checksum("GNGLL,4807.0380,N,01131.0000,E,120000.00,A,A,extra"))
    assert rmc is not None and rmc.fix_valid and gll is not None and gll.fix_valid


def test_gll_from_real_receivers() -> None:
    fix = decode_nmea(F9P_GLL)
    assert fix is not None and (fix.talker, fix.sentence, fix.fix_valid) == ("GN", "GLL", True)
    assert fix.lat == pytest.approx(-(45 + 52.65403 / 60), abs=1e-9)
    assert fix.lon == pytest.approx(170 + 30.00668 / 60, abs=1e-9)
    assert fix.time == "00:39:56.000"
    assert (fix.fix_quality, fix.hdop, fix.alt, fix.speed_mps, fix.course_deg) == (None,) * 5
    telit = decode_nmea(TELIT_GLL)
    assert telit is not None and telit.fix_valid and telit.lon == pytest.approx(4 + 20.8266 / 60, abs=1e-9)
    assert telit.time == "10:51:53.710"


def test_gll_from_receivers_without_fix() -> None:
    skytraq = decode_nmea(SKYTRAQ_GLL_COLD)
    assert skytraq is not None and not skytraq.fix_valid and skytraq.lat == 0.0 and skytraq.time == "21:24:06.000"
    telit = decode_nmea(TELIT_GLL_COLD)
    assert telit is not None and not telit.fix_valid and telit.lat is None and telit.time is None


@pytest.mark.parametrize(
    "status,mode,valid",
    [
        ("A", "", True),  # NMEA 2.0 has no mode field at all: see the next test
        ("A", "A", True),
        ("A", "D", True),
        ("A", "R", True),
        ("A", "N", False),  # GPSD: no fix
        ("A", "E", False),  # GPSD: a dead-reckoning fix; DOMAIN.md: invalid
        ("A", "S", False),
        ("V", "A", False),
        ("D", "D", False),  # GPSD takes only A in GLL
        ("", "", False),
    ],
)
def test_gll_status_and_faa_mode(status: str, mode: str, valid: bool) -> None:
    fix = decode_nmea(with_checksum(f"GPGLL,4807.0380,N,01131.0000,E,120000.00,{status},{mode}"))
    assert fix is not None and fix.fix_valid is valid


def test_gll_without_the_mode_field_nmea_2_0() -> None:
    fix = decode_nmea(truncated(F9P_GLL, 6))
    assert fix is not None and fix.fix_valid and fix.time == "00:39:56.000"


def test_gll_without_time_still_has_a_position() -> None:
    fix = decode_nmea(with_checksum("GPGLL,4807.0380,N,01131.0000,E,,A,A"))
    assert fix is not None and fix.fix_valid and fix.time is None


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "BD", "GB"])
def test_gll_from_any_talker(talker: str) -> None:
    fix = decode_nmea(with_checksum(f"{talker}GLL,4807.0380,N,01131.0000,E,120000.00,A,A"))
    assert fix is not None and fix.talker == talker and fix.fix_valid


def test_gll_zero_zero_is_never_trusted() -> None:
    fix = decode_nmea(with_checksum("GPGLL,0000.0000,N,00000.0000,E,120000.00,A,A"))
    assert fix is not None and not fix.fix_valid


@pytest.mark.parametrize(
    "body",
    [
        "GPGLL,4807.0380,X,01131.0000,E,120000.00,A,A",  # hemisphere
        "GPGLL,9107.0380,N,01131.0000,E,120000.00,A,A",  # lat > 90
        "GPGLL,4807.0380,N,,E,120000.00,A,A",  # half a position
        "GPGLL,4807.0380,N,01131.0000,E,120000.00,a,A",  # status
    ],
)
def test_malformed_gll_raises(body: str) -> None:
    with pytest.raises(CodecError):
        decode_nmea(with_checksum(body))


@pytest.mark.parametrize(
    "body",
    [
        "GPVTG,054.7,T,034.4,M,005.5,N,010.2,K,A",
        "GPVTG,,T,,M,,N,,K,N",
        "GPVTG,054.7,034.4,005.5,010.2",  # NMEA 1.5 layout
        "GPZDA,160012.71,11,03,2004,-1,00",
        "GPZDA,160012.71,11,03",  # short: GPSD takes it, but has no year
    ],
)
def test_vtg_and_zda_carry_no_position_and_stay_none(body: str) -> None:
    assert decode_nmea(with_checksum(body)) is None
