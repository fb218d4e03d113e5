"""Agreement with GPSD on receiver streams no test has seen: generated here, decoded by ``gpsdecode`` and by us.

Each stream is one simulated receiver, from a seeded ``random.Random``: a
sentence set (GLL-only, GLL + VTG + ZDA, GGA + RMC, u-blox's RMC VTG GGA GSA GLL
ZDA, RMC-only...), talkers (GP, GN, GL, GA, and mixes such as GPGGA with GNRMC
and a GSA per constellation), and the field-count habits of real receivers: RMC
without the magnetic-variation direction, without FAA mode, without date; GGA
without the DGPS fields or the altitude; GLL and VTG without mode; ZDA without
the local zone; times without fraction; RMC status D for a differential fix.
It walks, and loses its fix for spells, sending then what receivers send: empty
fields, quality 0, status V, mode N (some keep the last position in RMC and GLL
beside the V).

``gpsdecode -D 1`` echoes every sentence and prints GPSD's TPV right after the
sentence that completed GPSD's reporting cycle. A TPV's fix mode is set by the
last GGA, RMC, GLL or GSA before it (VTG and ZDA set none) and its position by
the last sentence with one, so for every TPV:

* our ``fix_valid`` of the last mode-setting sentence since the previous TPV
  == (TPV ``mode`` >= 2); where we decoded none, ours is "no fix";
* when GPSD has a fix, our last valid position since the previous TPV is
  GPSD's to 1e-6 degrees (position recall counts these).

Agreement must reach 0.99 overall and for each sentence type that set the mode,
so a fault in one sentence type cannot hide behind the others.

Not generated, because DOMAIN.md deliberately disagrees with GPSD there (and
tests in test_nmea.py and test_nmea_variants.py pin our side): a position with
GGA quality 0 or 6-8, or status A with FAA mode E, M, S (or N in RMC); a receiver
repeating one GGA timestamp, which GPSD's state latches to no fix.
"""
from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import pytest

from firmware_bridge.codecs.nmea import decode_nmea, nmea_checksum
from firmware_bridge.protocols import StreamDecoder
from firmware_bridge.readings import GpsFix

GPSDECODE = shutil.which("gpsdecode")
needs_gpsdecode = pytest.mark.skipif(
    GPSDECODE is None, reason="gpsdecode (GPSD's own decoder, Debian package gpsd-clients: `make test-deps`) not found"
)

STREAMS = 66
EPOCHS = 90
MODE_SETTERS = ("GGA", "RMC", "GLL", "GSA")
TALKERS = ("GP", "GN", "GL", "GA")
SENTENCE_SETS = (
    ("GGA", "GSA", "RMC"),
    ("GGA", "RMC"),
    ("RMC", "GGA", "GSA", "GSA"),
    ("GLL",),
    ("GLL", "VTG"),
    ("ZDA", "GLL", "VTG"),
    ("GGA", "GLL", "VTG", "ZDA"),
    ("RMC", "VTG", "GGA", "GSA", "GLL", "ZDA"),
    ("RMC", "GLL"),
    ("RMC",),
)
FAA_MODE = {1: "A", 2: "D", 4: "R", 5: "F"}


@dataclass(frozen=True)
class Receiver:
    """One simulated receiver's habits: its sentences in epoch order with their talkers, and field counts."""

    sentences: tuple[tuple[str, str], ...]
    fields: dict[str, int]  # data fields sent per sentence type
    decimals: int  # digits of a minute of arc
    quality: int  # GGA quality of its fixes: 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float
    magnetic_variation: str  # "" or "3.1"
    time_decimals: int  # digits of a second: Garmins send none
    rmc_status: str  # "A", or "D" from some receivers with a differential fix
    altitude: bool  # SiRF before 2.3 leaves GGA's altitude empty
    void_position: bool  # without a fix, RMC and GLL still carry the last position (status V)


@dataclass(frozen=True)
class Epoch:
    """What the receiver knows at one second."""

    t: datetime
    lat: float
    lon: float
    fix: bool
    last_fix: tuple[float, float] | None  # where the receiver last had a fix
    satellites: int
    knots: float
    course: float


def make_receiver(rng: random.Random, index: int) -> Receiver:
    """Random habits, except field counts: those take turns by stream, so every variation is sent."""
    kinds = rng.choice(SENTENCE_SETS)
    main = rng.choice(TALKERS)
    gsa_talkers = iter(rng.choice(((main, main), ("GP", "GL"), ("GN", "GN"), ("GP", "GA"))))
    talker = {kind: main for kind in kinds} | ({"GGA": "GP", "RMC": "GN"} if rng.random() < 0.2 else {})
    has_other_clock = "GGA" in kinds or "GLL" in kinds  # GPSD's cycle needs a time: RMC has one only with a date
    counts = {
        "GGA": (12, 13, 14),
        "RMC": (7, 8, 9, 10, 11, 12, 13) if has_other_clock else (9, 10, 11, 12, 13),
        "GLL": (6, 7),
        "GSA": (17, 18),
        "VTG": (8, 9),
        "ZDA": (4, 6),
    }
    fields = {kind: options[index % len(options)] for kind, options in counts.items()}
    sentences = tuple((next(gsa_talkers) if kind == "GSA" else talker[kind], kind) for kind in kinds)
    quality = rng.choice((1, 1, 2, 4, 5))
    return Receiver(
        sentences,
        fields,
        decimals=rng.randint(4, 7),
        quality=quality,
        magnetic_variation=rng.choice(("", "3.1")),
        time_decimals=rng.choice((0, 2, 3)),
        rmc_status="D" if quality == 2 and rng.random() < 0.5 else "A",
        altitude=rng.random() < 0.8,
        void_position=rng.random() < 0.3,
    )


def walk(rng: random.Random) -> Iterator[Epoch]:
    """A worker walking somewhere on Earth, the receiver starting cold and losing its fix now and then."""
    start = timedelta(seconds=rng.randrange(366 * 86400), milliseconds=rng.choice((0, 0, 200, 500)))
    t = datetime(2024, 1, 1, tzinfo=timezone.utc) + start
    epoch = Epoch(t, rng.uniform(-60, 70), rng.uniform(-180, 180), False, None, 0, 0.0, rng.uniform(0, 360))
    cold = rng.randrange(6)
    for i in range(EPOCHS):
        fix = i >= cold and (rng.random() > 0.25 if not epoch.fix else rng.random() > 0.04)
        course = (epoch.course + rng.gauss(0, 20)) % 360
        mps = abs(rng.gauss(1.3, 0.4))
        epoch = replace(
            epoch,
            t=epoch.t + timedelta(seconds=1),
            lat=epoch.lat + mps * math.cos(math.radians(course)) / 111_320,
            lon=epoch.lon + mps * math.sin(math.radians(course)) / (111_320 * math.cos(math.radians(epoch.lat))),
            fix=fix,
            last_fix=(epoch.lat, epoch.lon) if epoch.fix else epoch.last_fix,
            satellites=rng.randint(4, 20) if fix else 0,
            knots=mps * 3600 / 1852,
            course=course,
        )
        yield epoch


def angle(value: float, degree_digits: int, decimals: int, hemispheres: str) -> list[str]:
    """Degrees as the two NMEA fields ``dddmm.mmmm`` and hemisphere, in exact integer arithmetic."""
    scale = 10**decimals
    degrees, rest = divmod(round(abs(value) * 60 * scale), 60 * scale)
    minutes, fraction = divmod(rest, scale)
    return [f"{degrees:0{degree_digits}d}{minutes:02d}.{fraction:0{decimals}d}", hemispheres[value < 0]]


def hhmmss(t: datetime, r: Receiver) -> str:
    fraction = f"{t.microsecond:06d}"[: r.time_decimals]
    return f"{t:%H%M%S}.{fraction}" if fraction else f"{t:%H%M%S}"


def position(e: Epoch, r: Receiver, void_too: bool = False) -> list[str]:
    """Where the receiver is; without a fix nothing, or (``void_too``, RMC and GLL) its last fix if it keeps one."""
    if e.fix:
        lat, lon = e.lat, e.lon
    elif void_too and r.void_position and e.last_fix is not None:
        lat, lon = e.last_fix
    else:
        return [""] * 4
    return angle(lat, 2, r.decimals, "NS") + angle(lon, 3, r.decimals, "EW")


def gga(e: Epoch, r: Receiver) -> list[str]:
    if not e.fix:
        return [hhmmss(e.t, r), *position(e, r), "0", "00", "99.99", "", "", "", "", "", ""]
    altitude = ["545.4", "M", "46.9", "M"] if r.altitude else ["", "", "", ""]
    dgps = ["1.0", "0120"] if r.quality == 2 else ["", ""]
    return [hhmmss(e.t, r), *position(e, r), str(r.quality), f"{e.satellites:02d}", "0.9", *altitude, *dgps]


def rmc(e: Epoch, r: Receiver) -> list[str]:
    date_and_variation = [f"{e.t:%d%m%y}", r.magnetic_variation, "E" if r.magnetic_variation else ""]
    if not e.fix:
        return [hhmmss(e.t, r), "V", *position(e, r, void_too=True), "", "", *date_and_variation, "N", "V"]
    motion = [f"{e.knots:.3f}", f"{e.course:.2f}"]
    return [hhmmss(e.t, r), r.rmc_status, *position(e, r), *motion, *date_and_variation, FAA_MODE[r.quality], "V"]


def gll(e: Epoch, r: Receiver) -> list[str]:
    status = ["A", FAA_MODE[r.quality]] if e.fix else ["V", "N"]
    return [*position(e, r, void_too=True), hhmmss(e.t, r), *status]


def gsa(e: Epoch, r: Receiver) -> list[str]:
    used = [f"{prn:02d}" for prn in range(1, min(e.satellites, 12) + 1)]
    dops = ["1.5", "0.9", "1.2"] if e.fix else ["", "", ""]
    return ["A", "3" if e.fix else "1", *used, *[""] * (12 - len(used)), *dops, "1"]


def vtg(e: Epoch, r: Receiver) -> list[str]:
    if not e.fix:
        return ["", "T", "", "M", "", "N", "", "K", "N"]
    return [f"{e.course:.1f}", "T", "", "M", f"{e.knots:.3f}", "N", f"{e.knots * 1.852:.3f}", "K", FAA_MODE[r.quality]]


def zda(e: Epoch, r: Receiver) -> list[str]:
    return [hhmmss(e.t, r), f"{e.t:%d}", f"{e.t:%m}", f"{e.t:%Y}", "00", "00"]


WRITERS: dict[str, Callable[[Epoch, Receiver], list[str]]] = {
    "GGA": gga, "RMC": rmc, "GLL": gll, "GSA": gsa, "VTG": vtg, "ZDA": zda,
}  # fmt: skip


def sentence(talker: str, kind: str, fields: list[str]) -> bytes:
    body = ",".join([talker + kind, *fields]).encode()
    return b"$%s*%02X\r\n" % (body, nmea_checksum(body))


def stream(seed: int) -> tuple[Receiver, bytes]:
    rng = random.Random(seed)
    receiver = make_receiver(rng, seed)
    out = bytearray()
    for epoch in walk(rng):
        for talker, kind in receiver.sentences:
            out += sentence(talker, kind, WRITERS[kind](epoch, receiver)[: receiver.fields[kind]])
    return receiver, bytes(out)


@dataclass
class Agreement:
    """One stream's TPVs against our decoding, counted by the type of the sentence that set the mode."""

    tpvs: Counter[str] = field(default_factory=Counter)
    agreed: Counter[str] = field(default_factory=Counter)
    gpsd_positions: int = 0
    recalled: int = 0
    disagreements: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.recalled / self.gpsd_positions if self.gpsd_positions else 1.0


def gpsdecode(data: bytes) -> list[bytes]:
    assert GPSDECODE is not None
    done = subprocess.run([GPSDECODE, "-D", "1"], input=data, capture_output=True, timeout=60, check=True)
    return done.stdout.splitlines()


def compare(lines: list[bytes]) -> Agreement:
    result = Agreement()
    mode: GpsFix | None = None
    where = b"(no position sentence)"
    last_position: GpsFix | None = None
    for line in lines:
        if line.startswith(b"$"):
            fix = decode_nmea(line)
            if fix is not None and fix.sentence in MODE_SETTERS:
                mode, where = fix, line
                if fix.fix_valid and fix.lat is not None:
                    last_position = fix
        elif line.startswith(b"{"):
            tpv = json.loads(line)
            if tpv.get("class") == "TPV":
                check_tpv(where, mode, last_position, tpv, result)
                mode, where, last_position = None, b"(no position sentence)", None
    return result


def check_tpv(
    where: bytes, mode: GpsFix | None, position: GpsFix | None, tpv: dict, result: Agreement  # type: ignore[type-arg]
) -> None:
    kind = "none" if mode is None else mode.sentence
    result.tpvs[kind] += 1
    gpsd_fix = tpv["mode"] >= 2 and "lat" in tpv
    ours = mode is not None and mode.fix_valid
    if gpsd_fix:
        result.gpsd_positions += 1
        ours = ours and position is not None and near(position, tpv["lat"], tpv["lon"])
        result.recalled += ours
    if ours == gpsd_fix:
        result.agreed[kind] += 1
    else:
        result.disagreements.append(f"{where.decode()}: ours {position if ours else 'no fix'}, GPSD {tpv}")


def near(fix: GpsFix, lat: float, lon: float) -> bool:
    return fix.lat is not None and fix.lon is not None and abs(fix.lat - lat) <= 1e-6 and abs(fix.lon - lon) <= 1e-6


@pytest.fixture(scope="module")
def streams() -> list[tuple[Receiver, bytes]]:
    return [stream(seed) for seed in range(STREAMS)]


def test_generated_receivers_cover_the_variations(streams: list[tuple[Receiver, bytes]]) -> None:
    kinds = [{kind for _, kind in r.sentences} for r, _ in streams]
    talkers = {talker for r, _ in streams for talker, _ in r.sentences}
    assert talkers >= set(TALKERS)
    assert sum(k <= {"GLL", "VTG", "ZDA"} for k in kinds) >= 10  # GLL-only receivers
    for kind, counts in (("RMC", set(range(7, 14))), ("GGA", {12, 13, 14}), ("GLL", {6, 7})):
        sent = {r.fields[kind] for r, _ in streams if any(k == kind for _, k in r.sentences)}
        assert sent >= counts, kind


def test_every_generated_stream_decodes_without_rejection(streams: list[tuple[Receiver, bytes]]) -> None:
    for _, data in streams:
        decoder = StreamDecoder("nmea")
        decoder.feed(data)
        assert decoder.stats.frames_rejected == 0 and decoder.stats.bytes_discarded == 0


@needs_gpsdecode
def test_positions_agree_with_gpsd(streams: list[tuple[Receiver, bytes]]) -> None:
    results = [compare(gpsdecode(data)) for _, data in streams]
    assert all(a.tpvs.total() >= EPOCHS // 2 for a in results), "gpsdecode reported too few cycles to compare"
    tpvs = sum((a.tpvs for a in results), Counter[str]())
    agreed = sum((a.agreed for a in results), Counter[str]())
    positions = sum(a.gpsd_positions for a in results)
    mean_recall = sum(a.recall for a in results) / len(results)
    summary = (
        f"{agreed.total()}/{tpvs.total()} TPVs agree ({dict(agreed)} of {dict(tpvs)}), {positions} GPSD positions, "
        f"mean position recall {mean_recall:.4f}\n" + "\n".join(d for a in results for d in a.disagreements[:3])
    )
    assert positions >= STREAMS * EPOCHS // 2, summary
    assert tpvs.keys() >= {"GGA", "RMC", "GLL"}, summary  # GSA carries no time, so never ends GPSD's cycle
    assert agreed.total() / tpvs.total() >= 0.99 and mean_recall >= 0.99, summary
    assert all(agreed[kind] / n >= 0.99 for kind, n in tpvs.items()), summary
