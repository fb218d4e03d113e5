"""Bluetooth Heart Rate Measurement characteristic (0x2A37), as a wearable gateway forwards it.

Layout (Bluetooth GATT Specification Supplement, Heart Rate Measurement)::

    flags     uint8   bit 0    heart rate is uint16 (else uint8)
                      bits 1-2 sensor contact: 0b0x not supported,
                               0b10 supported but not detected, 0b11 detected
                      bit 3    energy expended present (uint16, kJ)
                      bit 4    RR intervals present (uint16 each, 1/1024 s)
                      bits 5-7 reserved: ignored, so future flags do not break us
    heart rate uint8 | uint16, little-endian like every multi-byte GATT field
    energy    uint16  (optional)
    RR        uint16 * n (optional, the rest of the value)

Anything left over after the declared fields, or half an RR interval, is a
corrupt value: :class:`CodecError`, since the contact bits decide whether a
missing pulse is "no signal" or a man-down signal (DOMAIN.md).
"""
from __future__ import annotations

from firmware_bridge.errors import CodecError
from firmware_bridge.readings import Contact, HeartRate

_HR_UINT16 = 0x01
_CONTACT_SHIFT = 1
_ENERGY = 0x08
_RR = 0x10
_RR_UNITS_PER_S = 1024

_CONTACT = {
    0b00: Contact.UNSUPPORTED,
    0b01: Contact.UNSUPPORTED,
    0b10: Contact.NOT_DETECTED,
    0b11: Contact.DETECTED,
}
_CONTACT_BITS = {Contact.UNSUPPORTED: 0b00, Contact.NOT_DETECTED: 0b10, Contact.DETECTED: 0b11}


def decode_hrm(data: bytes) -> HeartRate:
    """Decode one characteristic value."""
    if not data:
        raise CodecError("empty heart rate measurement")
    flags = data[0]
    pos = 1
    if flags & _HR_UINT16:
        if len(data) < 3:
            raise CodecError("heart rate measurement truncated")
        bpm = data[1] | data[2] << 8
        pos = 3
    else:
        if len(data) < 2:
            raise CodecError("heart rate measurement truncated")
        bpm = data[1]
        pos = 2
    energy = None
    if flags & _ENERGY:
        if len(data) < pos + 2:
            raise CodecError("energy expended truncated")
        energy = data[pos] | data[pos + 1] << 8
        pos += 2
    rest = data[pos:]
    if not flags & _RR:
        if rest:
            raise CodecError("trailing bytes after heart rate measurement")
        rr: tuple[float, ...] = ()
    elif len(rest) % 2:
        raise CodecError("RR interval truncated")
    else:
        rr = tuple((rest[i] | rest[i + 1] << 8) / _RR_UNITS_PER_S for i in range(0, len(rest), 2))
    return HeartRate(bpm=bpm, contact=_CONTACT[(flags >> _CONTACT_SHIFT) & 0b11], energy_kj=energy, rr_s=rr)


def encode_hrm(hr: HeartRate) -> bytes:
    """The value a strap would send: uint8 heart rate when it fits, RR rounded to 1/1024 s."""
    if not 0 <= hr.bpm <= 0xFFFF:
        raise ValueError("heart rate must fit 16 bits")
    flags = _CONTACT_BITS[hr.contact] << _CONTACT_SHIFT
    out = bytearray()
    if hr.bpm > 0xFF:
        flags |= _HR_UINT16
        out += hr.bpm.to_bytes(2, "little")
    else:
        out.append(hr.bpm)
    if hr.energy_kj is not None:
        if not 0 <= hr.energy_kj <= 0xFFFF:
            raise ValueError("energy expended must fit 16 bits")
        flags |= _ENERGY
        out += hr.energy_kj.to_bytes(2, "little")
    if hr.rr_s:
        flags |= _RR
        for rr in hr.rr_s:
            units = round(rr * _RR_UNITS_PER_S)
            if not 0 <= units <= 0xFFFF:
                raise ValueError(f"RR interval {rr} s out of range")
            out += units.to_bytes(2, "little")
    return bytes((flags,)) + bytes(out)
