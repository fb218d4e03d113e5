"""Heart Rate Measurement (0x2A37): byte-level examples of every flag, errors, round trips."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.codecs.hrm import decode_hrm, encode_hrm
from firmware_bridge.errors import CodecError
from firmware_bridge.readings import Contact, HeartRate


@pytest.mark.parametrize(
    "hex_value,expected",
    [
        # flags 0x00: uint8 HR, contact not supported
        ("00 48", HeartRate(72)),
        # flags 0x06: contact supported and detected (bits 1-2 = 0b11)
        ("06 3c", HeartRate(60, Contact.DETECTED)),
        # flags 0x04: supported, not detected - "no signal", not cardiac arrest
        ("04 00", HeartRate(0, Contact.NOT_DETECTED)),
        # flags 0x02: bit 1 without bit 2 still means "not supported"
        ("02 50", HeartRate(80, Contact.UNSUPPORTED)),
        # flags 0x01: HR as uint16 little-endian, 0x0104 = 260
        ("01 04 01", HeartRate(260)),
        # flags 0x08: energy expended 0x0123 = 291 kJ
        ("08 5a 23 01", HeartRate(90, energy_kj=291)),
        # flags 0x16 (a chest strap's usual value): contact detected + RR;
        # RR 0x0401 = 1025/1024 s, 0x037f = 895/1024 s
        ("16 48 01 04 7f 03", HeartRate(72, Contact.DETECTED, rr_s=(1025 / 1024, 895 / 1024))),
        # everything: uint16 HR, contact, energy, one RR of exactly 0.5 s (512 = 0x0200)
        ("1f b4 00 0a 00 00 02", HeartRate(180, Contact.DETECTED, energy_kj=10, rr_s=(0.5,))),
        # reserved bits 5-7 set by a newer strap are ignored
        ("e0 48", HeartRate(72)),
    ],
)
def test_decode_examples(hex_value: str, expected: HeartRate) -> None:
    assert decode_hrm(bytes.fromhex(hex_value)) == expected


@pytest.mark.parametrize(
    "hex_value",
    [
        "",  # empty
        "00",  # no HR
        "01 48",  # uint16 HR cut short
        "08 48 01",  # energy cut short
        "10 48 01",  # half an RR interval
        "00 48 00",  # trailing byte without RR flag
    ],
)
def test_corrupt_values_raise(hex_value: str) -> None:
    with pytest.raises(CodecError):
        decode_hrm(bytes.fromhex(hex_value))


def test_encoder_picks_the_smallest_form() -> None:
    assert encode_hrm(HeartRate(72)) == bytes.fromhex("0048")
    assert encode_hrm(HeartRate(256)) == bytes.fromhex("010001")
    assert encode_hrm(HeartRate(72, Contact.NOT_DETECTED)) == bytes.fromhex("0448")


@pytest.mark.parametrize(
    "bad",
    [HeartRate(-1), HeartRate(70_000), HeartRate(70, energy_kj=70_000), HeartRate(70, rr_s=(64.0,))],
)
def test_encoder_refuses_unrepresentable_values(bad: HeartRate) -> None:
    with pytest.raises(ValueError):
        encode_hrm(bad)


heart_rates = st.builds(
    HeartRate,
    bpm=st.integers(0, 0xFFFF),
    contact=st.sampled_from(Contact),
    energy_kj=st.none() | st.integers(0, 0xFFFF),
    rr_s=st.lists(st.integers(0, 0xFFFF), max_size=9).map(lambda units: tuple(u / 1024 for u in units)),
)


@given(heart_rates)
def test_round_trip(hr: HeartRate) -> None:
    assert decode_hrm(encode_hrm(hr)) == hr


@given(st.binary(max_size=24))
def test_arbitrary_bytes_decode_or_raise_codec_error(data: bytes) -> None:
    try:
        hr = decode_hrm(data)
    except CodecError:
        return
    assert encode_hrm(hr) == data or hr == decode_hrm(encode_hrm(hr))
