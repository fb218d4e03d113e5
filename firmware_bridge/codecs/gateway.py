"""Multiplexing sensor gateway: many workers' tags over one USB serial port.

LoRa and BLE gateways forward what each tag sends, prefixed with the tag's
address. Each gateway frame is a :mod:`firmware_bridge.codecs.link` frame whose
payload is::

    bytes 0-1  address   uint16, big-endian (the tag; the site file maps it to a device)
    byte 2     protocol  1 = NMEA sentence, 2 = Winsen frame, 3 = 0x2A37 heart rate
    bytes 3-   inner     the tag's own bytes, decoded by that protocol's codec

The inner payload is checked by its own codec as well as by the link CRC, so a
tag that sends garbage is rejected even when the gateway relays it faithfully.
"""
from __future__ import annotations

from collections.abc import Callable

from firmware_bridge.codecs import link
from firmware_bridge.codecs.hrm import decode_hrm
from firmware_bridge.codecs.nmea import decode_nmea
from firmware_bridge.codecs.winsen import decode_winsen
from firmware_bridge.errors import CodecError
from firmware_bridge.readings import Reading

PROTOCOL_CODES: dict[str, int] = {"nmea": 1, "winsen": 2, "hrm": 3}
_DECODERS: dict[int, Callable[[bytes], Reading | None]] = {1: decode_nmea, 2: decode_winsen, 3: decode_hrm}
_HEADER_LEN = 3


def encode_gateway(address: int, protocol: str, inner: bytes) -> bytes:
    """A framed gateway message, delimiter included."""
    if not 0 <= address <= 0xFFFF:
        raise ValueError("gateway address must fit 16 bits")
    code = PROTOCOL_CODES.get(protocol)
    if code is None:
        raise ValueError(f"unknown gateway protocol {protocol!r}")
    if not inner:
        raise ValueError("gateway message needs an inner payload")
    return link.frame(address.to_bytes(2, "big") + bytes((code,)) + inner)


def decode_gateway(frame: bytes) -> tuple[int, Reading | None]:
    """Address and reading of one frame (without delimiter); NMEA sentences other than positions give None."""
    payload = link.unframe(frame)
    if len(payload) <= _HEADER_LEN:
        raise CodecError("gateway frame without inner payload")
    decode = _DECODERS.get(payload[2])
    if decode is None:
        raise CodecError(f"unknown gateway protocol code {payload[2]}")
    return payload[0] << 8 | payload[1], decode(payload[_HEADER_LEN:])
