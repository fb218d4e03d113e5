"""Fuzzing every codec and every stream protocol: nothing but CodecError may ever escape.

For each decoder: a pool of valid frames from the encoders (each one checked to
round-trip), then ``SITEGUARD_FUZZ_FRAMES`` (default 100,000) random frames and
as many mutations of valid frames (bit flips, truncation, insertion,
duplication, deletion), all from a seeded ``random.Random`` so a failure is
reproducible. "Random" frames are shaped like the protocol half of the time
(plausible fields, a correct checksum or CRC) so the fuzz reaches the field
parsers behind the integrity checks instead of stopping at the first byte.
Where an integrity check guarantees it (Winsen sum, Modbus CRC-16, NMEA XOR),
a single flipped bit must be rejected. Plain loops, not hypothesis, keep 100k
frames per codec within seconds; the property tests elsewhere use hypothesis.
"""
from __future__ import annotations

import dataclasses
import os
import random
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU

from firmware_bridge.codecs import link
from firmware_bridge.codecs.controller import (
    MAX_ID_BYTES,
    Ack,
    ControllerMessage,
    Nak,
    SirenCommand,
    VibrateCommand,
    decode_message,
    encode_message,
)
from firmware_bridge.codecs.gateway import PROTOCOL_CODES, decode_gateway, encode_gateway
from firmware_bridge.codecs.hrm import decode_hrm, encode_hrm
from firmware_bridge.codecs.modbus_detector import (
    CHANNELS,
    REGISTER_COUNT,
    decode_registers,
    decode_rtu_response,
    encode_registers,
    encode_rtu_response,
)
from firmware_bridge.codecs.modbus_detector import (
    GAS_CODES as DETECTOR_GASES,
)
from firmware_bridge.codecs.nmea import decode_nmea, encode_gga, encode_gsa, encode_rmc, nmea_checksum
from firmware_bridge.codecs.winsen import GAS_CODES as WINSEN_GASES
from firmware_bridge.codecs.winsen import decode_winsen, encode_winsen, winsen_checksum
from firmware_bridge.errors import CodecError
from firmware_bridge.protocols import StreamDecoder
from firmware_bridge.readings import Contact, Gas, GasSample, GpsFix, HeartRate

N = int(os.environ.get("SITEGUARD_FUZZ_FRAMES", "100000"))
POOL = max(100, min(N // 50, 2000))
SEED = 20240517
EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)
Frame = TypeVar("Frame", bytes, list[int])


# --- mutations --------------------------------------------------------------------


def mutate(rng: random.Random, frame: bytes) -> bytes:
    """One random corruption of the kinds a serial line produces."""
    n = len(frame)
    op = rng.randrange(5)
    if op == 0 and n:  # 1-3 bit flips
        out = bytearray(frame)
        for _ in range(rng.randint(1, 3)):
            out[rng.randrange(n)] ^= 1 << rng.randrange(8)
        return bytes(out)
    if op == 1:  # truncation, at either end
        cut = rng.randint(0, n)
        return frame[:cut] if rng.random() < 0.5 else frame[cut:]
    if op == 2:  # insertion
        at = rng.randint(0, n)
        return frame[:at] + rng.randbytes(rng.randint(1, 4)) + frame[at:]
    i, j = sorted((rng.randint(0, n), rng.randint(0, n)))
    if op == 3:  # duplication of a slice
        return frame[:j] + frame[i:j] + frame[j:]
    return frame[:i] + frame[j:]  # deletion of a slice


def flip_one_bit(rng: random.Random, frame: bytes) -> bytes:
    out = bytearray(frame)
    out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def run_decoder(decode: Callable[[Frame], object], frames: Sequence[Frame]) -> int:
    """Decode each frame; return how many decoded. Any exception but CodecError fails, naming the input."""
    decoded = 0
    for frame in frames:
        try:
            decode(frame)
        except CodecError:
            continue
        except Exception as exc:  # the property under test: nothing else may escape
            raise AssertionError(f"{decode.__name__}({frame!r}) raised {exc!r}") from exc
        decoded += 1
    return decoded


# --- valid frames (round-tripped) and random frames, per codec -------------------------


def random_time(rng: random.Random) -> datetime:
    return EPOCH + timedelta(milliseconds=rng.randrange(50 * 365 * 86_400_000))


def valid_nmea(rng: random.Random) -> bytes:
    """GGA, RMC, GLL or GSA; GGA, RMC and GLL often with trailing fields left off as far as GPSD allows."""
    lat, lon, t = rng.uniform(-90, 90), rng.uniform(-180, 180), random_time(rng)
    talker = rng.choice(("GP", "GN", "GL", "GA", "BD", "GB"))
    return rng.choice((valid_gga, valid_rmc, valid_gll, valid_gsa))(rng, lat, lon, t, talker)


def sentence_fields(sentence: bytes) -> list[bytes]:
    """The fields after the address of an encoded sentence (``$`` to ``*hh`` CR LF stripped)."""
    return sentence[1:-5].split(b",")[1:]


def nmea_sentence(talker: str, kind: bytes, fields: list[bytes]) -> bytes:
    body = b",".join([talker.encode() + kind, *fields])
    return b"$%s*%02X\r\n" % (body, nmea_checksum(body))


def valid_gga(rng: random.Random, lat: float, lon: float, t: datetime, talker: str) -> bytes:
    quality, sats = rng.randrange(9), rng.randrange(100)
    alt = round(rng.uniform(-400, 9000), 1)
    fields = sentence_fields(encode_gga(lat, lon, time_utc=t, quality=quality, satellites=sats, alt=alt))
    sentence = nmea_sentence(talker, b"GGA", fields[: rng.randint(12, 14)])  # DGPS age and station optional
    fix = decode_nmea(sentence)
    assert fix is not None and fix.alt == alt and fix.satellites == sats and fix.fix_quality == quality
    assert fix.fix_valid == (quality in (1, 2, 3, 4, 5) and sats >= 3 and (fix.lat, fix.lon) != (0, 0))
    assert_position(fix, lat, lon)
    return sentence


def valid_rmc(rng: random.Random, lat: float, lon: float, t: datetime, talker: str) -> bytes:
    valid, mode = rng.random() < 0.8, rng.choice("ADEFMNPRS")
    kept = rng.choice((12, 12, rng.randint(7, 11)))  # all 12, or down to the speed
    fields = sentence_fields(encode_rmc(lat, lon, time_utc=t, valid=valid, mode=mode))
    sentence = nmea_sentence(talker, b"RMC", fields[:kept])
    fix = decode_nmea(sentence)
    assert fix is not None
    assert fix.fix_valid == (valid and (kept < 12 or mode in "ADFRP") and (fix.lat, fix.lon) != (0, 0))
    clock = f"{t:%H:%M:%S}.{t.microsecond // 1000:03d}"
    assert fix.time == (f"{t:%Y-%m-%d}T{clock}Z" if kept >= 9 else clock)
    assert_position(fix, lat, lon)
    return sentence


def valid_gll(rng: random.Random, lat: float, lon: float, t: datetime, talker: str) -> bytes:
    """GLL from the GGA encoder's fields (there is no GLL encoder: no emulator sends one)."""
    gga = sentence_fields(encode_gga(lat, lon, time_utc=t))
    status, mode = rng.choice((b"A", b"A", b"V", b"D")), rng.choice(b"ADEFMNPRS")
    fields = [*gga[1:5], gga[0], status, bytes((mode,))][: rng.choice((6, 7))]
    sentence = nmea_sentence(talker, b"GLL", fields)
    fix = decode_nmea(sentence)
    assert fix is not None and fix.time == f"{t:%H:%M:%S}.{t.microsecond // 1000:03d}"
    mode_ok = len(fields) == 6 or mode in b"ADFRP"  # six fields: NMEA 2.0, no mode
    assert fix.fix_valid == (status == b"A" and mode_ok and (fix.lat, fix.lon) != (0, 0))
    assert_position(fix, lat, lon)
    return sentence


def valid_gsa(rng: random.Random, lat: float, lon: float, t: datetime, talker: str) -> bytes:
    fix_type = rng.randint(1, 3)
    prns = rng.sample(range(1, 200), rng.randint(0, 12))
    sentence = encode_gsa(fix_type, prns, talker=talker)
    fix = decode_nmea(sentence)
    assert fix is not None and fix.fix_type == fix_type and fix.satellites == len(prns)
    return sentence


def assert_position(fix: GpsFix, lat: float, lon: float) -> None:
    assert fix.lat is not None and fix.lon is not None
    assert abs(fix.lat - lat) < 2e-7 and abs(fix.lon - lon) < 2e-7


NMEA_TOKENS = [
    b"", b"A", b"V", b"N", b"S", b"E", b"W", b"M", b"D", b"1", b"0", b"08", b"3", b"99", b"0.9", b"-19.6",
    b"545.4", b"4807.038", b"01131.000", b"9000.0", b"0000.0000", b"123519", b"235960.999", b"240000",
    b"230394", b"290223", b"311299", b"1e5", b"nan", b"-", b".", b"1.2.3", b"\xff", b" 1",
]  # fmt: skip
NMEA_TYPES = [b"GGA", b"RMC", b"GLL", b"GSA", b"GSV", b"VTG", b"ZDA", b"TXT"]


def random_nmea(rng: random.Random) -> bytes:
    """Mostly protocol-shaped sentences with a correct checksum, so the field parsers get the fuzz."""
    roll = rng.random()
    if roll < 0.1:
        return rng.randbytes(rng.randrange(100))
    talker = rng.choice((b"GP", b"GN", b"BD", b"P", b"g1", rng.randbytes(2)))
    fields = [
        rng.choice(NMEA_TOKENS) if rng.random() < 0.8 else rng.randbytes(rng.randrange(6))
        for _ in range(rng.randrange(22))
    ]
    body = b",".join([talker + rng.choice(NMEA_TYPES), *fields])
    checksum = nmea_checksum(body) if roll < 0.9 else rng.randrange(256)
    return b"%s%s*%02X\r\n" % (rng.choice((b"$", b"$", b"!")), body, checksum)


def valid_winsen(rng: random.Random) -> bytes:
    gas = rng.choice(list(WINSEN_GASES.values()))
    decimals = rng.randint(0, 3)
    raw_range = rng.randint(1, 0xFFFF)
    raw = rng.randint(0, raw_range)
    unit = rng.choice(("ppm", "ppb", "%vol"))
    frame = encode_winsen(gas, raw / 10**decimals, full_range=raw_range / 10**decimals, decimals=decimals, unit=unit)
    assert decode_winsen(frame) == GasSample(
        gas, raw / 10**decimals, unit, full_range=raw_range / 10**decimals, over_range=raw >= raw_range
    )
    return frame


def random_winsen(rng: random.Random) -> bytes:
    if rng.random() < 0.2:
        return rng.randbytes(rng.randrange(12))
    frame = bytearray(rng.randbytes(9))
    frame[0] = 0xFF
    if rng.random() < 0.5:
        frame[1] = rng.choice(list(WINSEN_GASES))
        frame[2] = rng.choice((0x02, 0x03, 0x04, 0x08, rng.randrange(256)))
        frame[3] = rng.randrange(5)
    frame[8] = winsen_checksum(bytes(frame))
    return bytes(frame)


def valid_hrm(rng: random.Random) -> bytes:
    hr = HeartRate(
        bpm=rng.choice((rng.randrange(256), rng.randrange(65536))),
        contact=rng.choice(list(Contact)),
        energy_kj=rng.choice((None, rng.randrange(65536))),
        rr_s=tuple(rng.randrange(65536) / 1024 for _ in range(rng.randrange(8))),
    )
    data = encode_hrm(hr)
    assert decode_hrm(data) == hr
    return data


def random_hrm(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randrange(24))


def valid_link(rng: random.Random) -> bytes:
    payload = rng.randbytes(rng.choice((rng.randint(1, 40), rng.randint(1, link.MAX_PAYLOAD))))
    wire = link.frame(payload)
    assert wire.count(0) == 1 and link.unframe(wire[:-1]) == payload
    return wire[:-1]


def random_link(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randrange(48))


def random_id(rng: random.Random) -> str:
    text = "".join(chr(rng.choice((rng.randrange(32, 127), rng.randrange(160, 0x2FFF)))) for _ in range(12))
    return text.encode()[: rng.randint(1, MAX_ID_BYTES)].decode("utf-8", "ignore") or "z"


def valid_message(rng: random.Random) -> bytes:
    seq = rng.randrange(256)
    msg: ControllerMessage = rng.choice(
        (
            SirenCommand(seq, random_id(rng), rng.random() < 0.5, rng.randrange(256)),
            VibrateCommand(seq, random_id(rng), rng.randrange(256), rng.randrange(65536)),
            Ack(seq),
            Nak(seq, rng.randrange(256)),
        )
    )
    wire = encode_message(msg)
    assert decode_message(wire[:-1]) == msg
    return wire[:-1]


def random_message(rng: random.Random) -> bytes:
    if rng.random() < 0.2:
        return rng.randbytes(rng.randrange(40))
    kind = rng.choice((0x01, 0x02, 0x81, 0x82, rng.randrange(256)))
    return link.frame(bytes((kind,)) + rng.randbytes(rng.randrange(40)))[:-1]


INNER: dict[str, Callable[[random.Random], bytes]] = {"nmea": valid_nmea, "winsen": valid_winsen, "hrm": valid_hrm}
INNER_DECODERS = {"nmea": decode_nmea, "winsen": decode_winsen, "hrm": decode_hrm}


def valid_gateway(rng: random.Random) -> bytes:
    address, protocol = rng.randrange(65536), rng.choice(list(PROTOCOL_CODES))
    inner = INNER[protocol](rng)
    wire = encode_gateway(address, protocol, inner)
    assert decode_gateway(wire[:-1]) == (address, INNER_DECODERS[protocol](inner))
    return wire[:-1]


def random_gateway(rng: random.Random) -> bytes:
    if rng.random() < 0.2:
        return rng.randbytes(rng.randrange(40))
    header = rng.randbytes(2) + bytes((rng.randrange(5),))
    inner = random_nmea(rng) if rng.random() < 0.3 else random_winsen(rng) if rng.random() < 0.5 else random_hrm(rng)
    return link.frame(header + (inner or b"\x00"))[:-1]


def valid_registers(rng: random.Random) -> list[int]:
    decimals = rng.randint(0, 3)
    samples = [
        GasSample(
            gas=rng.choice(list(DETECTOR_GASES.values())),
            value=rng.randint(-32768, 32767) / 10**decimals,
            unit="ppm",
            over_range=rng.random() < 0.2,
            fault=rng.choice((None, "sensor_fault", "warming_up", "sensor_fault,calibration_due")),
        )
        for _ in range(rng.randint(0, CHANNELS))
    ]
    regs = encode_registers(samples, decimals=decimals)
    decoded = decode_registers(regs)
    assert [(s.gas, s.value, s.over_range, s.fault) for s in decoded] == [
        (s.gas, s.value, s.over_range, s.fault) for s in samples
    ]
    return regs


def random_registers(rng: random.Random) -> list[int]:
    count = REGISTER_COUNT if rng.random() < 0.8 else rng.randrange(40)
    regs = []
    for i in range(count):
        if i % 4 == 0:
            regs.append(rng.choice((0, rng.randrange(14), rng.randrange(65536))))
        elif i % 4 == 2:
            regs.append(rng.choice((rng.randrange(5), rng.randrange(65536))))
        else:
            regs.append(rng.choice((rng.randrange(65536), rng.randrange(-5, 70000))))
    return regs


def mutate_registers(rng: random.Random, regs: list[int]) -> list[int]:
    out = list(regs)
    op = rng.randrange(4)
    if op == 0 and out:
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(17)
    elif op == 1:
        del out[rng.randrange(len(out) + 1) :]
    elif op == 2:
        out.insert(rng.randint(0, len(out)), rng.randrange(65536))
    elif out:
        out[rng.randrange(len(out))] = rng.randrange(-3, 65540)
    return out


def valid_rtu(rng: random.Random) -> bytes:
    regs = valid_registers(rng)
    frame = encode_rtu_response(regs, device_id=rng.randint(1, 247))
    assert decode_rtu_response(frame) == decode_registers(regs)
    return frame


def random_rtu(rng: random.Random) -> bytes:
    if rng.random() < 0.2:
        return rng.randbytes(rng.randrange(45))
    count = rng.choice((32, rng.randrange(40)))
    body = bytes((rng.randint(1, 247), rng.choice((3, 3, 4, 0x83, rng.randrange(256))), count))
    body += rng.randbytes(rng.choice((count, rng.randrange(40))))
    return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")


# name: (decode, valid frame generator, random frame generator, single bit flip always rejected)
CODECS: dict[str, tuple[Callable, Callable, Callable, bool]] = {  # type: ignore[type-arg]
    "nmea": (decode_nmea, valid_nmea, random_nmea, False),  # a flip may only change a checksum digit's case
    "winsen": (decode_winsen, valid_winsen, random_winsen, True),
    "hrm": (decode_hrm, valid_hrm, random_hrm, False),
    "link": (link.unframe, valid_link, random_link, False),
    "controller": (decode_message, valid_message, random_message, False),
    "gateway": (decode_gateway, valid_gateway, random_gateway, False),
    "modbus_rtu": (decode_rtu_response, valid_rtu, random_rtu, True),
}


@pytest.mark.parametrize("name", sorted(CODECS))
def test_codec_fuzz(name: str) -> None:
    decode, valid, random_frame, flip_rejected = CODECS[name]
    rng = random.Random(f"{SEED}-{name}")
    pool = [valid(rng) for _ in range(POOL)]  # each generator asserts its own round trip
    assert run_decoder(decode, pool) == POOL
    run_decoder(decode, [random_frame(rng) for _ in range(N)])
    run_decoder(decode, [mutate(rng, rng.choice(pool)) for _ in range(N)])
    flips = [flip_one_bit(rng, rng.choice(pool)) for _ in range(POOL)]
    if flip_rejected:
        assert run_decoder(decode, flips) == 0
    elif name == "nmea":
        for flipped in flips:
            try:
                fix = decode(flipped)
            except CodecError:
                continue
            assert fix == decode(flipped.upper())  # only a checksum hex digit changed case


def test_register_map_fuzz() -> None:
    rng = random.Random(f"{SEED}-registers")
    pool = [valid_registers(rng) for _ in range(POOL)]
    run_decoder(decode_registers, [random_registers(rng) for _ in range(N)])
    run_decoder(decode_registers, [mutate_registers(rng, rng.choice(pool)) for _ in range(N)])


# --- streams ----------------------------------------------------------------------

def raw_noise(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randrange(30))


def hex_line(frame: bytes) -> bytes:
    return frame.hex(" ").encode() + b"\n"


# protocol: (valid frame on the wire, random noise, sync bytes that end any noise before a frame,
#            whether every intact frame must come out - Winsen has no sync, so noise can swallow one)
STREAMS: dict[str, tuple[Callable[[random.Random], bytes], Callable[[random.Random], bytes], bytes, bool]] = {
    "nmea": (valid_nmea, random_nmea, b"\r\n", True),
    "winsen": (valid_winsen, random_winsen, b"", False),
    "gateway": (lambda rng: valid_gateway(rng) + b"\x00", raw_noise, b"\x00", True),
    "hrm": (lambda rng: hex_line(valid_hrm(rng)), raw_noise, b"\n", True),
    "modbus": (
        lambda rng: hex_line(valid_rtu(rng)),
        lambda rng: rng.choice((raw_noise(rng), hex_line(random_rtu(rng)))),
        b"\n",
        True,
    ),
}


def _stateless_part(decoded: Decoded) -> Decoded:
    """A GLL or GGA fix in a stream gets the date and speed of its cycle (NmeaEpoch): compare the rest."""
    r = decoded.reading
    if isinstance(r, GpsFix) and r.sentence in ("GLL", "GGA"):
        return dataclasses.replace(decoded, reading=dataclasses.replace(r, time=None, speed_mps=None, course_deg=None))
    return decoded


@pytest.mark.parametrize("protocol", sorted(STREAMS))
def test_stream_decoder_fuzz(protocol: str) -> None:
    valid, noise, sync, lossless = STREAMS[protocol]
    rng = random.Random(f"{SEED}-stream-{protocol}")
    pool = [valid(rng) for _ in range(POOL)]
    pool_readings = [StreamDecoder(protocol).feed(frame) for frame in pool]  # each intact frame framed alone
    segments, expected = [], Counter()  # type: ignore[var-annotated]
    intact = 0
    for _ in range(N):
        roll = rng.random()
        if roll < 0.4:
            i = rng.randrange(POOL)
            segments.append(sync + pool[i])
            expected.update(pool_readings[i])
            intact += 1
        elif roll < 0.7:
            segments.append(mutate(rng, rng.choice(pool)))
        else:
            segments.append(noise(rng))
    stream = b"".join(segments)
    decoder = StreamDecoder(protocol)
    out = []
    pos = 0
    while pos < len(stream):
        step = rng.choice((1, 7, 64, 1000, 4096))
        out += decoder.feed(stream[pos : pos + step])  # must never raise, not even CodecError
        pos += step
    got = Counter(_stateless_part(d) for d in out)
    expected = Counter({_stateless_part(d): n for d, n in expected.items()})
    recovered = sum(min(got[k], n) for k, n in expected.items())
    total = sum(expected.values())
    assert recovered == total if lossless else recovered >= 0.99 * total
    stats = decoder.stats
    assert stats.readings == len(out)
    assert 0 < stats.bytes_discarded <= len(stream) and stats.frames_rejected > 0  # noise is counted
    assert stats.frames_ok >= (intact if lossless else 0.99 * intact)


# --- round-trip properties (hypothesis) ---------------------------------------------------

latitudes = st.floats(-90, 90, allow_nan=False)
longitudes = st.floats(-180, 180, allow_nan=False)
times = st.datetimes(datetime(1980, 1, 1), datetime(2079, 12, 31), timezones=st.just(timezone.utc))


@given(latitudes, longitudes, times, st.integers(0, 8), st.integers(0, 99))
def test_gga_round_trip_property(lat: float, lon: float, t: datetime, quality: int, sats: int) -> None:
    fix = decode_nmea(encode_gga(lat, lon, time_utc=t, quality=quality, satellites=sats))
    assert fix is not None and fix.lat is not None and fix.lon is not None
    assert abs(fix.lat - lat) < 2e-7 and abs(fix.lon - lon) < 2e-7
    assert fix.time == f"{t:%H:%M:%S}.{t.microsecond // 1000:03d}"


@given(latitudes, longitudes, times, st.booleans(), st.sampled_from("ADEFMNPRS"))
def test_rmc_round_trip_property(lat: float, lon: float, t: datetime, valid: bool, mode: str) -> None:
    fix = decode_nmea(encode_rmc(lat, lon, time_utc=t, valid=valid, mode=mode))
    assert fix is not None and fix.time == f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"
    assert fix.fix_valid == (valid and mode in "ADFRP" and (fix.lat, fix.lon) != (0.0, 0.0))


@given(
    st.sampled_from(sorted(WINSEN_GASES.values())),
    st.integers(0, 3),
    st.integers(1, 0xFFFF),
    st.data(),
)
def test_winsen_round_trip_property(gas: Gas, decimals: int, raw_range: int, data: st.DataObject) -> None:
    raw = data.draw(st.integers(0, raw_range))
    scale = 10**decimals
    sample = decode_winsen(encode_winsen(gas, raw / scale, full_range=raw_range / scale, decimals=decimals))
    assert sample == GasSample(gas, raw / scale, "ppm", full_range=raw_range / scale, over_range=raw == raw_range)
