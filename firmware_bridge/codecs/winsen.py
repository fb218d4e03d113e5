"""Winsen ZE-series electrochemical gas modules (ZE03, ZE07, ZE08...): 9-byte active-upload frame.

In their default "initiative upload" mode the modules send one frame a second
at 9600 8N1 (Winsen ZE03 user's manual V2.x, ZE07-CO manual V1.2 and ZE08-CH2O
manual, "initiative upload" tables)::

    byte 0    0xFF                 start
    byte 1    gas code             see GAS_CODES
    byte 2    unit code            see UNIT_CODES
    byte 3    decimals             value = raw / 10**decimals
    byte 4-5  concentration        uint16, big-endian
    byte 6-7  full range           uint16, big-endian, same scaling
    byte 8    checksum             (~(byte1 + ... + byte7) + 1) & 0xFF

Gas codes are the ZE03 table (NH3 0x02, H2S 0x03, CO 0x04, O2 0x05, H2 0x06,
CH2O 0x17, O3 0x2A, SO2 0x2B, NO2 0x2C, Cl2 0x31); codes for gases the runtime
does not model (HCl, HF, PH3...) are rejected, because a reading we cannot name
cannot be compared with any limit. Unit codes: 0x04 is ppb (ZE08-CH2O example
``FF 17 04 00 00 25 13 88 25``, whose checksum checks), 0x03 is ppm (ZE07-CO
example), 0x02 is ppm on ZE03 firmware; 0x08 for %vol (ZE03-O2) is this
project's assignment, as the manuals we could read give none - confirm it on a
real O2 module before relying on it. The encoder writes 0x03 for ppm.

The question-and-answer response (``FF 86 ...``) is not decoded: its layout
differs between models and it carries neither gas nor unit, so it cannot yield
a self-describing sample; the stream framer rejects it as an unknown gas code.
"""
from __future__ import annotations

from firmware_bridge.errors import CodecError
from firmware_bridge.readings import Gas, GasSample

FRAME_LEN = 9
START = 0xFF
MAX_DECIMALS = 3

GAS_CODES: dict[int, Gas] = {
    0x02: Gas.NH3,
    0x03: Gas.H2S,
    0x04: Gas.CO,
    0x05: Gas.O2,
    0x06: Gas.H2,
    0x17: Gas.CH2O,
    0x2A: Gas.O3,
    0x2B: Gas.SO2,
    0x2C: Gas.NO2,
    0x31: Gas.CL2,
}
UNIT_CODES: dict[int, str] = {0x02: "ppm", 0x03: "ppm", 0x04: "ppb", 0x08: "%vol"}

_CODE_OF_GAS = {gas: code for code, gas in GAS_CODES.items()}
_CODE_OF_UNIT = {"ppm": 0x03, "ppb": 0x04, "%vol": 0x08}


def winsen_checksum(frame: bytes) -> int:
    """Checksum over bytes 1..7 of a frame (the start byte and the checksum itself excluded)."""
    return -sum(frame[1:8]) & 0xFF


def decode_winsen(frame: bytes) -> GasSample:
    """One active-upload frame to a sample; ``over_range`` when the value reaches full range."""
    if len(frame) != FRAME_LEN or frame[0] != START:
        raise CodecError("not a 9-byte Winsen frame")
    if winsen_checksum(frame) != frame[8]:
        raise CodecError("Winsen checksum mismatch")
    gas = GAS_CODES.get(frame[1])
    if gas is None:
        raise CodecError(f"unknown Winsen gas code 0x{frame[1]:02X}")
    unit = UNIT_CODES.get(frame[2])
    if unit is None:
        raise CodecError(f"unknown Winsen unit code 0x{frame[2]:02X}")
    decimals = frame[3]
    if decimals > MAX_DECIMALS:
        raise CodecError(f"Winsen decimals {decimals} out of range")
    raw_range = frame[6] << 8 | frame[7]
    if raw_range == 0:
        raise CodecError("Winsen full range is zero")
    raw = frame[4] << 8 | frame[5]
    scale = 10**decimals
    return GasSample(
        gas=gas,
        value=raw / scale,
        unit=unit,
        full_range=raw_range / scale,
        over_range=raw >= raw_range,
    )


def encode_winsen(gas: Gas, value: float, *, full_range: float, decimals: int = 0, unit: str = "ppm") -> bytes:
    """The frame a module sends for ``value``; values beyond full range saturate there, as modules do."""
    code = _CODE_OF_GAS.get(gas)
    if code is None:
        raise ValueError(f"no Winsen gas code for {gas}")
    unit_code = _CODE_OF_UNIT.get(unit)
    if unit_code is None:
        raise ValueError(f"no Winsen unit code for {unit!r}")
    if not 0 <= decimals <= MAX_DECIMALS:
        raise ValueError(f"decimals must be 0-{MAX_DECIMALS}")
    scale = 10**decimals
    raw_range = round(full_range * scale)
    if not 0 < raw_range <= 0xFFFF or value < 0:
        raise ValueError("full range must fit 16 bits after scaling and value must be >= 0")
    raw = min(round(value * scale), raw_range)
    frame = bytes((START, code, unit_code, decimals, raw >> 8, raw & 0xFF, raw_range >> 8, raw_range & 0xFF, 0))
    return frame[:8] + bytes((winsen_checksum(frame),))
