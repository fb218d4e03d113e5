"""Sensor gateway frames: address + protocol byte + a tag's own bytes, over the COBS/CRC link."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from firmware_bridge.codecs.gateway import PROTOCOL_CODES, decode_gateway, encode_gateway
from firmware_bridge.codecs.hrm import encode_hrm
from firmware_bridge.codecs.link import frame, unframe
from firmware_bridge.codecs.nmea import encode_gga
from firmware_bridge.codecs.winsen import encode_winsen
from firmware_bridge.errors import CodecError
from firmware_bridge.readings import Contact, Gas, GasSample, GpsFix, HeartRate

GSV = b"$GPGSV,3,1,12,09,88,089,31,07,60,281,44,23,55,123,33,10,44,274,32*78\r\n"


def test_payload_layout_by_hand() -> None:
    wire = encode_gateway(0x0102, "hrm", bytes.fromhex("0648"))
    assert unframe(wire[:-1]) == bytes.fromhex("01 02 03 06 48")


def test_each_protocol_decodes_with_its_codec() -> None:
    t = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    address, fix = decode_gateway(encode_gateway(7, "nmea", encode_gga(48.1, 11.5, time_utc=t))[:-1])
    assert address == 7 and isinstance(fix, GpsFix) and fix.fix_valid
    h2s = encode_winsen(Gas.H2S, 4.2, full_range=100.0, decimals=1)
    address, gas = decode_gateway(encode_gateway(0xFFFF, "winsen", h2s)[:-1])
    assert (address, gas) == (0xFFFF, GasSample(Gas.H2S, 4.2, "ppm", full_range=100.0))
    address, hr = decode_gateway(encode_gateway(0, "hrm", encode_hrm(HeartRate(71, Contact.DETECTED)))[:-1])
    assert (address, hr) == (0, HeartRate(71, Contact.DETECTED))


def test_nmea_other_than_position_gives_no_reading() -> None:
    assert decode_gateway(encode_gateway(9, "nmea", GSV)[:-1]) == (9, None)


@pytest.mark.parametrize(
    "payload",
    [
        bytes.fromhex("00 01"),  # no protocol byte
        bytes.fromhex("00 01 03"),  # no inner payload
        bytes.fromhex("00 01 09 06 48"),  # unknown protocol
        bytes.fromhex("00 01 03 00"),  # heart rate without a value
        bytes.fromhex("00 01 02 ff 04 03 01 00 25 13 88 39"),  # Winsen checksum wrong inside a good link frame
        b"\x00\x01\x01$GPGGA,bad*00",  # NMEA checksum wrong
    ],
)
def test_bad_frames_raise(payload: bytes) -> None:
    with pytest.raises(CodecError):
        decode_gateway(frame(payload)[:-1])


def test_link_corruption_raises() -> None:
    wire = bytearray(encode_gateway(1, "hrm", b"\x00\x48")[:-1])
    wire[2] ^= 0x10
    with pytest.raises(CodecError):
        decode_gateway(bytes(wire))


@pytest.mark.parametrize(
    "address,protocol,inner",
    [(-1, "hrm", b"\x00\x48"), (0x10000, "hrm", b"\x00\x48"), (1, "lora", b"x"), (1, "hrm", b"")],
)
def test_encoder_refuses(address: int, protocol: str, inner: bytes) -> None:
    with pytest.raises(ValueError):
        encode_gateway(address, protocol, inner)


def test_protocol_codes_are_the_documented_wire_values() -> None:
    assert PROTOCOL_CODES == {"nmea": 1, "winsen": 2, "hrm": 3}
