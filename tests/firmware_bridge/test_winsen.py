"""Winsen ZE active-upload frames: manual examples, hand-checked checksums, encoder round trips."""
from __future__ import annotations

import pytest

from firmware_bridge.codecs.winsen import (
    GAS_CODES,
    decode_winsen,
    encode_winsen,
    winsen_checksum,
)
from firmware_bridge.errors import CodecError
from firmware_bridge.readings import Gas, GasSample

# ZE08-CH2O manual, initiative upload example: CH2O, ppb, no decimals, 0x0025 = 37, range 0x1388 = 5000.
# Checksum by hand: 0x17+0x04+0x00+0x00+0x25+0x13+0x88 = 0xDB; ~0xDB + 1 = 0x25.
ZE08_EXAMPLE = bytes.fromhex("FF 17 04 00 00 25 13 88 25")
# ZE07-CO layout with one decimal: 3.7 ppm of 500.0. 0x04+0x03+0x01+0x00+0x25+0x13+0x88 = 0xC8 -> 0x38.
ZE07_CO = bytes.fromhex("FF 04 03 01 00 25 13 88 38")


def test_checksum_by_hand() -> None:
    assert winsen_checksum(ZE08_EXAMPLE) == 0x25
    assert winsen_checksum(ZE07_CO) == 0x38


def test_manual_example_frame() -> None:
    assert decode_winsen(ZE08_EXAMPLE) == GasSample(Gas.CH2O, 37.0, "ppb", full_range=5000.0)


def test_decimals_scale_value_and_range() -> None:
    assert decode_winsen(ZE07_CO) == GasSample(Gas.CO, 3.7, "ppm", full_range=500.0)


def test_the_co_manual_example_with_its_copied_checksum_is_rejected() -> None:
    # The ZE07-CO manual reuses the ZE08 example's checksum byte (0x25): it does not check.
    with pytest.raises(CodecError, match="checksum"):
        decode_winsen(bytes.fromhex("FF 04 03 01 00 25 13 88 25"))


@pytest.mark.parametrize("code,gas", sorted(GAS_CODES.items()))
def test_every_gas_code_round_trips(code: int, gas: Gas) -> None:
    frame = encode_winsen(gas, 12.5, full_range=100.0, decimals=1)
    assert frame[1] == code
    assert decode_winsen(frame) == GasSample(gas, 12.5, "ppm", full_range=100.0)


@pytest.mark.parametrize("unit", ["ppm", "ppb", "%vol"])
def test_units_round_trip(unit: str) -> None:
    assert decode_winsen(encode_winsen(Gas.O2, 20.9, full_range=25.0, decimals=1, unit=unit)).unit == unit


def test_ze03_ppm_code_is_understood() -> None:
    frame = bytearray(ZE07_CO)
    frame[2] = 0x02
    frame[8] = winsen_checksum(bytes(frame))
    assert decode_winsen(bytes(frame)).unit == "ppm"


def test_over_range_at_and_beyond_full_range() -> None:
    assert not decode_winsen(encode_winsen(Gas.H2S, 99.9, full_range=100.0, decimals=1)).over_range
    at_range = decode_winsen(encode_winsen(Gas.H2S, 100.0, full_range=100.0, decimals=1))
    assert at_range.over_range and at_range.value == 100.0
    saturated = decode_winsen(encode_winsen(Gas.H2S, 250.0, full_range=100.0, decimals=1))
    assert saturated.over_range and saturated.value == 100.0


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        ZE08_EXAMPLE[:8],
        ZE08_EXAMPLE + b"\x00",
        b"\xfe" + ZE08_EXAMPLE[1:],
        ZE08_EXAMPLE[:5] + b"\x26" + ZE08_EXAMPLE[6:],  # value corrupted, checksum not updated
    ],
)
def test_framing_errors(frame: bytes) -> None:
    with pytest.raises(CodecError):
        decode_winsen(frame)


def _with(changes: dict[int, int]) -> bytes:
    """ZE07_CO with some bytes replaced and a correct checksum."""
    frame = bytearray(ZE07_CO)
    for index, value in changes.items():
        frame[index] = value
    frame[8] = winsen_checksum(bytes(frame))
    return bytes(frame)


@pytest.mark.parametrize(
    "frame,reason",
    [
        (_with({1: 0x2E}), "gas code"),  # HCl: a ZE03 gas the runtime does not model
        (_with({1: 0x86}), "gas code"),  # a Q&A response is not an upload frame
        (_with({2: 0x07}), "unit"),
        (_with({3: 4}), "decimals"),
        (_with({6: 0, 7: 0}), "range"),
    ],
)
def test_out_of_spec_fields(frame: bytes, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        decode_winsen(frame)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gas": Gas.LEL, "value": 1.0, "full_range": 100.0},
        {"gas": Gas.CO, "value": 1.0, "full_range": 100.0, "unit": "mg/m3"},
        {"gas": Gas.CO, "value": 1.0, "full_range": 100.0, "decimals": 4},
        {"gas": Gas.CO, "value": 1.0, "full_range": 7000.0, "decimals": 1},
        {"gas": Gas.CO, "value": -1.0, "full_range": 100.0},
    ],
)
def test_encoder_refuses_what_a_module_cannot_send(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        encode_winsen(**kwargs)
