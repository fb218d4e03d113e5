"""NMEA 0183 position sentences (GGA, RMC, GLL, GSA) from any talker, and their encoders.

Decoding is strict where a wrong answer would move a worker: every sentence must
carry its checksum and every number must look like a number. Choices, and why:

* **Checksum required.** NMEA 0183 lets some sentences omit ``*hh`` and GPSD
  accepts them, but on a safety path a position with no integrity check is worse
  than no position: one flipped digit on a noisy RS-232 line can put a worker in
  or out of a zone. Sentences without a checksum raise :class:`CodecError`.
* **Length.** The standard caps a sentence at 82 bytes including ``$`` and CR LF.
  Real receivers exceed it (GPSD's ``NMEA_MAX`` lists several): in our GPSD
  captures the MT3339 sends 84-byte GGA and the SkyTraq S2525F8 96-byte
  ``$PSTI``. We accept up to :data:`MAX_SENTENCE_LEN` = 96 bytes, the longest
  line in those captures, counting CR LF whether or not the line had it.
* **Fix validity** (DOMAIN.md), per sentence, no state:
  GGA needs quality 1-5 (0 invalid; 6 dead reckoning, 7 manual and 8 simulator
  are the FAA E/M/S modes by another name) and at least 3 satellites (GPSD
  reports no fix below 3; a 2D fix needs 3); RMC needs status A (or D, which some
  receivers send for differential) and, when present, an FAA mode of A/D/F/R/P -
  N, E, M, S and unknown letters are invalid even with status A - and an NMEA 4.1
  navigational status other than U (unsafe); u-blox sends V there to mean "no
  status", which GPSD also ignores. GLL needs status A (GPSD: not D) and the
  FAA modes RMC accepts. GSA needs fix type 2 or 3. A position of exactly 0,0 is
  never valid. GPSD reports a fix for GGA quality 0 or 6-8 and for status A with
  FAA mode E/M/S (3.22: RMC with N too); DOMAIN.md says none is a position.
* **Trailing fields** may be left off down to GPSD's minimum field counts (``nf``
  in ``driver_nmea0183.c``): GGA through field 12 (DGPS age and station
  optional), RMC through 7, the speed (course, date - without it the time is a
  time of day -, magnetic variation and its E/W, FAA mode, NMEA 4.1 status
  optional), GLL through 6, the status (FAA mode optional), GSA through 17.
  Shorter ones raise :class:`CodecError`; GPSD drops them, so neither has a fix.
* **No state**: a GLL or GGA fix carries its own time of day, not ZDA's date,
  and no VTG speed; ``nmea_epoch.NmeaEpoch`` (a serial port's stream decoder)
  adds those, and the position tracker keeps GSA's HDOP for the next fix.
* Sentences of other types (GSV, VTG, ZDA, proprietary ``$P...``, AIS ``!``)
  with a good checksum return ``None``: they are not errors.

RMC dates use a sliding century: two-digit years 80-99 are 1980-1999, 00-79
are 2000-2079 (GPS did not exist before 1980).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from firmware_bridge.errors import CodecError
from firmware_bridge.readings import GpsFix

MAX_SENTENCE_LEN = 96
KNOTS_TO_MPS = 1852.0 / 3600.0

_VALID_GGA_QUALITY = frozenset((1, 2, 3, 4, 5))
_VALID_FAA_MODES = frozenset((b"", b"A", b"D", b"F", b"R", b"P"))
_RMC_VALID_STATUS = frozenset((b"A", b"D"))
_MIN_SATELLITES = 3
_HEX = {f"{i:02X}".encode(): i for i in range(256)} | {f"{i:02x}".encode(): i for i in range(256)}

# One pattern per sentence, written like the field tables of the standard: a
# single C-level match validates every field at once, which is what keeps a
# sentence well under 10 us. Each fragment notes the groups it captures.
_HHMMSS = rb"(?:([01]\d|2[0-3])([0-5]\d)([0-5]\d|60)(?:\.(\d{1,9}))?)?"  # h, m, s, fraction
_ANGLE = rb"(\d{1,3})([0-5]\d\.\d{0,12})"  # degrees, minutes (GPSD: 2 digits before the point)
_POSITION = rb"(?:" + _ANGLE + rb",([NS])," + _ANGLE + rb",([EW])|,,,)"  # 6 groups
_NUMBER = rb"(-?(?:\d+(?:\.\d*)?|\.\d+))?"
_SMALL_INT = rb"(\d{1,3})?"
_ANY_MORE = rb"(?:,[^,]*)*"  # fields a later NMEA version may add


def _optional_tail(*fields: bytes) -> bytes:
    """Fields a receiver may leave off the end: each only with every one before it, then anything."""
    tail = _ANY_MORE
    for field in reversed(fields):
        tail = rb"(?:," + field + tail + rb")?"
    return tail


_GGA = re.compile(
    b",".join(
        [
            _HHMMSS,  # 1 UTC time
            _POSITION,  # 2-5 latitude, N/S, longitude, E/W
            _SMALL_INT,  # 6 quality
            _SMALL_INT,  # 7 satellites in use
            _NUMBER,  # 8 HDOP
            _NUMBER,  # 9 altitude above mean sea level
            rb"M?(?:,[^,]*){2,}",  # 10-12 unit, geoid separation and unit; 13-14 DGPS age, station: unused
        ]
    )
)
_RMC = re.compile(
    b",".join(
        [
            _HHMMSS,  # 1 UTC time
            rb"([A-Z]?)",  # 2 status
            _POSITION,  # 3-6 latitude, N/S, longitude, E/W
            _NUMBER,  # 7 speed over ground, knots
        ]
    )
    + _optional_tail(
        _NUMBER,  # 8 course over ground, degrees true
        rb"(?:(0[1-9]|[12]\d|3[01])(0[1-9]|1[0-2])(\d\d))?",  # 9 date ddmmyy
        rb"(?:-?(?:\d+(?:\.\d*)?|\.\d+))?",  # 10 magnetic variation: unused
        rb"[EW]?",  # 11 its E/W
        rb"([A-Z]?)",  # 12 FAA mode (NMEA 2.3+)
        rb"([A-Z]?)",  # 13 navigational status (NMEA 4.1+)
    )
)
_GLL = re.compile(
    b",".join(
        [
            _POSITION,  # 1-4 latitude, N/S, longitude, E/W
            _HHMMSS,  # 5 UTC time
            rb"([A-Z]?)",  # 6 status
        ]
    )
    + _optional_tail(rb"([A-Z]?)")  # 7 FAA mode (NMEA 2.3+)
)
_GSA = re.compile(
    b",".join(
        [
            rb"[AM]?",  # 1 selection mode
            rb"([1-3])?",  # 2 fix type
            *[rb"(\d{1,3})?"] * 12,  # 3-14 satellites used
            _NUMBER,  # 15 PDOP
            _NUMBER,  # 16 HDOP
            _NUMBER + rb"(?:,[^,]*)*",  # 17 VDOP, 18 system id (4.11)
        ]
    )
)


def nmea_checksum(body: bytes) -> int:
    """XOR of every byte between ``$`` and ``*``.

    Folds the body as one big integer: about twice as fast as a byte loop, which
    matters because every sentence from every receiver passes through here.
    """
    n = int.from_bytes(body, "little")
    shift = 1 << ((8 * len(body) - 1).bit_length() - 1)  # half the next power of two
    while shift >= 8:
        n ^= n >> shift
        shift >>= 1
    return n & 0xFF


def decode_nmea(sentence: bytes) -> GpsFix | None:
    """Decode one sentence (with or without CR LF) into a fix, or ``None`` for other types."""
    body = checked_body(sentence)
    return None if body is None else decode_body(body)


def decode_body(body: bytes) -> GpsFix | None:
    """The fix in a body ``checked_body`` passed, or ``None`` for sentence types without one."""
    handler = _HANDLERS.get(body[2:5])
    if handler is None:
        return None
    talker = body[:2]
    if not (talker.isalpha() and talker.isupper()):
        raise CodecError(f"bad NMEA talker {talker!r}")
    return handler(talker.decode("ascii"), body)


def checked_body(sentence: bytes) -> bytes | None:
    """The body between ``$`` and ``*`` of a sentence whose checksum holds; ``None`` for AIS and
    proprietary sentences; :class:`CodecError` for anything that is not a whole sentence."""
    if type(sentence) is not bytes:
        sentence = bytes(sentence)
    if sentence[-1:] == b"\n":
        sentence = sentence[:-2] if sentence[-2:-1] == b"\r" else sentence[:-1]
    n = len(sentence)
    if n + 2 > MAX_SENTENCE_LEN:
        raise CodecError(f"NMEA sentence of {n + 2} bytes exceeds {MAX_SENTENCE_LEN}")
    if n < 9 or sentence[0] not in b"$!":
        raise CodecError("not an NMEA sentence")
    if sentence[n - 3] != 0x2A:  # '*'
        raise CodecError("NMEA sentence without checksum")
    body = sentence[1 : n - 3]
    expected = _HEX.get(sentence[n - 2 :])
    if expected is None:
        raise CodecError("NMEA checksum is not two hex digits")
    if nmea_checksum(body) != expected:
        raise CodecError("NMEA checksum mismatch")
    if sentence[0] != 0x24 or body[0] == 0x50 or body[5:6] not in (b",", b""):
        return None  # '!' AIS, 'P' proprietary, or an address that is not talker + 3 letters
    return body


def _gga(talker: str, body: bytes) -> GpsFix:
    m = _GGA.fullmatch(body, 6)
    if m is None:
        raise CodecError("malformed GGA sentence")
    h, mi, s, frac, lat_d, lat_m, ns, lon_d, lon_m, ew, quality, sats, hdop, alt = m.groups()
    lat, lon = _position(lat_d, lat_m, ns, lon_d, lon_m, ew)
    q = None if quality is None else int(quality)
    satellites = None if sats is None else int(sats)
    return GpsFix(
        talker=talker,
        sentence="GGA",
        fix_valid=(
            q in _VALID_GGA_QUALITY
            and satellites is not None
            and satellites >= _MIN_SATELLITES
            and _has_position(lat, lon)
        ),
        lat=lat,
        lon=lon,
        fix_quality=q,
        hdop=None if hdop is None else float(hdop),
        alt=None if alt is None else float(alt),
        time=_time_of_day(h, mi, s, frac),
        satellites=satellites,
    )


def _rmc(talker: str, body: bytes) -> GpsFix:
    m = _RMC.fullmatch(body, 6)
    if m is None:
        raise CodecError("malformed RMC sentence")
    h, mi, s, frac, status, lat_d, lat_m, ns, lon_d, lon_m, ew, speed, course, dd, mo, yy, mode, nav = m.groups()
    lat, lon = _position(lat_d, lat_m, ns, lon_d, lon_m, ew)
    return GpsFix(
        talker=talker,
        sentence="RMC",
        fix_valid=status in _RMC_VALID_STATUS and _faa_mode_valid(mode) and nav != b"U" and _has_position(lat, lon),
        lat=lat,
        lon=lon,
        time=_timestamp(dd, mo, yy, _time_of_day(h, mi, s, frac)),
        speed_mps=None if speed is None else float(speed) * KNOTS_TO_MPS,
        course_deg=None if course is None else float(course),
    )


def _gll(talker: str, body: bytes) -> GpsFix:
    m = _GLL.fullmatch(body, 6)
    if m is None:
        raise CodecError("malformed GLL sentence")
    lat_d, lat_m, ns, lon_d, lon_m, ew, h, mi, s, frac, status, mode = m.groups()
    lat, lon = _position(lat_d, lat_m, ns, lon_d, lon_m, ew)
    return GpsFix(
        talker=talker,
        sentence="GLL",
        fix_valid=status == b"A" and _faa_mode_valid(mode) and _has_position(lat, lon),
        lat=lat,
        lon=lon,
        time=_time_of_day(h, mi, s, frac),
    )


def _gsa(talker: str, body: bytes) -> GpsFix:
    m = _GSA.fullmatch(body, 6)
    if m is None:
        raise CodecError("malformed GSA sentence")
    fix_type = None if m[1] is None else int(m[1])
    return GpsFix(
        talker=talker,
        sentence="GSA",
        fix_valid=fix_type in (2, 3),
        fix_type=fix_type,
        hdop=None if m[15] is None else float(m[15]),
        satellites=12 - m.groups()[1:13].count(None),
    )


_HANDLERS: dict[bytes, Callable[[str, bytes], GpsFix]] = {b"GGA": _gga, b"RMC": _rmc, b"GLL": _gll, b"GSA": _gsa}


def _position(
    lat_d: bytes | None, lat_m: bytes, ns: bytes, lon_d: bytes, lon_m: bytes, ew: bytes
) -> tuple[float | None, float | None]:
    if lat_d is None:
        return None, None
    lat = int(lat_d) + float(lat_m) / 60.0
    lon = int(lon_d) + float(lon_m) / 60.0
    if lat > 90.0 or lon > 180.0:
        raise CodecError("NMEA coordinate out of range")
    return (-lat if ns == b"S" else lat), (-lon if ew == b"W" else lon)


def _faa_mode_valid(mode: bytes | None) -> bool:
    """An absent mode field (NMEA 2.0) says nothing; a present one must name a real fix."""
    return mode is None or mode in _VALID_FAA_MODES


def _has_position(lat: float | None, lon: float | None) -> bool:
    return lat is not None and lon is not None and not (lat == 0.0 and lon == 0.0)


def _time_of_day(h: bytes | None, mi: bytes, s: bytes, frac: bytes | None) -> str | None:
    if h is None:
        return None
    millis = frac[:3].ljust(3, b"0") if frac else b"000"
    return (b"%s:%s:%s.%s" % (h, mi, s, millis)).decode("ascii")


def _timestamp(dd: bytes | None, mo: bytes, yy: bytes, clock: str | None) -> str | None:
    """ISO 8601 UTC when the sentence has both date and time, else the time of day."""
    if dd is None:
        return clock
    year = int(yy) + (1900 if yy >= b"80" else 2000)
    if dd > b"28":
        try:
            datetime(year, int(mo), int(dd))
        except ValueError as exc:
            raise CodecError(f"bad RMC date: {exc}") from None
    if clock is None:
        return None
    return f"{year:04d}-{mo.decode()}-{dd.decode()}T{clock}Z"


# --- encoders: what the firmware emulators put on the wire -------------------

_TALKER = re.compile(r"[A-Z]{2}")


def encode_gga(
    lat: float,
    lon: float,
    *,
    time_utc: datetime,
    quality: int = 1,
    satellites: int = 8,
    hdop: float = 0.9,
    alt: float = 0.0,
    talker: str = "GP",
) -> bytes:
    """A GGA sentence with CR LF; naive datetimes are taken as UTC."""
    if not 0 <= quality <= 8 or not 0 <= satellites <= 99 or hdop < 0:
        raise ValueError("GGA quality must be 0-8, satellites 0-99, hdop >= 0")
    body = (
        f"{_talker(talker)}GGA,{_hhmmss(time_utc)},{_coord(lat, 90, 2, 'NS')},{_coord(lon, 180, 3, 'EW')},"
        f"{quality},{satellites:02d},{hdop:.1f},{alt:.1f},M,,M,,"
    )
    return _sentence(body)


def encode_rmc(
    lat: float,
    lon: float,
    *,
    time_utc: datetime,
    valid: bool = True,
    speed_knots: float = 0.0,
    course: float = 0.0,
    mode: str = "A",
    talker: str = "GP",
) -> bytes:
    """An RMC sentence with CR LF; ``mode=""`` gives the NMEA 2.0 form without the FAA mode field."""
    if mode and (len(mode) != 1 or mode not in "ADEFMNPRS"):
        raise ValueError(f"unknown FAA mode {mode!r}")
    if speed_knots < 0 or not 0 <= course < 360:
        raise ValueError("speed must be >= 0 and course in [0, 360)")
    utc = _utc(time_utc)
    if not 1980 <= utc.year <= 2079:
        raise ValueError("RMC can only carry years 1980-2079")
    body = (
        f"{_talker(talker)}RMC,{_hhmmss(utc)},{'A' if valid else 'V'},"
        f"{_coord(lat, 90, 2, 'NS')},{_coord(lon, 180, 3, 'EW')},{speed_knots:.2f},{course:.2f},"
        f"{utc:%d%m%y},,"
    )
    return _sentence(body + (f",{mode}" if mode else ""))


def encode_gsa(
    fix_type: int,
    prns: Sequence[int] = (),
    pdop: float = 1.5,
    hdop: float = 0.9,
    vdop: float = 1.2,
    talker: str = "GP",
) -> bytes:
    """A GSA sentence (automatic 2D/3D selection) with CR LF."""
    if fix_type not in (1, 2, 3):
        raise ValueError("GSA fix type must be 1, 2 or 3")
    if len(prns) > 12 or any(not 1 <= p <= 999 for p in prns):
        raise ValueError("GSA carries at most 12 satellite ids of 1-999")
    ids = [f"{p:02d}" for p in prns] + [""] * (12 - len(prns))
    return _sentence(f"{_talker(talker)}GSA,A,{fix_type},{','.join(ids)},{pdop:.1f},{hdop:.1f},{vdop:.1f}")


def _sentence(body: str) -> bytes:
    raw = body.encode("ascii")
    return b"$%s*%02X\r\n" % (raw, nmea_checksum(raw))


def _talker(talker: str) -> str:
    if not _TALKER.fullmatch(talker):
        raise ValueError(f"NMEA talker must be two capital letters, not {talker!r}")
    return talker


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is None else t.astimezone(timezone.utc)


def _hhmmss(t: datetime) -> str:
    utc = _utc(t)
    return f"{utc:%H%M%S}.{utc.microsecond // 1000:03d}"


def _coord(value: float, limit: int, degree_digits: int, hemispheres: str) -> str:
    """Degrees to ``ddmm.mmmmm`` (5 decimals of a minute, 2 cm) in exact integer arithmetic."""
    if not -limit <= value <= limit:
        raise ValueError(f"coordinate {value} out of range")
    units = round(abs(value) * 60 * 100_000)  # 1e-5 minute units
    degrees, rest = divmod(units, 60 * 100_000)
    minutes, fraction = divmod(rest, 100_000)
    hemisphere = hemispheres[1] if value < 0 else hemispheres[0]
    return f"{degrees:0{degree_digits}d}{minutes:02d}.{fraction:05d},{hemisphere}"
