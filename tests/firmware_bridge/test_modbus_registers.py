"""Fixed detector register map and raw RTU responses (CRC and PDU via pymodbus)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU

from firmware_bridge.codecs.modbus_detector import (
    CHANNELS,
    GAS_CODES,
    REGISTER_COUNT,
    START_ADDRESS,
    decode_registers,
    decode_rtu_response,
    encode_registers,
    encode_rtu_response,
)
from firmware_bridge.errors import CodecError
from firmware_bridge.readings import Gas, GasSample

#            gas  value  dec status
BLOCK = [
    4, 125, 1, 0,  # LEL 12.5 %LEL
    1, 209, 1, 0x08,  # O2 20.9 %vol, warming up
    2, 0xFFF4, 1, 0x03,  # CO -1.2 ppm (int16 0xFFF4 = -12), fault + over-range
    0, 0, 0, 0,  # unused
]  # fmt: skip


def test_layout_constants() -> None:
    assert (START_ADDRESS, CHANNELS, REGISTER_COUNT) == (0, 4, 16)


def test_decode_block_by_hand() -> None:
    assert decode_registers(BLOCK) == [
        GasSample(Gas.LEL, 12.5, "%LEL"),
        GasSample(Gas.O2, 20.9, "%vol", fault="warming_up"),
        GasSample(Gas.CO, -1.2, "ppm", over_range=True, fault="sensor_fault"),
    ]


def test_all_fault_bits_in_bit_order_and_reserved_bits_ignored() -> None:
    regs = [3, 100, 0, 0xFFFD] + [0] * 12
    (sample,) = decode_registers(regs)
    assert sample.fault == "sensor_fault,calibration_due,warming_up" and not sample.over_range


def test_encode_is_the_inverse() -> None:
    samples = decode_registers(BLOCK)
    assert encode_registers(samples) == BLOCK


def test_encode_merges_fault_mapping() -> None:
    regs = encode_registers([GasSample(Gas.H2S, 5.0, "ppm")], decimals=0, faults={Gas.H2S: "calibration_due"})
    assert regs[:4] == [3, 5, 0, 0x04]


@pytest.mark.parametrize(
    "regs",
    [
        BLOCK[:-1],  # too few
        [*BLOCK, 0],  # too many
        [99, *BLOCK[1:]],  # unknown gas code
        [*BLOCK[:2], 4, *BLOCK[3:]],  # 4 decimals
        [*BLOCK[:1], 0x10000, *BLOCK[2:]],  # not a 16-bit register
        [*BLOCK[:1], -1, *BLOCK[2:]],
    ],
)
def test_bad_blocks_raise(regs: list[int]) -> None:
    with pytest.raises(CodecError):
        decode_registers(regs)


@pytest.mark.parametrize(
    "samples,kwargs",
    [
        ([GasSample(Gas.CO, 1.0, "ppm")] * 5, {}),
        ([GasSample(Gas.CO, 4000.0, "ppm")], {"decimals": 1}),  # 40000 > int16
        ([GasSample(Gas.CO, 1.0, "ppm", fault="on_fire")], {}),
        ([GasSample(Gas.CO, 1.0, "ppm")], {"decimals": 4}),
    ],
)
def test_encoder_refuses(samples: list[GasSample], kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        encode_registers(samples, **kwargs)


# Device 1, function 3, byte count 0x20, the 16 registers of BLOCK, then the Modbus CRC-16 (0x0F6A, low byte first).
RTU = bytes.fromhex(
    "01 03 20 0004 007d 0001 0000 0001 00d1 0001 0008 0002 fff4 0001 0003 0000 0000 0000 0000 6a 0f"
)


def test_rtu_response_round_trip() -> None:
    assert encode_rtu_response(BLOCK) == RTU
    assert decode_rtu_response(RTU) == decode_registers(BLOCK)


def test_rtu_crc_is_modbus_crc16() -> None:
    # Modbus CRC-16 (poly 0xA001 reflected, init 0xFFFF) of the textbook request "01 03 00 00 00 0A" is C5 CD.
    assert FramerRTU.compute_CRC(bytes.fromhex("01 03 00 00 00 0a")).to_bytes(2, "big") == bytes.fromhex("c5 cd")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda f: f[:-1],  # truncated
        lambda f: f[:5] + bytes((f[5] ^ 1,)) + f[6:],  # data corrupted
        lambda f: f + b"\x00",  # trailing byte
        lambda f: b"\x00" + f,  # leading byte
        lambda f: b"",
    ],
)
def test_rtu_corruption_raises(mutate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CodecError):
        decode_rtu_response(mutate(RTU))


def test_rtu_other_functions_and_exceptions_raise() -> None:
    def with_crc(body: bytes) -> bytes:
        return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")

    with pytest.raises(CodecError, match="exception"):
        decode_rtu_response(with_crc(bytes.fromhex("01 83 02")))
    with pytest.raises(CodecError, match="function 4"):
        decode_rtu_response(with_crc(bytes.fromhex("01 04 02 00 01")))
    with pytest.raises(CodecError, match="byte count"):
        decode_rtu_response(with_crc(bytes.fromhex("01 03 04 00 01")))
    with pytest.raises(CodecError, match="16 registers"):
        decode_rtu_response(with_crc(bytes.fromhex("01 03 02 00 01")))


samples = st.lists(
    st.builds(
        GasSample,
        gas=st.sampled_from(sorted(GAS_CODES.values())),
        value=st.integers(-32768, 32767).map(lambda raw: raw / 10),
        unit=st.just("ppm"),
        over_range=st.booleans(),
        fault=st.sampled_from([None, "sensor_fault", "calibration_due,warming_up"]),
    ),
    max_size=CHANNELS,
)


@given(samples)
def test_register_round_trip(block: list[GasSample]) -> None:
    decoded = decode_registers(encode_registers(block))
    assert [(s.gas, s.value, s.over_range, s.fault) for s in decoded] == [
        (s.gas, s.value, s.over_range, s.fault) for s in block
    ]
