"""Messages between the runtime and the site's siren/wearable controller (wire contract).

Every message is one :mod:`firmware_bridge.codecs.link` frame (COBS + CRC-16,
0x00-delimited) whose payload is::

    byte 0   type    0x01 SirenCommand   runtime -> controller
                     0x02 VibrateCommand runtime -> controller
                     0x81 Ack            controller -> runtime
                     0x82 Nak            controller -> runtime
    byte 1   seq     0-255, chosen by the runtime per command, echoed in the
                     Ack/Nak so a reply matches its command after a retry
    then, by type (multi-byte integers big-endian):
    SirenCommand     id, on (0x00 off | 0x01 on), pattern (uint8)
    VibrateCommand   id, pattern (uint8), duration_ms (uint16)
    Ack              nothing
    Nak              code (uint8): 0x01 unknown type, 0x02 malformed fields,
                     0x03 unknown zone or wearable, 0x04 output fault
    id               length (uint8, 1-32) then that many bytes of UTF-8
                     (zone id for sirens, wearable id for vibration)

Anything else - unknown type, short or trailing bytes, an ``on`` byte other
than 0/1, an id that is empty, too long or not UTF-8 - is a :class:`CodecError`.
"""
from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.codecs.link import frame, unframe
from firmware_bridge.errors import CodecError

MAX_ID_BYTES = 32
SIREN = 0x01
VIBRATE = 0x02
ACK = 0x81
NAK = 0x82


@dataclass(frozen=True, slots=True)
class SirenCommand:
    """Switch a zone's siren; ``pattern`` selects the controller's tone/light program."""

    seq: int
    zone: str
    on: bool
    pattern: int = 1


@dataclass(frozen=True, slots=True)
class VibrateCommand:
    """Vibrate a wearable, e.g. the man-down pre-alarm with its cancel window."""

    seq: int
    wearable: str
    pattern: int = 1
    duration_ms: int = 1000


@dataclass(frozen=True, slots=True)
class Ack:
    """The controller carried out command ``seq``."""

    seq: int


@dataclass(frozen=True, slots=True)
class Nak:
    """The controller refused command ``seq``; ``code`` says why (see module docstring)."""

    seq: int
    code: int


ControllerMessage = SirenCommand | VibrateCommand | Ack | Nak


def encode_message(msg: ControllerMessage) -> bytes:
    """The framed bytes to write to the controller's serial port, delimiter included."""
    _check_u8(msg.seq, "seq")
    match msg:
        case SirenCommand(seq, zone, on, pattern):
            _check_u8(pattern, "pattern")
            body = bytes((SIREN, seq)) + _encode_id(zone) + bytes((1 if on else 0, pattern))
        case VibrateCommand(seq, wearable, pattern, duration_ms):
            _check_u8(pattern, "pattern")
            if not 0 <= duration_ms <= 0xFFFF:
                raise ValueError("duration_ms must fit 16 bits")
            body = bytes((VIBRATE, seq)) + _encode_id(wearable) + bytes((pattern,)) + duration_ms.to_bytes(2, "big")
        case Ack(seq):
            body = bytes((ACK, seq))
        case Nak(seq, code):
            _check_u8(code, "code")
            body = bytes((NAK, seq, code))
        case _:
            raise TypeError(f"not a controller message: {msg!r}")
    return frame(body)


def decode_message(payload_frame: bytes) -> ControllerMessage:
    """Decode one frame read from the controller, given without its 0x00 delimiter."""
    payload = unframe(payload_frame)
    if len(payload) < 2:
        raise CodecError("controller message without type and seq")
    kind, seq = payload[0], payload[1]
    if kind == ACK:
        _expect_len(payload, 2)
        return Ack(seq)
    if kind == NAK:
        _expect_len(payload, 3)
        return Nak(seq, payload[2])
    if kind == SIREN:
        ident, pos = _decode_id(payload, 2)
        _expect_len(payload, pos + 2)
        if payload[pos] > 1:
            raise CodecError("siren state byte is not 0 or 1")
        return SirenCommand(seq, ident, payload[pos] == 1, payload[pos + 1])
    if kind == VIBRATE:
        ident, pos = _decode_id(payload, 2)
        _expect_len(payload, pos + 3)
        return VibrateCommand(seq, ident, payload[pos], payload[pos + 1] << 8 | payload[pos + 2])
    raise CodecError(f"unknown controller message type 0x{kind:02X}")


def _encode_id(ident: str) -> bytes:
    raw = ident.encode("utf-8")
    if not 0 < len(raw) <= MAX_ID_BYTES:
        raise ValueError(f"id must be 1-{MAX_ID_BYTES} bytes of UTF-8: {ident!r}")
    return bytes((len(raw),)) + raw


def _decode_id(payload: bytes, pos: int) -> tuple[str, int]:
    if pos >= len(payload):
        raise CodecError("controller message truncated before id")
    n = payload[pos]
    if not 0 < n <= MAX_ID_BYTES or pos + 1 + n > len(payload):
        raise CodecError("controller id length out of range")
    try:
        return payload[pos + 1 : pos + 1 + n].decode("utf-8"), pos + 1 + n
    except UnicodeDecodeError:
        raise CodecError("controller id is not UTF-8") from None


def _expect_len(payload: bytes, n: int) -> None:
    if len(payload) != n:
        raise CodecError(f"controller message is {len(payload)} bytes, expected {n}")


def _check_u8(value: int, what: str) -> None:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{what} must be 0-255")
