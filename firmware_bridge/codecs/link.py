"""Framed serial link to the siren/wearable controller and the sensor gateway: COBS + CRC-16.

Wire format of one frame::

    COBS( payload || CRC-16/CCITT-FALSE(payload), big-endian ) || 0x00

* COBS (Cheshire & Baker, 1999) removes every 0x00 from the frame, so 0x00 is
  an unambiguous delimiter: after line noise a reader resynchronises at the
  next zero byte, at a cost of one byte per 254.
* CRC-16/CCITT-FALSE: polynomial 0x1021, init 0xFFFF, no reflection, no final
  XOR (``binascii.crc_hqx(data, 0xFFFF)``; check value 0x29B1 for
  ``b"123456789"``). It is sent big-endian, most significant byte first as the
  CRC is computed, so the CRC over payload plus CRC is zero - the receiver
  checks that instead of splitting the frame.

A payload is 1 to :data:`MAX_PAYLOAD` bytes; an empty one carries no message.
"""
from __future__ import annotations

import binascii

from cobs import cobs

from firmware_bridge.errors import CodecError

DELIMITER = b"\x00"
MAX_PAYLOAD = 1024
CRC_INIT = 0xFFFF
MAX_FRAME_LEN = cobs.max_encoded_length(MAX_PAYLOAD + 2)
"""Longest frame on the wire, delimiter excluded: what a stream framer may buffer."""


def frame(payload: bytes) -> bytes:
    """Encode a payload for the wire, delimiter included."""
    if not 0 < len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"link payload must be 1-{MAX_PAYLOAD} bytes")
    crc = binascii.crc_hqx(payload, CRC_INIT)
    encoded: bytes = cobs.encode(payload + crc.to_bytes(2, "big"))
    return encoded + DELIMITER


def unframe(frame: bytes) -> bytes:
    """Payload of one frame given WITHOUT its trailing delimiter."""
    if not frame or len(frame) > MAX_FRAME_LEN:
        raise CodecError(f"link frame must be 1-{MAX_FRAME_LEN} bytes")
    try:
        decoded: bytes = cobs.decode(frame)
    except cobs.DecodeError as exc:
        raise CodecError(f"bad COBS: {exc}") from None
    if not 3 <= len(decoded) <= MAX_PAYLOAD + 2:
        raise CodecError("link frame payload is empty or too long")
    if binascii.crc_hqx(decoded, CRC_INIT) != 0:
        raise CodecError("link CRC mismatch")
    return decoded[:-2]
