"""Incremental stream framers: serial bytes in any chunking, whole candidate frames out.

A framer only finds frame boundaries; the codec decides whether a frame is
good. Each one keeps at most one frame's worth of bytes, runs in time linear in
its input, and counts what it yields (``frames``) and what it had to throw away
(``bytes_discarded``: noise between frames, over-long lines, bad candidates),
so a port's health shows up in metrics instead of in silence.
"""
from __future__ import annotations

from typing import Protocol

from firmware_bridge.codecs import link, winsen
from firmware_bridge.codecs.nmea import MAX_SENTENCE_LEN


class Framer(Protocol):
    """What :class:`firmware_bridge.protocols.StreamDecoder` needs from a framer."""

    frames: int
    bytes_discarded: int

    def feed(self, data: bytes) -> list[bytes]: ...


class NmeaFramer:
    """NMEA 0183 lines: from the last ``$`` or ``!`` of a line to its end, CR LF stripped.

    ``$`` and ``!`` cannot occur inside a sentence, so the last one on a line is
    where the newest sentence starts: noise before it (a half sentence after a
    reconnect, a stray byte) is discarded rather than glued on. Lines starting
    with ``#`` are comments (GPSD capture headers) and are counted, not
    discarded. Candidates longer than ``max_len`` (CR LF included) are dropped.
    """

    def __init__(self, max_len: int = MAX_SENTENCE_LEN) -> None:
        self.max_len = max_len
        self.frames = 0
        self.bytes_discarded = 0
        self.comments = 0
        self.overlong = 0
        self._partial = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Sentences completed by ``data``, without their line ends."""
        if self._partial:
            data = self._partial + data
        lines = data.split(b"\n")
        partial = lines.pop()
        if len(partial) > self.max_len:
            partial = self._trim(partial)
        self._partial = partial
        out = []
        limit = self.max_len - 2
        for line in lines:
            if line[:1] == b"#":
                self.comments += 1
                continue
            start = max(line.rfind(b"$"), line.rfind(b"!"))
            if start < 0:
                self.bytes_discarded += len(line) + 1
                continue
            end = len(line) - 1 if line[-1:] == b"\r" else len(line)
            if end - start > limit:
                self.overlong += 1
                self.bytes_discarded += len(line) + 1
                continue
            self.bytes_discarded += start
            out.append(line[start:end])
        self.frames += len(out)
        return out

    def _trim(self, partial: bytes) -> bytes:
        """Keep only a sentence that can still end within the limit; the rest is noise."""
        start = max(partial.rfind(b"$"), partial.rfind(b"!"))
        if start < 0 or len(partial) - start > self.max_len:
            self.bytes_discarded += len(partial)
            return b""
        self.bytes_discarded += start
        return partial[start:]


class WinsenFramer:
    """Winsen ZE 9-byte frames: sync on 0xFF, keep a candidate whose checksum holds, else slide one byte.

    The checksum test here is what lets the framer resynchronise inside noise
    that contains 0xFF; the codec still validates gas and unit codes.
    """

    def __init__(self) -> None:
        self.frames = 0
        self.bytes_discarded = 0
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Frames completed by ``data`` whose checksum holds."""
        buf = self._buf + data if self._buf else data
        out = []
        pos = 0
        n = len(buf)
        size = winsen.FRAME_LEN
        while True:
            start = buf.find(b"\xff", pos)
            if start < 0:
                self.bytes_discarded += n - pos
                pos = n
                break
            self.bytes_discarded += start - pos
            pos = start
            if n - pos < size:
                break
            candidate = buf[pos : pos + size]
            if winsen.winsen_checksum(candidate) == candidate[8]:
                out.append(candidate)
                pos += size
            else:
                self.bytes_discarded += 1
                pos += 1
        self._buf = buf[pos:]
        self.frames += len(out)
        return out


class DelimitedFramer:
    """Frames split on a delimiter (0x00 for the COBS link and gateway); longer than ``max_len`` are dropped.

    The delimiter is one byte. A frame has no start marker, so after an
    over-long run everything up to the next delimiter is discarded. Empty frames
    (a sender's leading 0x00 used to flush the receiver, blank lines) are
    skipped silently.
    """

    def __init__(self, max_len: int = link.MAX_FRAME_LEN, delimiter: bytes = link.DELIMITER) -> None:
        self.max_len = max_len
        self.delimiter = delimiter
        self.frames = 0
        self.bytes_discarded = 0
        self._partial = b""
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes]:
        """Frames completed by ``data``, without the delimiter."""
        if self._partial:
            data = self._partial + data
        parts = data.split(self.delimiter)
        partial = parts.pop()
        out = []
        for part in parts:
            if self._overflow:
                self._overflow = False
                self.bytes_discarded += len(part) + 1
            elif len(part) > self.max_len:
                self.bytes_discarded += len(part) + 1
            elif part:
                out.append(part)
        if len(partial) > self.max_len:
            self.bytes_discarded += len(partial)
            partial = b""
            self._overflow = True
        self._partial = partial
        self.frames += len(out)
        return out


class HexLineFramer:
    """One frame per text line in hex (gateway logs, Modbus sniffer exports); ``#`` lines are comments.

    Bytes may be separated by spaces. A line that is not hex, or holds more
    than ``max_len`` bytes, is discarded.
    """

    def __init__(self, max_len: int = link.MAX_PAYLOAD) -> None:
        self.max_len = max_len
        self.frames = 0
        self.bytes_discarded = 0
        self.comments = 0
        self._rejected = 0
        self._lines = DelimitedFramer(max_len=3 * max_len + 1, delimiter=b"\n")

    def feed(self, data: bytes) -> list[bytes]:
        """Frames (as bytes, not hex) of the lines completed by ``data``."""
        out = []
        for line in self._lines.feed(data):
            text = line.strip()
            if not text:
                continue
            if text[:1] == b"#":
                self.comments += 1
                continue
            try:
                frame = bytes.fromhex(text.decode("ascii"))
            except ValueError:  # not ASCII (UnicodeDecodeError) or not hex
                frame = b""
            if 0 < len(frame) <= self.max_len:
                out.append(frame)
            else:
                self._rejected += len(line) + 1
        self.bytes_discarded = self._rejected + self._lines.bytes_discarded
        self.frames += len(out)
        return out
