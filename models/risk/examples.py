"""Labelled examples from the synced rows, for the two targets of the risk model.

The cloud side queries the synced ``alarms``, ``verdicts`` and ``readings``
tables and passes the rows here (lists of dicts, or column arrays for the
readings); nothing here touches a database.

- *alarm-real* (:func:`alarm_examples`): one example per alarm with a
  verdict, its window ending when the alarm was raised (what the edge knows
  then); the latest verdict revision wins, ``confirmed`` = 1,
  ``false_alarm`` = 0.
- *risk-rising* (:func:`risk_examples`): windows ending :data:`LEAD_S` before
  confirmed alarms (1), and windows at random times at least :data:`FAR_S`
  from any alarm of the same subject (0).

Whose sensors make a window: ``roster`` maps a worker to their sensor ids
and ``zone:<id>`` to the fixed detectors of a zone. A ``worker:<id>`` alarm
uses the worker's sensors plus, for the alarm-real target, the fixed detectors
of the alarm's zone (as the edge sees them when it scores the alarm); a
``zone:<id>`` alarm uses the zone's detectors; a ``device:<id>`` alarm the
device itself plus the sensors of the workers it told. The risk-rising target
uses the subject's own sensors only, positives and negatives alike: where a
worker was at a random time is not in the synced rows, and a window that has
zone detectors only when it is positive would teach the model the wrong thing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .features import FEATURES, SensorWindow, window_features

LEAD_S = 60.0
"""Risk-rising positives end this long before the alarm: the model must see the risk coming."""
FAR_S = 900.0
"""Risk-rising negatives are at least this far (either side) from any alarm of their subject: more
than the window plus ``LEAD_S``, so a negative window never overlaps an alarm's lead-up."""
NIGHT_HOURS = (22, 6)
"""Night is 22:00-06:00 (UTC hour of the scoring time)."""
_NEGATIVE_ROUNDS = 20  # draws of candidate times before giving up on finding more negatives
_GAS_CONDITION = re.compile(r"^(?:gas|stel|twa|zone_gas|gas_fault):([A-Za-z0-9]+)")
_LABELS = {"confirmed": 1, "false_alarm": 0}
_READING_COLUMNS = ("device_id", "device", "kind", "ts", "v1", "v2", "v3")

Rows = Sequence[Mapping[str, Any]]
ReadingsInput = Rows | Mapping[str, Sequence[Any] | np.ndarray]
"""Readings rows (dicts) or columns: ``device_id`` (edge device), ``device`` (sensor), ``kind``, ``ts``, ``v1..v3``."""
Roster = Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an edge device is and what it is: the site and device-type segments of its examples."""

    site: str
    device_type: str


SEGMENTS = ("site", "device_type", "gas", "time_of_day", "kind")
"""The segments the gate compares, in report order."""
_COLUMNS = ("X", "y", "kind", "site", "device_type", "gas", "night", "alarm_id", "subject", "t")


@dataclass(frozen=True)
class Examples:
    """Feature rows, labels and the segments each row belongs to (one entry per row in every array)."""

    X: np.ndarray  # float32 [n, len(FEATURES)]
    y: np.ndarray  # int8, 1 = confirmed alarm / risk rising
    kind: np.ndarray  # the alarm kind; "" for a risk-rising negative
    site: np.ndarray
    device_type: np.ndarray
    gas: np.ndarray  # the alarm's gas ("H2S" ...) or ""
    night: np.ndarray  # bool: scored between 22:00 and 06:00 UTC
    alarm_id: np.ndarray  # "" for a risk-rising negative
    subject: np.ndarray  # whose window: "worker:<id>", "zone:<id>" or "device:<id>"
    t: np.ndarray  # float64 scoring time (end of the window)
    dropped: Mapping[str, int] = field(default_factory=dict)  # rows left out, by reason

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.X.shape[1] != len(FEATURES):
            raise ValueError(f"X must be [n, {len(FEATURES)}], got {self.X.shape}")
        n = self.X.shape[0]
        for name in _COLUMNS[1:]:
            if len(getattr(self, name)) != n:
                raise ValueError(f"Examples.{name} has {len(getattr(self, name))} entries for {n} rows")

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def take(self, index: np.ndarray) -> Examples:
        """The rows at ``index`` (integer positions or a boolean mask)."""
        return Examples(*(getattr(self, c)[index] for c in _COLUMNS), dict(self.dropped))  # type: ignore[arg-type]

    @classmethod
    def concat(cls, parts: Sequence[Examples]) -> Examples:
        """One set from several (e.g. one per site); ``dropped`` counts add up."""
        if not parts:
            return _build([], {})
        dropped: dict[str, int] = {}
        for part in parts:
            for reason, count in part.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + count
        columns = (np.concatenate([getattr(p, c) for p in parts]) for c in _COLUMNS)
        return cls(*columns, dropped)  # type: ignore[arg-type]

    def segments(self) -> dict[str, np.ndarray]:
        """Per segment name (:data:`SEGMENTS`), each row's value."""
        return {
            "site": self.site,
            "device_type": self.device_type,
            "gas": self.gas,
            "time_of_day": np.where(self.night, "night", "day"),
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class _Row:
    """One example before stacking."""

    features: np.ndarray
    label: int
    kind: str
    origin: Origin
    gas: str
    alarm_id: str
    subject: str
    t: float


def alarm_examples(alarms: Rows, verdicts: Rows, readings: ReadingsInput, roster: Roster,
                   site_of: Mapping[str, Origin]) -> Examples:
    """The alarm-real target: every alarm with a verdict, scored at its raise time.

    ``site_of`` maps the edge device id (``device_id`` of the synced rows) to its
    :class:`Origin`. Alarms without a verdict, or whose subject has no sensor in
    the roster, are left out and counted in ``dropped``.
    """
    index = ReadingIndex(readings, site_of)
    labels = latest_verdicts(verdicts)
    rows: list[_Row] = []
    dropped = {"no_verdict": 0, "no_sensors": 0}
    for alarm in alarms:
        alarm_id = _field(alarm, "alarm_id")
        verdict = labels.get(alarm_id)
        if verdict is None:
            dropped["no_verdict"] += 1
            continue
        sensors = subject_sensors(alarm, roster, with_zone=True)
        if not sensors:
            dropped["no_sensors"] += 1
            continue
        origin = _origin(site_of, _field(alarm, "device_id"))
        t = float(_field(alarm, "raised_ts"))
        rows.append(_Row(window_features(index.window(origin.site, sensors), t), _LABELS[verdict],
                         _field(alarm, "kind"), origin, alarm_gas(alarm), alarm_id, _field(alarm, "subject"), t))
    return _build(rows, dropped)


def risk_examples(alarms: Rows, readings: ReadingsInput, roster: Roster, rng: np.random.Generator,
                  negatives_per_positive: int, *, site_of: Mapping[str, Origin],
                  verdicts: Rows | None = None) -> Examples:
    """The risk-rising target: windows :data:`LEAD_S` before confirmed alarms (1) and alarm-free ones (0).

    An alarm is confirmed by its latest verdict revision in ``verdicts`` when
    given, else by the alarm row's own ``verdict``. Negatives are drawn at the
    times of the subjects' own readings (so a negative window has data, as a
    positive one does), :data:`FAR_S` or more from every alarm of the subject.
    """
    if negatives_per_positive < 0:
        raise ValueError(f"negatives_per_positive must be >= 0, got {negatives_per_positive}")
    index = ReadingIndex(readings, site_of)
    labels = latest_verdicts(verdicts) if verdicts is not None else {}
    rows: list[_Row] = []
    dropped = {"no_sensors": 0, "negatives_short": 0}
    alarm_times: dict[tuple[str, str], list[float]] = {}
    for alarm in alarms:
        origin = _origin(site_of, _field(alarm, "device_id"))
        raised = float(_field(alarm, "raised_ts"))
        for subject in _subjects(alarm):
            alarm_times.setdefault((origin.site, subject), []).append(raised)
        if labels.get(_field(alarm, "alarm_id"), alarm.get("verdict")) != "confirmed":
            continue
        sensors = subject_sensors(alarm, roster, with_zone=False)
        if not sensors:
            dropped["no_sensors"] += 1
            continue
        t = raised - LEAD_S
        rows.append(_Row(window_features(index.window(origin.site, sensors), t), 1, _field(alarm, "kind"), origin,
                         alarm_gas(alarm), _field(alarm, "alarm_id"), _field(alarm, "subject"), t))
    wanted = negatives_per_positive * len(rows)
    negatives = _negatives(index, roster, alarm_times, rng, wanted)
    dropped["negatives_short"] = wanted - len(negatives)
    return _build(rows + negatives, dropped)


def latest_verdicts(verdicts: Rows) -> dict[str, str]:
    """Per alarm id the latest verdict revision (highest ``ts``; on a tie the later row)."""
    latest: dict[str, tuple[float, str]] = {}
    for row in verdicts:
        alarm_id, verdict, ts = _field(row, "alarm_id"), _field(row, "verdict"), float(_field(row, "ts"))
        if verdict not in _LABELS:
            raise ValueError(f"verdict row for {alarm_id!r} has verdict {verdict!r}, not one of {sorted(_LABELS)}")
        if alarm_id not in latest or ts >= latest[alarm_id][0]:
            latest[alarm_id] = (ts, verdict)
    return {alarm_id: verdict for alarm_id, (_, verdict) in latest.items()}


def alarm_gas(alarm: Mapping[str, Any]) -> str:
    """The gas an alarm is about, from its condition (``gas:H2S``, ``zone_gas:CO`` ...), or ""."""
    match = _GAS_CONDITION.match(str(alarm.get("condition") or ""))
    return match.group(1) if match and match.group(1) != "all" else ""


def subject_sensors(alarm: Mapping[str, Any], roster: Roster, *, with_zone: bool) -> tuple[str, ...]:
    """The sensor ids whose readings make the alarm's window (see the module docstring)."""
    kind, _, ident = str(_field(alarm, "subject")).partition(":")
    sensors: list[str] = []
    if kind == "worker":
        sensors += roster.get(ident, ())
        zone = alarm.get("zone")
        if with_zone and zone:
            sensors += roster.get(f"zone:{zone}", ())
    elif kind == "zone":
        sensors += roster.get(f"zone:{ident}", ())
    elif kind == "device":
        sensors.append(ident)
        for worker in alarm.get("workers") or ():
            sensors += roster.get(worker, ())
    else:
        raise ValueError(f"alarm {alarm.get('alarm_id')!r} has subject {alarm.get('subject')!r}: "
                         "expected worker:<id>, zone:<id> or device:<id>")
    return tuple(dict.fromkeys(sensors))


def _subjects(alarm: Mapping[str, Any]) -> set[str]:
    """The roster keys an alarm concerns: its subject, the workers it told, its zone."""
    kind, _, ident = str(_field(alarm, "subject")).partition(":")
    keys = {ident if kind == "worker" else f"zone:{ident}" if kind == "zone" else ""}
    keys.update(alarm.get("workers") or ())
    if alarm.get("zone"):
        keys.add(f"zone:{alarm['zone']}")
    keys.discard("")
    return keys


class ReadingIndex:
    """Readings grouped by (site, sensor), to cut one subject's :class:`SensorWindow` quickly."""

    def __init__(self, readings: ReadingsInput, site_of: Mapping[str, Origin]) -> None:
        columns = _columns(readings)
        edge = np.asarray(columns["device_id"], dtype=str)
        edges, inverse = np.unique(edge, return_inverse=True)
        origins = [_origin(site_of, str(e)) for e in edges]
        self._edge = edge
        self._site = np.array([o.site for o in origins], dtype=str)[inverse]
        self._origins = dict(zip(edges.tolist(), origins))
        self._sensor = np.asarray(columns["device"], dtype=str)
        self._kind = np.asarray(columns["kind"], dtype=str)
        self._ts = np.asarray(columns["ts"], dtype=np.float64)
        self._v = [np.asarray(columns[c], dtype=np.float64) for c in ("v1", "v2", "v3")]
        sites, site_code = np.unique(self._site, return_inverse=True)
        sensors, sensor_code = np.unique(self._sensor, return_inverse=True)
        keys = site_code.astype(np.int64) * max(len(sensors), 1) + sensor_code
        order = np.argsort(keys, kind="stable")
        unique, starts = np.unique(keys[order], return_index=True)
        stops = [*starts[1:], len(order)]
        self._rows: dict[tuple[str, str], np.ndarray] = {
            (str(sites[k // len(sensors)]), str(sensors[k % len(sensors)])): order[a:b]
            for k, a, b in zip(unique.tolist(), starts, stops)
        }
        self._cache: dict[tuple[str, tuple[str, ...]], SensorWindow] = {}

    def rows(self, site: str, sensors: Iterable[str]) -> np.ndarray:
        """Positions of the readings of ``sensors`` at ``site``."""
        parts = [self._rows.get((site, s)) for s in sensors]
        found = [p for p in parts if p is not None]
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)

    def window(self, site: str, sensors: tuple[str, ...]) -> SensorWindow:
        key = (site, sensors)
        if key not in self._cache:
            at = self.rows(site, sensors)
            self._cache[key] = SensorWindow.from_columns(self._kind[at], self._ts[at], *(v[at] for v in self._v))
        return self._cache[key]

    def sites(self) -> tuple[str, ...]:
        return tuple(np.unique(self._site).tolist())

    def ts_at(self, position: int) -> float:
        return float(self._ts[position])

    def origin_at(self, position: int) -> Origin:
        return self._origins[str(self._edge[position])]


def _negatives(index: ReadingIndex, roster: Roster, alarm_times: Mapping[tuple[str, str], list[float]],
               rng: np.random.Generator, wanted: int) -> list[_Row]:
    """Up to ``wanted`` alarm-free windows at the times of random subjects' own readings (bounded draws)."""
    pools = []
    for site in index.sites():
        for subject, sensors in roster.items():
            at = index.rows(site, sensors)
            if at.size:
                times = np.sort(np.asarray(alarm_times.get((site, subject), ()), dtype=np.float64))
                pools.append((site, subject, tuple(dict.fromkeys(sensors)), at, times))
    found: list[_Row] = []
    seen: set[tuple[int, int]] = set()
    for _ in range(_NEGATIVE_ROUNDS if pools else 0):
        if len(found) >= wanted:
            break
        for pool_no, reading_no in zip(rng.integers(len(pools), size=wanted).tolist(), rng.random(wanted).tolist()):
            site, subject, sensors, at, times = pools[pool_no]
            position = int(at[int(reading_no * at.size)])
            t = index.ts_at(position)
            if (pool_no, position) in seen or _near(times, t, FAR_S):
                continue
            seen.add((pool_no, position))
            found.append(_Row(window_features(index.window(site, sensors), t), 0, "", index.origin_at(position),
                              "", "", subject if subject.startswith("zone:") else f"worker:{subject}", t))
            if len(found) >= wanted:
                break
    return found


def _near(sorted_times: np.ndarray, t: float, margin: float) -> bool:
    if not sorted_times.size:
        return False
    i = int(np.searchsorted(sorted_times, t))
    neighbours = sorted_times[max(i - 1, 0): i + 1]
    return bool((np.abs(neighbours - t) < margin).any())


def _build(rows: Sequence[_Row], dropped: Mapping[str, int]) -> Examples:
    n = len(rows)
    X = np.stack([r.features for r in rows]).astype(np.float32) if n else np.empty((0, len(FEATURES)), np.float32)
    t = np.array([r.t for r in rows], dtype=np.float64)
    hour = (t % 86_400.0) // 3_600.0
    start, end = NIGHT_HOURS
    return Examples(
        X=X,
        y=np.array([r.label for r in rows], dtype=np.int8),
        kind=np.array([r.kind for r in rows], dtype=object),
        site=np.array([r.origin.site for r in rows], dtype=object),
        device_type=np.array([r.origin.device_type for r in rows], dtype=object),
        gas=np.array([r.gas for r in rows], dtype=object),
        night=(hour >= start) | (hour < end),
        alarm_id=np.array([r.alarm_id for r in rows], dtype=object),
        subject=np.array([r.subject for r in rows], dtype=object),
        t=t,
        dropped={k: v for k, v in dropped.items() if v},
    )


def _columns(readings: ReadingsInput) -> Mapping[str, Sequence[Any] | np.ndarray]:
    if isinstance(readings, Mapping):
        missing = [c for c in _READING_COLUMNS if c not in readings]
        if missing:
            raise ValueError(f"readings columns {missing} are missing (need {list(_READING_COLUMNS)})")
        return readings
    try:
        return {c: [row.get(c) if c.startswith("v") else row[c] for row in readings] for c in _READING_COLUMNS}
    except KeyError as exc:
        raise ValueError(f"a readings row has no {exc.args[0]!r} (need {list(_READING_COLUMNS)})") from None


def _origin(site_of: Mapping[str, Origin], device_id: str) -> Origin:
    try:
        return site_of[device_id]
    except KeyError:
        raise ValueError(f"edge device {device_id!r} is not in site_of "
                         "(its site and device type are unknown)") from None


def _field(row: Mapping[str, Any], name: str) -> Any:
    try:
        return row[name]
    except KeyError:
        raise ValueError(f"row has no {name!r}: {dict(row)!r:.200}") from None

