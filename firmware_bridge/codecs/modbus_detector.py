"""Register map of the site's fixed multi-gas detectors, polled over Modbus RTU.

The transport (pymodbus client, polling) lives elsewhere; this module only says
what the holding registers mean, so the poller, the detector emulator and the
``decode`` command agree. Holding registers from :data:`START_ADDRESS`,
:data:`CHANNELS` channels of 4 registers each::

    +0  gas code       0 = channel unused, else GAS_CODES
    +1  concentration  int16 (two's complement), value = raw / 10**decimals
    +2  decimals       0-3
    +3  status bits    bit 0 sensor fault, bit 1 over-range, bit 2 calibration
                       due, bit 3 warming up; bits 4-15 reserved, ignored

Gas codes are this project's own table, not Winsen's: fixed detectors are
mostly combustible (%LEL) heads, which no ZE module measures. Units follow the
gas: O2 in %vol, combustibles in %LEL, everything else in ppm. A channel's
fault bits become :attr:`GasSample.fault` as comma-separated names in bit
order (``"sensor_fault"``, ``"calibration_due"``, ``"warming_up"``); negative
(drifted) values are kept, because negative drift is itself an alarm.

For raw captures, :func:`decode_rtu_response` checks a whole RTU response (CRC,
function code 3, byte count) with pymodbus's own CRC and PDU decoder.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

from firmware_bridge.errors import CodecError
from firmware_bridge.readings import Gas, GasSample

START_ADDRESS = 0
CHANNELS = 4
REGISTERS_PER_CHANNEL = 4
REGISTER_COUNT = CHANNELS * REGISTERS_PER_CHANNEL
MAX_DECIMALS = 3

GAS_CODES: dict[int, Gas] = {
    1: Gas.O2,
    2: Gas.CO,
    3: Gas.H2S,
    4: Gas.LEL,
    5: Gas.NH3,
    6: Gas.NO2,
    7: Gas.SO2,
    8: Gas.CL2,
    9: Gas.H2,
    10: Gas.O3,
    11: Gas.CH2O,
    12: Gas.HCN,
}
UNITS: dict[Gas, str] = {Gas.O2: "%vol", Gas.LEL: "%LEL"}
DEFAULT_UNIT = "ppm"

STATUS_FAULT = 0x01
STATUS_OVER_RANGE = 0x02
STATUS_CALIBRATION_DUE = 0x04
STATUS_WARMING_UP = 0x08
FAULT_BITS: dict[str, int] = {
    "sensor_fault": STATUS_FAULT,
    "calibration_due": STATUS_CALIBRATION_DUE,
    "warming_up": STATUS_WARMING_UP,
}

_CODE_OF_GAS = {gas: code for code, gas in GAS_CODES.items()}
_FAULT_MASK = STATUS_FAULT | STATUS_CALIBRATION_DUE | STATUS_WARMING_UP
_FAULT_TEXT = {
    status: ",".join(name for name, bit in FAULT_BITS.items() if status & bit) or None
    for status in range(_FAULT_MASK + 1)
    if not status & ~_FAULT_MASK
}
_PDU_DECODER = DecodePDU(is_server=False)
_RTU = FramerRTU(_PDU_DECODER)
_READ_HOLDING_REGISTERS = ReadHoldingRegistersResponse.function_code
_RTU_OVERHEAD = 5  # device id, function code, byte count, 2 CRC bytes


def decode_registers(regs: Sequence[int]) -> list[GasSample]:
    """The samples of every used channel, in channel order."""
    if len(regs) != REGISTER_COUNT:
        raise CodecError(f"expected {REGISTER_COUNT} registers, got {len(regs)}")
    if min(regs) < 0 or max(regs) > 0xFFFF:
        raise CodecError("register value out of 16 bits")
    samples = []
    for base in range(0, REGISTER_COUNT, REGISTERS_PER_CHANNEL):
        code, raw, decimals, status = regs[base : base + REGISTERS_PER_CHANNEL]
        if code == 0:
            continue
        gas = GAS_CODES.get(code)
        if gas is None:
            raise CodecError(f"unknown detector gas code {code}")
        if decimals > MAX_DECIMALS:
            raise CodecError(f"detector decimals {decimals} out of range")
        samples.append(
            GasSample(
                gas=gas,
                value=(raw - 0x10000 if raw & 0x8000 else raw) / 10**decimals,
                unit=UNITS.get(gas, DEFAULT_UNIT),
                over_range=bool(status & STATUS_OVER_RANGE),
                fault=_FAULT_TEXT[status & _FAULT_MASK],
            )
        )
    return samples


def encode_registers(
    samples: Sequence[GasSample], *, decimals: int = 1, faults: Mapping[Gas, str] | None = None
) -> list[int]:
    """The register block a detector holds for ``samples``; ``faults`` adds fault names per gas."""
    if len(samples) > CHANNELS:
        raise ValueError(f"a detector has at most {CHANNELS} channels")
    if not 0 <= decimals <= MAX_DECIMALS:
        raise ValueError(f"decimals must be 0-{MAX_DECIMALS}")
    regs = [0] * REGISTER_COUNT
    for i, sample in enumerate(samples):
        raw = round(sample.value * 10**decimals)
        if not -0x8000 <= raw <= 0x7FFF:
            raise ValueError(f"{sample.gas.value} value {sample.value} does not fit int16 at {decimals} decimals")
        status = STATUS_OVER_RANGE if sample.over_range else 0
        for text in (sample.fault, (faults or {}).get(sample.gas)):
            for name in filter(None, (text or "").split(",")):
                if name not in FAULT_BITS:
                    raise ValueError(f"unknown detector fault {name!r}; known: {sorted(FAULT_BITS)}")
                status |= FAULT_BITS[name]
        base = i * REGISTERS_PER_CHANNEL
        regs[base : base + REGISTERS_PER_CHANNEL] = [_CODE_OF_GAS[sample.gas], raw & 0xFFFF, decimals, status]
    return regs


def decode_rtu_response(frame: bytes) -> list[GasSample]:
    """Samples from one raw RTU response to "read holding registers" (device id, fc 3, count, data, CRC)."""
    if len(frame) < _RTU_OVERHEAD:
        raise CodecError("Modbus RTU frame too short")
    if not FramerRTU.check_CRC(frame[:-2], frame[-2] << 8 | frame[-1]):
        raise CodecError("Modbus CRC mismatch")
    function = frame[1]
    if function & 0x80:
        raise CodecError(f"Modbus exception response, code {frame[2]}")
    if function != _READ_HOLDING_REGISTERS:
        raise CodecError(f"Modbus function {function} is not read holding registers")
    if frame[2] != len(frame) - _RTU_OVERHEAD or frame[2] % 2:
        raise CodecError("Modbus byte count does not match the frame")
    pdu = _PDU_DECODER.decode(frame[1:-2])
    if pdu is None:
        raise CodecError("Modbus response could not be decoded")
    return decode_registers(pdu.registers)


def encode_rtu_response(registers: Sequence[int], *, device_id: int = 1) -> bytes:
    """The RTU response a detector sends for ``registers`` (for emulators, tests and captures)."""
    return _RTU.buildFrame(ReadHoldingRegistersResponse(registers=list(registers), dev_id=device_id))
