"""COBS + CRC-16 link framing, and the controller messages that ride on it."""
from __future__ import annotations

import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from firmware_bridge.codecs.link import MAX_FRAME_LEN, MAX_PAYLOAD, frame, unframe
from firmware_bridge.errors import CodecError


def crc16_ccitt_false_bitwise(data: bytes) -> int:
    """The catalogue definition, bit by bit: poly 0x1021, init 0xFFFF, no reflection, no xorout."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = (crc << 1 ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def test_crc_is_ccitt_false() -> None:
    assert crc16_ccitt_false_bitwise(b"123456789") == 0x29B1  # the catalogued check value
    for data in (b"\x11\x00\x22", b"\x00", bytes(range(256))):
        assert binascii.crc_hqx(data, 0xFFFF) == crc16_ccitt_false_bitwise(data)


def test_frame_bytes_by_hand() -> None:
    # payload 11 00 22, CRC 0xBCEF appended big-endian: 11 00 22 BC EF;
    # COBS: [02 11] [04 22 BC EF], then the 0x00 delimiter.
    assert crc16_ccitt_false_bitwise(b"\x11\x00\x22") == 0xBCEF
    assert frame(b"\x11\x00\x22") == bytes.fromhex("02 11 04 22 bc ef 00")
    assert unframe(bytes.fromhex("02 11 04 22 bc ef")) == b"\x11\x00\x22"


def test_no_zero_inside_a_frame() -> None:
    wire = frame(bytes(300))
    assert wire.count(0) == 1 and wire.endswith(b"\x00")
    assert unframe(wire[:-1]) == bytes(300)


@pytest.mark.parametrize(
    "wire",
    [
        b"",  # empty
        bytes.fromhex("02 11 04 22 bc ee"),  # CRC off by one bit
        bytes.fromhex("02 11 04 22 bc"),  # truncated: COBS length code runs past the end
        bytes.fromhex("02 11 00 22 bc ef"),  # a zero inside: not COBS
        bytes.fromhex("03 ff ff"),  # the valid CRC of an empty payload: still no payload
        b"\x01" * (MAX_FRAME_LEN + 1),  # longer than any valid frame
    ],
)
def test_unframe_rejects(wire: bytes) -> None:
    with pytest.raises(CodecError):
        unframe(wire)


def test_frame_refuses_empty_and_oversized_payloads() -> None:
    with pytest.raises(ValueError):
        frame(b"")
    with pytest.raises(ValueError):
        frame(bytes(MAX_PAYLOAD + 1))
    assert unframe(frame(bytes(MAX_PAYLOAD))[:-1]) == bytes(MAX_PAYLOAD)


@given(st.binary(min_size=1, max_size=MAX_PAYLOAD))
def test_link_round_trip(payload: bytes) -> None:
    wire = frame(payload)
    assert len(wire) - 1 <= MAX_FRAME_LEN
    assert unframe(wire[:-1]) == payload


# --- controller messages ------------------------------------------------------


def test_siren_command_layout_by_hand() -> None:
    wire = encode_message(SirenCommand(seq=7, zone="Z1", on=True, pattern=3))
    # type 01, seq 07, id length 02 "Z1", on 01, pattern 03
    assert unframe(wire[:-1]) == bytes.fromhex("01 07 02 5a 31 01 03")


def test_vibrate_ack_nak_layouts_by_hand() -> None:
    assert unframe(encode_message(VibrateCommand(1, "w9", 2, 1500))[:-1]) == bytes.fromhex("02 01 02 77 39 02 05 dc")
    assert unframe(encode_message(Ack(200))[:-1]) == bytes.fromhex("81 c8")
    assert unframe(encode_message(Nak(200, 3))[:-1]) == bytes.fromhex("82 c8 03")


@pytest.mark.parametrize(
    "payload",
    [
        "",  # (frame refuses empty; see below)
        "81",  # no seq
        "81 01 00",  # ack with trailing byte
        "82 01",  # nak without code
        "7f 01",  # unknown type
        "01 01 00 01 01",  # empty id
        "01 01 21" + " 41" * 33 + " 01 01",  # 33-byte id
        "01 01 05 5a 31 01 03",  # id length past the end
        "01 01 02 ff fe 01 03",  # id not UTF-8
        "01 01 02 5a 31 02 03",  # siren state 2
        "02 01 02 77 39 02 05",  # duration cut short
    ],
)
def test_decode_message_rejects(payload: str) -> None:
    raw = bytes.fromhex(payload)
    wire = frame(raw)[:-1] if raw else b""
    with pytest.raises(CodecError):
        decode_message(wire)


@pytest.mark.parametrize(
    "msg",
    [
        SirenCommand(256, "z", True),
        SirenCommand(1, "", True),
        SirenCommand(1, "z" * (MAX_ID_BYTES + 1), True),
        SirenCommand(1, "z", True, pattern=300),
        VibrateCommand(1, "w", duration_ms=70_000),
        Nak(1, 256),
    ],
)
def test_encode_message_refuses_out_of_range_fields(msg: ControllerMessage) -> None:
    with pytest.raises(ValueError):
        encode_message(msg)


ids = st.text(min_size=1, max_size=MAX_ID_BYTES).filter(lambda s: 0 < len(s.encode()) <= MAX_ID_BYTES)
u8 = st.integers(0, 255)
messages = st.one_of(
    st.builds(SirenCommand, seq=u8, zone=ids, on=st.booleans(), pattern=u8),
    st.builds(VibrateCommand, seq=u8, wearable=ids, pattern=u8, duration_ms=st.integers(0, 0xFFFF)),
    st.builds(Ack, seq=u8),
    st.builds(Nak, seq=u8, code=u8),
)


@given(messages)
def test_message_round_trip(msg: ControllerMessage) -> None:
    wire = encode_message(msg)
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    assert decode_message(wire[:-1]) == msg
