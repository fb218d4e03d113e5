"""Typed readings: what every codec produces and every consumer relies on.

Codecs are pure functions of bytes that return these value objects; the
transport that read the bytes wraps them in an :class:`Observation` naming the
device they came from, because a frame itself rarely knows where it was read.

They are value objects (hashable, compared by value): never mutate one after it is built. They are not
``frozen`` only because a frozen dataclass costs two to three times as much to
construct, and the alarm path builds two of them per reading, tens of thousands
of times a second (bench/pipeline_throughput.py).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field


class Gas(str, enum.Enum):
    """Gases the runtime understands; the value is the name used in config and MQTT."""

    O2 = "O2"
    CO = "CO"
    H2S = "H2S"
    LEL = "LEL"  # combustible, % of lower explosive limit
    NH3 = "NH3"
    NO2 = "NO2"
    SO2 = "SO2"
    CL2 = "CL2"
    H2 = "H2"
    O3 = "O3"
    CH2O = "CH2O"
    HCN = "HCN"


class Contact(str, enum.Enum):
    """Sensor-contact status from the 0x2A37 flags (bits 1-2)."""

    UNSUPPORTED = "unsupported"
    NOT_DETECTED = "not_detected"
    DETECTED = "detected"


@dataclass(slots=True, unsafe_hash=True)
class GpsFix:
    """One NMEA sentence's worth of position information.

    Fields a sentence does not carry are ``None``; ``fix_valid`` applies the
    validity rules of DOMAIN.md (quality 0, status V, FAA mode N, GSA type 1 and
    0,0 positions are all invalid).
    """

    talker: str
    sentence: str  # "GGA" | "RMC" | "GLL" | "GSA"
    fix_valid: bool
    lat: float | None = None
    lon: float | None = None
    fix_quality: int | None = None  # GGA quality 0..8; GSA fix type 1..3 is in fix_type
    fix_type: int | None = None
    hdop: float | None = None
    alt: float | None = None  # metres above mean sea level
    time: str | None = None  # ISO 8601 UTC; "HH:MM:SS.sss" when the sentence has no date
    speed_mps: float | None = None
    course_deg: float | None = None
    satellites: int | None = None


@dataclass(slots=True, unsafe_hash=True)
class GasSample:
    """One gas concentration from a portable or fixed detector."""

    gas: Gas
    value: float
    unit: str  # "ppm" | "%vol" | "%LEL" | "ppb" | "mg/m3"
    full_range: float | None = None
    over_range: bool = False
    fault: str | None = None  # detector-reported fault text, e.g. "sensor_fault"


@dataclass(slots=True, unsafe_hash=True)
class HeartRate:
    """Decoded Bluetooth Heart Rate Measurement (0x2A37)."""

    bpm: int
    contact: Contact = Contact.UNSUPPORTED
    energy_kj: int | None = None
    rr_s: tuple[float, ...] = ()


@dataclass(slots=True, unsafe_hash=True)
class Motion:
    """Accelerometer sample from a wearable, in g."""

    ax: float
    ay: float
    az: float

    @property
    def magnitude_g(self) -> float:
        return math.sqrt(self.ax * self.ax + self.ay * self.ay + self.az * self.az)


@dataclass(slots=True, unsafe_hash=True)
class PanicButton:
    """An SOS press (``pressed`` True) or a press of the wearable's cancel button
    (``pressed`` False: withdraws a pre-alarm or a panic pressed by mistake)."""

    pressed: bool


@dataclass(slots=True, unsafe_hash=True)
class CheckIn:
    """A lone worker's check-in (button or app)."""


@dataclass(slots=True, unsafe_hash=True)
class Battery:
    """Battery state of a wearable or portable detector."""

    percent: float


@dataclass(slots=True, unsafe_hash=True)
class DetectorStatus:
    """Maintenance facts a detector reports (bump test and calibration dates, epoch seconds)."""

    last_bump_ts: float | None = None
    last_calibration_ts: float | None = None


Reading = GpsFix | GasSample | HeartRate | Motion | PanicButton | CheckIn | Battery | DetectorStatus


@dataclass(slots=True, unsafe_hash=True)
class Observation:
    """A reading with the device it came from and the wall-clock time it was received."""

    device: str
    reading: Reading
    ts: float
    extra: dict[str, object] = field(default_factory=dict, compare=False)
