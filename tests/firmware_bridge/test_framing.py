"""Stream framers and StreamDecoder: any chunking gives the same frames; noise is counted, never fatal."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from firmware_bridge.codecs.gateway import encode_gateway
from firmware_bridge.codecs.hrm import encode_hrm
from firmware_bridge.codecs.link import MAX_FRAME_LEN, frame
from firmware_bridge.codecs.modbus_detector import encode_registers, encode_rtu_response
from firmware_bridge.codecs.nmea import MAX_SENTENCE_LEN, encode_gga, encode_rmc
from firmware_bridge.codecs.winsen import encode_winsen
from firmware_bridge.framing import DelimitedFramer, HexLineFramer, NmeaFramer, WinsenFramer
from firmware_bridge.protocols import PROTOCOLS, Decoded, StreamDecoder
from firmware_bridge.readings import Contact, Gas, GasSample, HeartRate

T = datetime(2024, 5, 17, 13, 4, 5, tzinfo=timezone.utc)
GGA = encode_gga(48.1, 11.5, time_utc=T)
RMC = encode_rmc(48.1, 11.5, time_utc=T)
CO = encode_winsen(Gas.CO, 12.3, full_range=500.0, decimals=1)
H2S = encode_winsen(Gas.H2S, 7.0, full_range=100.0)
CAPTURE = Path(__file__).parents[2].parent / "shared" / "data" / "nmea" / "mt3339.log"


def feed_in_chunks(framer, data: bytes, size: int) -> list[bytes]:  # type: ignore[no-untyped-def]
    out: list[bytes] = []
    for i in range(0, len(data), size):
        out += framer.feed(data[i : i + size])
    return out


# --- NMEA -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 5, 17, 100, 10_000])
def test_nmea_chunking_does_not_matter(size: int) -> None:
    data = b"# header naming $GPGGA and !AIVDM\n" + GGA + RMC + b"noise\r\n" + GGA
    framer = NmeaFramer()
    assert feed_in_chunks(framer, data, size) == [GGA[:-2], RMC[:-2], GGA[:-2]]
    assert (framer.frames, framer.comments, framer.bytes_discarded) == (3, 1, len(b"noise\r\n"))


def test_nmea_noise_before_a_sentence_and_the_last_dollar_wins() -> None:
    framer = NmeaFramer()
    glued = b"\x00\xff $GPGGA,12345" + GGA  # half a sentence from before a reconnect, then a whole one
    assert framer.feed(glued) == [GGA[:-2]]
    assert framer.bytes_discarded == len(glued) - len(GGA)


def test_nmea_lf_only_and_ais() -> None:
    framer = NmeaFramer()
    assert framer.feed(GGA[:-2] + b"\n!AIVDM,1*00\n") == [GGA[:-2], b"!AIVDM,1*00"]


def test_nmea_overlong_lines_are_dropped_and_counted() -> None:
    framer = NmeaFramer()
    long_line = b"$GPXXX," + b"1" * MAX_SENTENCE_LEN + b"\r\n"
    assert framer.feed(long_line + GGA) == [GGA[:-2]]
    assert framer.overlong == 1 and framer.bytes_discarded == len(long_line)


def test_nmea_buffer_stays_bounded_without_newlines() -> None:
    framer = NmeaFramer()
    for _ in range(100):
        assert framer.feed(b"$" + b"x" * 999) == []
    assert len(framer._partial) <= MAX_SENTENCE_LEN
    assert framer.feed(b"\r\n" + GGA) == [GGA[:-2]]
    assert framer.bytes_discarded >= 100 * 1000 - MAX_SENTENCE_LEN


def test_nmea_real_capture_in_small_chunks() -> None:
    if not CAPTURE.exists():
        pytest.skip(f"GPSD capture {CAPTURE} not present")
    data = CAPTURE.read_bytes()
    expected = [line.rstrip(b"\r") for line in data.split(b"\n") if line.startswith(b"$")]
    framer = NmeaFramer()
    assert feed_in_chunks(framer, data, 7) == expected
    assert framer.bytes_discarded == 0 and framer.comments == 7


# --- Winsen -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 4, 9, 13, 1000])
def test_winsen_resyncs_through_noise_containing_start_bytes(size: int) -> None:
    noise = b"\xff\x01\x02\xff\xff"  # starts of frames that never complete
    data = noise + CO + b"\x00\x13" + H2S + CO[:4]
    framer = WinsenFramer()
    assert feed_in_chunks(framer, data, size) == [CO, H2S]
    assert framer.bytes_discarded == len(noise) + 2
    assert framer.feed(CO[4:]) == [CO]


def test_winsen_bad_checksum_slides_one_byte() -> None:
    corrupt = CO[:8] + bytes((CO[8] ^ 1,))
    framer = WinsenFramer()
    assert framer.feed(corrupt + H2S) == [H2S]
    assert framer.bytes_discarded == len(corrupt)


# --- delimited (link, gateway) -------------------------------------------------------


@pytest.mark.parametrize("size", [1, 3, 64, 4096])
def test_delimited_frames_and_empty_frames(size: int) -> None:
    a, b = frame(b"hello"), frame(b"\x00world\x00")
    framer = DelimitedFramer()
    assert feed_in_chunks(framer, b"\x00" + a + b"\x00\x00" + b, size) == [a[:-1], b[:-1]]
    assert framer.frames == 2 and framer.bytes_discarded == 0


def test_delimited_overlong_frame_is_dropped_up_to_the_next_delimiter() -> None:
    framer = DelimitedFramer()
    good = frame(b"ok")
    junk = b"\x01" * (MAX_FRAME_LEN + 10)
    out = feed_in_chunks(framer, junk + b"\x02\x03\x00" + good, 100)
    assert out == [good[:-1]]
    assert framer.bytes_discarded == len(junk) + 3
    assert len(framer._partial) <= MAX_FRAME_LEN


def test_hex_lines() -> None:
    framer = HexLineFramer()
    data = b"# gateway log\n0648\r\n\n16 48 01 04\nnot hex\n" + b"00" * 2000 + b"\n1f"
    assert framer.feed(data) == [b"\x06\x48", b"\x16\x48\x01\x04"]
    assert framer.comments == 1 and framer.bytes_discarded == len(b"not hex\n") + 4001
    assert framer.feed(b"00\n") == [b"\x1f\x00"]


# --- StreamDecoder --------------------------------------------------------------------


def test_every_protocol_has_a_row() -> None:
    assert set(PROTOCOLS) == {"nmea", "winsen", "gateway", "hrm", "modbus"}
    with pytest.raises(ValueError, match="unknown protocol"):
        StreamDecoder("smoke-signals")


def test_nmea_stream_counts_good_rejected_and_noise() -> None:
    decoder = StreamDecoder("nmea")
    bad = GGA.replace(b"*", b"0*")  # checksum no longer matches
    gsv = b"$GPGSV,3,1,12,09,88,089,31,07,60,281,44,23,55,123,33,10,44,274,32*78\r\n"
    out = decoder.feed(b"xx" + GGA + bad + gsv + RMC)
    assert [d.reading.sentence for d in out] == ["GGA", "RMC"]  # type: ignore[union-attr]
    stats = decoder.stats
    assert (stats.frames_ok, stats.frames_rejected, stats.readings) == (3, 1, 2)
    assert stats.bytes_discarded == 2 + len(bad) - 2


def test_winsen_stream() -> None:
    decoder = StreamDecoder("winsen")
    unknown_gas = bytes.fromhex("FF 2E 03 01 00 25 13 88 00")
    unknown_gas = unknown_gas[:8] + bytes((-sum(unknown_gas[1:8]) & 0xFF,))
    out = decoder.feed(CO + unknown_gas + H2S)
    assert [d.reading for d in out] == [
        GasSample(Gas.CO, 12.3, "ppm", full_range=500.0),
        GasSample(Gas.H2S, 7.0, "ppm", full_range=100.0),
    ]
    assert decoder.stats.frames_rejected == 1 and decoder.stats.bytes_discarded == 9


def test_gateway_stream_carries_addresses() -> None:
    decoder = StreamDecoder("gateway")
    hr = HeartRate(88, Contact.DETECTED)
    data = encode_gateway(0x2A, "hrm", encode_hrm(hr)) + b"\x05\x05\x00" + encode_gateway(3, "winsen", H2S)
    assert decoder.feed(data) == [
        Decoded(hr, 0x2A),
        Decoded(GasSample(Gas.H2S, 7.0, "ppm", full_range=100.0), 3),
    ]
    assert decoder.stats.frames_rejected == 1 and decoder.stats.bytes_discarded == 2


def test_modbus_capture_gives_one_reading_per_channel() -> None:
    regs = encode_registers([GasSample(Gas.LEL, 3.0, "%LEL"), GasSample(Gas.CO, 9.0, "ppm")])
    line = encode_rtu_response(regs).hex(" ").encode() + b"\n"
    decoder = StreamDecoder("modbus")
    out = decoder.feed(b"# sniffer export\n" + line + line.replace(b"01 03", b"01 04", 1))
    assert [d.reading.gas for d in out] == [Gas.LEL, Gas.CO]  # type: ignore[union-attr]
    assert decoder.stats.frames_ok == 1 and decoder.stats.frames_rejected == 1


def test_hrm_capture() -> None:
    decoder = StreamDecoder("hrm")
    assert decoder.feed(b"0648\n00\n") == [Decoded(HeartRate(72, Contact.DETECTED))]
    assert decoder.stats.frames_rejected == 1
