"""Protocol table and the stream decoder the daemon's serial readers use.

Each protocol is one row (Home Assistant style "descriptions"): its name, how
to split a byte stream into frames, and how to decode one frame. Adding a
protocol is adding a row; nothing else switches on protocol names.

Capture formats, for ``siteguard decode`` and tests:

* ``nmea``: the receiver's own byte stream (GPSD ``.log`` files included).
* ``winsen``: the module's raw byte stream.
* ``gateway``: the gateway's raw byte stream of 0x00-delimited link frames.
* ``hrm``: one 0x2A37 value per line in hex, as a gateway or MQTT log holds it
  (``hr_raw`` in the telemetry topic).
* ``modbus``: one RTU response per line in hex, as sniffer tools export them.
  A raw binary RTU capture loses the 3.5-character silences that delimit
  frames, and re-finding them by trial CRCs can accept a false frame; one line
  per frame is unambiguous. (The daemon itself polls detectors with pymodbus,
  so this format only matters for captures.)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge.codecs.gateway import decode_gateway
from firmware_bridge.codecs.hrm import decode_hrm
from firmware_bridge.codecs.modbus_detector import decode_rtu_response
from firmware_bridge.codecs.nmea_epoch import NmeaEpoch
from firmware_bridge.codecs.winsen import decode_winsen
from firmware_bridge.errors import CodecError
from firmware_bridge.framing import DelimitedFramer, Framer, HexLineFramer, NmeaFramer, WinsenFramer
from firmware_bridge.readings import Reading


@dataclass(frozen=True, slots=True)
class Decoded:
    """One reading from a stream; ``address`` is the gateway tag address, None for direct sensors."""

    reading: Reading
    address: int | None = None


Decode = Callable[[bytes], list[Decoded]]


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """How to frame and decode one protocol: each stream gets its own framer and decoder (an NMEA
    receiver's decoder keeps the date and speed of its current cycle); a decoder returns the
    frame's readings (often none or one)."""

    name: str
    new_framer: Callable[[], Framer]
    new_decoder: Callable[[], Decode]


def _single(reading: Reading | None) -> list[Decoded]:
    return [] if reading is None else [Decoded(reading)]


def _stateless(decode: Decode) -> Callable[[], Decode]:
    return lambda: decode


def _nmea_receiver() -> Decode:
    epoch = NmeaEpoch()
    return lambda frame: _single(epoch(frame))


def _decode_gateway(frame: bytes) -> list[Decoded]:
    address, reading = decode_gateway(frame)
    return [] if reading is None else [Decoded(reading, address)]


PROTOCOLS: dict[str, ProtocolSpec] = {
    spec.name: spec
    for spec in (
        ProtocolSpec("nmea", NmeaFramer, _nmea_receiver),
        ProtocolSpec("winsen", WinsenFramer, _stateless(lambda frame: [Decoded(decode_winsen(frame))])),
        ProtocolSpec("gateway", DelimitedFramer, _stateless(_decode_gateway)),
        ProtocolSpec("hrm", HexLineFramer, _stateless(lambda frame: [Decoded(decode_hrm(frame))])),
        ProtocolSpec("modbus", HexLineFramer,
                     _stateless(lambda frame: [Decoded(s) for s in decode_rtu_response(frame)])),
    )
}


@dataclass
class StreamStats:
    """Counters of one stream: frames that decoded, frames rejected, bytes thrown away, readings out."""

    frames_ok: int = 0
    frames_rejected: int = 0
    rejected_bytes: int = 0
    readings: int = 0
    framer_discarded: int = 0

    @property
    def bytes_discarded(self) -> int:
        """Noise the framer skipped plus the bytes of rejected frames."""
        return self.framer_discarded + self.rejected_bytes


class StreamDecoder:
    """Bytes from one port in, decoded readings out; never raises on bad input, counts it instead."""

    def __init__(self, protocol: str) -> None:
        spec = PROTOCOLS.get(protocol)
        if spec is None:
            raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
        self.protocol = protocol
        self._framer = spec.new_framer()
        self._decode = spec.new_decoder()
        self.stats = StreamStats()

    def feed(self, data: bytes) -> list[Decoded]:
        """Decode every complete frame in ``data`` (plus what earlier calls left over)."""
        out: list[Decoded] = []
        stats = self.stats
        decode = self._decode
        for frame in self._framer.feed(data):
            try:
                out += decode(frame)
            except CodecError:
                stats.frames_rejected += 1
                stats.rejected_bytes += len(frame)
            else:
                stats.frames_ok += 1
        stats.readings += len(out)
        stats.framer_discarded = self._framer.bytes_discarded
        return out
