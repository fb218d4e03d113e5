"""NMEA 0183 codec: real sentences from receiver captures, validity rules, encoders."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from firmware_bridge.codecs.nmea import (
    MAX_SENTENCE_LEN,
    decode_nmea,
    encode_gga,
    encode_gsa,
    encode_rmc,
    nmea_checksum,
)
from firmware_bridge.errors import CodecError

# Verbatim from GPSD's regression captures (shared/data/nmea).
MT3339_GGA = b"$GPGGA,202640.000,4404.1306,N,12118.8515,W,2,10,0.98,1127.7,M,-19.6,M,0000,0000*6C\r\n"
MT3339_RMC = b"$GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*73\r\n"
GARMIN_RMC_VOID = b"$GPRMC,120316,V,4221.4394,N,01321.9948,E,000.0,000.0,150305,001.4,E*63"
GARMIN_GSA_NOFIX = b"$GPGSA,A,1,,,,,,,,,,,,,,,*1E"
NAVIKA_RMC_NMEA41 = b"$GPRMC,223251.00,A,3757.92653,N,12231.94543,W,0.068,338.51,210416,0.00,E,A,V*5B"
F9P_GGA = b"$GNGGA,003956.00,4552.65403,S,17030.00668,E,1,12,0.64,14.2,M,1.8,M,,*56"
SKYTRAQ_GGA_ZERO = b"$GPGGA,212406.000,0000.0000000,N,00000.0000000,E,0,00,0.0,0.000,M,0.000,M,,0000*6E"
SIRF_GLGGA_2_SATS = b"$GLGGA,020935.000,4404.1351,N,12118.8556,W,1,02,0.9,1123.9,M,-19.6,M,,0000*48"
BU353_GSA = b"$GNGSA,A,3,03,19,27,13,,,,,,,,,2.75,2.56,1.00*10"
TELIT_RMC_EMPTY = b"$GPRMC,,V,,,,,,,,,,N*53"
AIS_BODY = b"AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0"
GPGSV = b"$GPGSV,3,1,12,09,88,089,31,07,60,281,44,23,55,123,33,10,44,274,32*78"


def with_checksum(body: str) -> bytes:
    """Build a sentence for a case no capture holds; the codec's own checksum is tested separately."""
    return b"$%s*%02X" % (body.encode(), nmea_checksum(body.encode()))


def test_checksum_matches_hand_computed_values() -> None:
    # 'G'^'P'^'G'^'S'^'A'^','^'A'^','^'1' and 15 commas: 0x1E, as the Garmin receiver sent it.
    assert nmea_checksum(b"GPGSA,A,1,,,,,,,,,,,,,,,") == 0x1E
    assert nmea_checksum(b"") == 0
    assert nmea_checksum(b"A") == 0x41


def test_gga_from_mt3339() -> None:
    fix = decode_nmea(MT3339_GGA)
    assert fix is not None
    assert (fix.talker, fix.sentence, fix.fix_valid) == ("GP", "GGA", True)
    assert fix.lat == pytest.approx(44 + 4.1306 / 60, abs=1e-9)
    assert fix.lon == pytest.approx(-(121 + 18.8515 / 60), abs=1e-9)
    assert (fix.fix_quality, fix.satellites, fix.hdop, fix.alt) == (2, 10, 0.98, 1127.7)
    assert fix.time == "20:26:40.000"


def test_rmc_has_full_iso_time_and_speed_in_mps() -> None:
    fix = decode_nmea(MT3339_RMC)
    assert fix is not None and fix.fix_valid
    assert fix.time == "2015-04-13T20:26:40.000Z"
    assert fix.speed_mps == pytest.approx(0.03 * 1852 / 3600)
    assert fix.course_deg == 225.97


def test_southern_and_eastern_hemispheres() -> None:
    fix = decode_nmea(F9P_GGA)
    assert fix is not None and fix.talker == "GN"
    assert fix.lat == pytest.approx(-(45 + 52.65403 / 60), abs=1e-9)
    assert fix.lon == pytest.approx(170 + 30.00668 / 60, abs=1e-9)
    assert fix.time == "00:39:56.000"


def test_rmc_status_void_is_invalid_even_with_a_position() -> None:
    fix = decode_nmea(GARMIN_RMC_VOID)
    assert fix is not None and not fix.fix_valid
    assert fix.lat == pytest.approx(42 + 21.4394 / 60)
    assert fix.time == "2005-03-15T12:03:16.000Z"


def test_nmea41_navigational_status_v_means_no_status_not_invalid() -> None:
    fix = decode_nmea(NAVIKA_RMC_NMEA41)
    assert fix is not None and fix.fix_valid


@pytest.mark.parametrize("mode", ["N", "E", "M", "S", "X"])
def test_faa_mode_invalidates_status_a(mode: str) -> None:
    fix = decode_nmea(with_checksum(f"GPRMC,120000.00,A,4807.0380,N,01131.0000,E,0.0,0.0,010124,,,{mode}"))
    assert fix is not None and not fix.fix_valid


@pytest.mark.parametrize("mode", ["A", "D", "F", "R", "P", ""])
def test_good_faa_modes_keep_the_fix(mode: str) -> None:
    fix = decode_nmea(with_checksum(f"GPRMC,120000.00,A,4807.0380,N,01131.0000,E,0.0,0.0,010124,,,{mode}"))
    assert fix is not None and fix.fix_valid


def test_unsafe_navigational_status_invalidates() -> None:
    fix = decode_nmea(with_checksum("GNRMC,120000.00,A,4807.0380,N,01131.0000,E,0.0,,010124,,,A,U"))
    assert fix is not None and not fix.fix_valid


@pytest.mark.parametrize(
    "quality,valid", [(0, False), (1, True), (2, True), (4, True), (5, True), (6, False), (8, False)]
)
def test_gga_quality(quality: int, valid: bool) -> None:
    fix = decode_nmea(with_checksum(f"GNGGA,120000.00,4807.0380,N,01131.0000,E,{quality},08,0.9,545.4,M,46.9,M,,"))
    assert fix is not None and fix.fix_valid is valid and fix.fix_quality == quality


def test_gga_with_fewer_than_three_satellites_is_no_fix_as_in_gpsd() -> None:
    fix = decode_nmea(SIRF_GLGGA_2_SATS)
    assert fix is not None and fix.talker == "GL" and fix.satellites == 2 and not fix.fix_valid


def test_zero_zero_is_never_trusted() -> None:
    fix = decode_nmea(SKYTRAQ_GGA_ZERO)
    assert fix is not None and not fix.fix_valid and fix.lat == 0.0
    forged = decode_nmea(with_checksum("GPGGA,120000.00,0000.0000,N,00000.0000,E,1,08,0.9,1.0,M,,M,,"))
    assert forged is not None and not forged.fix_valid


def test_empty_rmc_from_a_cold_receiver() -> None:
    fix = decode_nmea(TELIT_RMC_EMPTY)
    assert fix is not None and not fix.fix_valid and fix.lat is None and fix.time is None


def test_gsa_fix_types() -> None:
    fix = decode_nmea(BU353_GSA)
    assert fix is not None and fix.fix_valid and fix.fix_type == 3 and fix.satellites == 4 and fix.hdop == 2.56
    nofix = decode_nmea(GARMIN_GSA_NOFIX)
    assert nofix is not None and not nofix.fix_valid and nofix.fix_type == 1 and nofix.satellites == 0


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "BD", "GB", "QZ"])
def test_any_two_letter_talker(talker: str) -> None:
    fix = decode_nmea(with_checksum(f"{talker}GGA,120000.00,4807.0380,N,01131.0000,E,1,08,0.9,545.4,M,,M,,"))
    assert fix is not None and fix.talker == talker and fix.fix_valid


@pytest.mark.parametrize(
    "sentence",
    [
        GPGSV,
        b"$PSRFEPE,074150.799,V,,,,,*23",  # proprietary
        b"$GPZDA,081411.000,26,05,2014,,*5D",
        b"!%s*%02X" % (AIS_BODY, nmea_checksum(AIS_BODY)),
    ],
)
def test_other_sentences_are_none_not_errors(sentence: bytes) -> None:
    assert decode_nmea(sentence) is None


def test_lowercase_checksum_digits_are_accepted() -> None:
    assert decode_nmea(MT3339_GGA.replace(b"*6C", b"*6c")) == decode_nmea(MT3339_GGA)


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"GPGGA,1*00",
        MT3339_GGA.replace(b"*6C", b"*6D"),  # wrong checksum
        MT3339_GGA.replace(b"4404.1306", b"4404.1307"),  # corrupted digit
        MT3339_GGA[:-5] + b"\r\n",  # checksum missing
        b"$GPGSV,3,1,12*ZZ",
        with_checksum("GPGGA,120000.00,4807.0380,X,01131.0000,E,1,08,0.9,545.4,M,,M,,"),
        with_checksum("GPGGA,120000.00,4807.0380,N,01131.0000,,1,08,0.9,545.4,M,,M,,"),
        with_checksum("GPGGA,120000.00,9107.0380,N,01131.0000,E,1,08,0.9,545.4,M,,M,,"),  # lat > 90
        with_checksum("GPGGA,120000.00,4867.0380,N,01131.0000,E,1,08,0.9,545.4,M,,M,,"),  # 67 minutes
        with_checksum("GPGGA,250000.00,4807.0380,N,01131.0000,E,1,08,0.9,545.4,M,,M,,"),  # hour 25
        with_checksum("GPGGA,120000.00,4807.0380,N,01131.0000,E,1,08,nan,545.4,M,,M,,"),
        with_checksum("GPGGA,120000.00,4807.0380,N,01131.0000,E,1,08,0.9,545.4,F,,M,,"),  # feet
        with_checksum("GPGGA,120000.00,4807.0380,N,01131.0000,E,1"),  # too few fields
        with_checksum("GPRMC,120000.00,A,4807.0380,N,01131.0000,E,0.0,0.0,310224,,,A"),  # 31 Feb
        with_checksum("GPRMC,120000.00,A,4807.0380,N,01131.0000,E,0.0,0.0,011324,,,A"),  # month 13
        with_checksum("GPGSA,A,4,,,,,,,,,,,,,1.0,1.0,1.0"),  # fix type 4
        with_checksum("g1GGA,120000.00,4807.0380,N,01131.0000,E,1,08,0.9,545.4,M,,M,,"),  # bad talker
    ],
)
def test_malformed_sentences_raise_codec_error(bad: bytes) -> None:
    with pytest.raises(CodecError):
        decode_nmea(bad)


def test_length_limit_is_lenient_only_to_what_real_receivers_send() -> None:
    # The MT3339 sends 84-byte GGA (spec: 82); accepted. One byte over our limit is not.
    assert len(MT3339_GGA) == 84 and decode_nmea(MT3339_GGA) is not None
    body = "GPGGA,120000.00,4807.0380,N,01131.0000,E,1,08,0.9,545.4,M,,M,,"
    padded = with_checksum(body + "0" * (MAX_SENTENCE_LEN - 2 - len(body) - 4))
    assert len(padded) + 2 == MAX_SENTENCE_LEN and decode_nmea(padded) is not None
    with pytest.raises(CodecError):
        decode_nmea(with_checksum(body + "0" * (MAX_SENTENCE_LEN - 2 - len(body) - 3)))


T = datetime(2024, 5, 17, 13, 4, 5, 678_000, tzinfo=timezone.utc)


def test_encode_gga_round_trips() -> None:
    sentence = encode_gga(52.520008, -13.404954, time_utc=T, quality=4, satellites=14, hdop=0.7, alt=34.5, talker="GN")
    assert sentence.endswith(b"\r\n") and len(sentence) <= 82
    fix = decode_nmea(sentence)
    assert fix is not None and fix.fix_valid
    assert (fix.talker, fix.fix_quality, fix.satellites, fix.hdop, fix.alt) == ("GN", 4, 14, 0.7, 34.5)
    assert fix.lat == pytest.approx(52.520008, abs=1e-7) and fix.lon == pytest.approx(-13.404954, abs=1e-7)
    assert fix.time == "13:04:05.678"


def test_encode_rmc_round_trips_with_date_and_timezone_conversion() -> None:
    local = T.astimezone(timezone(timedelta(hours=2)))
    sentence = encode_rmc(-33.8688, 151.2093, time_utc=local, speed_knots=3.5, course=271.25, talker="GN")
    fix = decode_nmea(sentence)
    assert fix is not None and fix.fix_valid and fix.time == "2024-05-17T13:04:05.678Z"
    assert fix.speed_mps == pytest.approx(3.5 * 1852 / 3600) and fix.course_deg == 271.25
    invalid = decode_nmea(encode_rmc(1.0, 2.0, time_utc=T, valid=False))
    assert invalid is not None and not invalid.fix_valid
    estimated = decode_nmea(encode_rmc(1.0, 2.0, time_utc=T, mode="E"))
    assert estimated is not None and not estimated.fix_valid
    nmea20 = encode_rmc(1.0, 2.0, time_utc=T, mode="")
    assert nmea20.count(b",") == 11 and decode_nmea(nmea20) is not None


def test_encode_gsa_round_trips() -> None:
    fix = decode_nmea(encode_gsa(3, [1, 4, 17, 120], hdop=1.1, talker="GN"))
    assert fix is not None and fix.fix_valid and fix.fix_type == 3 and fix.satellites == 4 and fix.hdop == 1.1
    nofix = decode_nmea(encode_gsa(1))
    assert nofix is not None and not nofix.fix_valid


def test_coordinates_round_to_the_nearest_hundred_thousandth_of_a_minute_without_carry_errors() -> None:
    # 59.999999' would print as 60.00000' with naive float formatting.
    sentence = encode_gga(10.9999999999, 20.0, time_utc=T)
    assert b",1100.00000,N," in sentence


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_gga(91.0, 0.0, time_utc=T),
        lambda: encode_gga(0.0, 181.0, time_utc=T),
        lambda: encode_gga(1.0, 1.0, time_utc=T, talker="gps"),
        lambda: encode_gga(1.0, 1.0, time_utc=T, quality=9),
        lambda: encode_rmc(1.0, 1.0, time_utc=T, mode="Q"),
        lambda: encode_rmc(1.0, 1.0, time_utc=datetime(2099, 1, 1)),
        lambda: encode_gsa(4),
        lambda: encode_gsa(3, list(range(1, 14))),
    ],
)
def test_encoders_refuse_values_the_wire_cannot_carry(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()
