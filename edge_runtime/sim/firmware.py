"""Emulated device firmware: each writes the bytes its real device would send.

Two layers, as in the field. A *frame source* is a device's firmware logic
(:class:`GpsFirmware`: GGA + RMC + GSA per fix; :class:`WinsenFirmware`: one
ZE active-upload frame per gas per second). A *port* carries sources to the
edge: :class:`SerialFirmware` is a device cabled straight to its own UART,
:class:`GatewayFirmware` is the site's tag gateway that multiplexes many
sources on one USB serial line, each frame wrapped with its tag's address.
Fixed detectors answer Modbus polls (:class:`FixedDetectorFirmware` keeps the
emulated slave's registers current) and wearables publish over MQTT
(:class:`WearableGateway`). Every value comes from the :class:`World` at the
scenario instant of the tick, so a run is reproducible for a given seed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import paho.mqtt.client as mqtt

from edge_runtime.mqtt.topics import Topics
from firmware_bridge.codecs.gateway import encode_gateway
from firmware_bridge.codecs.hrm import encode_hrm
from firmware_bridge.codecs.modbus_detector import CHANNELS
from firmware_bridge.codecs.nmea import KNOTS_TO_MPS, encode_gga, encode_gsa, encode_rmc
from firmware_bridge.codecs.winsen import GAS_CODES as WINSEN_GASES
from firmware_bridge.codecs.winsen import encode_winsen
from firmware_bridge.errors import TransportError
from firmware_bridge.readings import Gas, GasSample
from firmware_bridge.sim.modbus_slave import EmulatedModbusSlave
from firmware_bridge.sim.pty import PtyPort

from .timeline import SimClock
from .world import World

_PRNS = (2, 5, 7, 9, 13, 15, 18, 20, 23, 26, 29, 30)  # satellite ids a GSA lists, first N used


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """A gas sensor's range and resolution, as its module reports them."""

    full_range: float
    decimals: int
    unit: str


# Winsen ZE-series / typical fixed-head ranges; a gas not listed reads 0-100 ppm.
SENSOR_SPECS: dict[Gas, SensorSpec] = {
    Gas.O2: SensorSpec(25.0, 1, "%vol"),
    Gas.CO: SensorSpec(1000.0, 0, "ppm"),
    Gas.H2S: SensorSpec(200.0, 1, "ppm"),
    Gas.LEL: SensorSpec(100.0, 0, "%LEL"),
}
_DEFAULT_SPEC = SensorSpec(100.0, 1, "ppm")


def sensor_spec(gas: Gas) -> SensorSpec:
    return SENSOR_SPECS.get(gas, _DEFAULT_SPEC)


class FrameSource(Protocol):
    """A device's firmware logic: the frames it sends at scenario time ``t``."""

    protocol: str  # the gateway's name for the inner protocol: "nmea" | "winsen" | "hrm"
    device: str
    period_s: float

    def frames(self, t: float) -> list[bytes]: ...


class GpsFirmware:
    """A GPS tag's receiver: GGA + RMC (+ GSA) per fix; quality 0 / status V / no-fix GSA while the fix is lost."""

    protocol = "nmea"

    def __init__(
        self, world: World, worker: str, device: str, clock: SimClock, *, rate_hz: float = 1.0, gsa: bool = True
    ) -> None:
        self.device = device
        self.period_s = 1.0 / rate_hz
        self._world = world
        self._worker = worker
        self._clock = clock
        self._gsa = gsa

    def frames(self, t: float) -> list[bytes]:
        s = self._world.gps(self._worker, t)
        utc = self._clock.utc(t)
        out = [
            encode_gga(s.lat, s.lon, time_utc=utc, quality=1 if s.fix else 0, satellites=s.satellites, hdop=s.hdop),
            encode_rmc(
                s.lat,
                s.lon,
                time_utc=utc,
                valid=s.fix,
                speed_knots=s.speed_mps / KNOTS_TO_MPS,
                course=round(s.course_deg, 2) % 360,
                mode="A" if s.fix else "N",
            ),
        ]
        if self._gsa:
            prns = _PRNS[: s.satellites] if s.fix else ()
            out.append(encode_gsa(3 if s.fix else 1, prns, hdop=s.hdop))
        return out


class WinsenFirmware:
    """A detector's Winsen ZE UART: one active-upload frame per gas per second."""

    protocol = "winsen"
    period_s = 1.0

    def __init__(self, world: World, detector: str) -> None:
        unsupported = [g.value for g in world.gases(detector) if g not in WINSEN_GASES.values()]
        if unsupported:
            raise ValueError(f"detector {detector!r}: a Winsen UART cannot carry {', '.join(unsupported)}")
        self.device = detector
        self._world = world

    def frames(self, t: float) -> list[bytes]:
        if not self._world.detector_online(self.device, t):
            return []
        out = []
        for gas, value in self._world.gas(self.device, t).items():
            spec = sensor_spec(gas)  # beyond its full range the frame saturates, as the module does
            value = max(0.0, value)  # the frame is unsigned: a drifted zero reads 0
            out.append(encode_winsen(gas, value, full_range=spec.full_range, decimals=spec.decimals, unit=spec.unit))
        return out


class SerialFirmware:
    """One emulated UART with devices on it: runs each source on its own schedule and writes its frames."""

    def __init__(self, port: PtyPort, clock: SimClock, sources: Sequence[FrameSource]) -> None:
        self.port = port
        self.sources = tuple(sources)
        self._clock = clock

    def wire(self, index: int, frame: bytes) -> bytes:
        """The bytes a source's frame becomes on this port: itself, on a direct cable."""
        return frame

    async def run(self) -> None:
        """Run every source, their ticks spread over the period so the line never bursts."""
        n = len(self.sources)
        await asyncio.gather(
            *(
                self._clock.every(s.period_s, functools.partial(self._emit, i), phase_s=s.period_s * i / n)
                for i, s in enumerate(self.sources)
            )
        )

    def _emit(self, index: int, t: float) -> None:
        for frame in self.sources[index].frames(t):
            self.port.write(self.wire(index, frame))


class GatewayFirmware(SerialFirmware):
    """The tag gateway: many devices on one USB serial, each frame wrapped with its tag's address."""

    def __init__(self, port: PtyPort, clock: SimClock, tags: Mapping[int, FrameSource]) -> None:
        super().__init__(port, clock, list(tags.values()))
        self.addresses = tuple(tags)

    def wire(self, index: int, frame: bytes) -> bytes:
        return encode_gateway(self.addresses[index], self.sources[index].protocol, frame)


class FixedDetectorFirmware:
    """A fixed detector's measuring board: refreshes its Modbus registers every second.

    A detector whose link is down stops answering polls (muted on the bus).
    """

    period_s = 1.0

    def __init__(self, world: World, detector: str, slave: EmulatedModbusSlave, unit: int, clock: SimClock) -> None:
        if len(world.gases(detector)) > CHANNELS:
            raise ValueError(f"detector {detector!r}: a fixed detector has at most {CHANNELS} channels")
        self.device = detector
        self.unit = unit
        self._world = world
        self._slave = slave
        self._clock = clock

    async def run(self) -> None:
        await self._clock.every(self.period_s, self.refresh)

    def refresh(self, t: float) -> None:
        online = self._world.detector_online(self.device, t)
        self._slave.mute(self.unit, not online)
        if not online:
            return
        fault = self._world.detector_fault(self.device, t)
        samples = []
        for gas, value in self._world.gas(self.device, t).items():
            spec = sensor_spec(gas)
            samples.append(GasSample(gas, value, spec.unit, over_range=value > spec.full_range, fault=fault))
        self._slave.set_samples(self.unit, samples)


class WearableGateway:
    """The wearables' BLE-to-MQTT gateway: each wearable's telemetry JSON at ``rate_hz``.

    HR goes as ``hr_raw`` (the 0x2A37 bytes the strap sends, in hex) and the
    accelerometer as every sample at ``accel_hz`` since the last message, so a
    fall's short free-fall and impact survive a 1 Hz publish rate. ``panic``
    is true while SOS is held; ``cancel`` is true once for a cancel press.
    """

    def __init__(
        self,
        world: World,
        clock: SimClock,
        wearables: Mapping[str, str],
        *,
        site: str,
        host: str,
        port: int,
        rate_hz: float = 1.0,
        accel_hz: float = 20.0,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        """``credentials``: the gateway's (user name, password) on a broker with accounts."""
        self._world = world
        self._clock = clock
        self._wearables = dict(wearables)  # wearable id -> worker id
        self._topics = Topics(site)
        self._period_s = 1.0 / rate_hz
        self._accel_hz = accel_hz
        self._host, self._port = host, port
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if credentials is not None:
            self._client.username_pw_set(*credentials)
        self._last_t: float | None = None

    async def start(self, timeout_s: float = 5.0) -> None:
        """Connect to the broker; raises :class:`TransportError` if it does not answer."""
        loop = asyncio.get_running_loop()
        connected = loop.create_future()

        def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
            if not connected.done():
                loop.call_soon_threadsafe(connected.set_result, reason)

        self._client.on_connect = on_connect
        try:
            await asyncio.to_thread(self._client.connect, self._host, self._port, 15)
            self._client.loop_start()
            reason = await asyncio.wait_for(connected, timeout_s)
        except (TimeoutError, OSError) as exc:
            await self.stop()
            raise TransportError(f"wearable gateway cannot reach MQTT {self._host}:{self._port}: {exc}") from exc
        if reason.is_failure:
            await self.stop()
            raise TransportError(f"MQTT broker refused the wearable gateway: {reason}")

    async def run(self) -> None:
        await self._clock.every(self._period_s, self._publish_all, phase_s=self._period_s / 2)

    async def stop(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    def telemetry(self, worker: str, t: float, since: float | None = None) -> dict[str, object]:
        """The message a worker's wearable sends at ``t``, covering (since, t] (default: one period)."""
        w, hz = self._world, self._accel_hz
        since = t - self._period_s if since is None else since
        # every sample instant k/hz in (since, t]; the epsilon keeps float error off the grid
        first, last = max(0, math.floor(since * hz + 1e-6) + 1), math.floor(t * hz + 1e-6)
        samples = [w.accel(worker, k / hz) for k in range(first, last + 1)]
        message: dict[str, object] = {
            "hr_raw": encode_hrm(w.heart_rate(worker, t)).hex(),
            "accel": [[m.ax, m.ay, m.az] for m in samples],
            "battery": w.battery(worker, t),
            "checkin": w.checked_in(worker, since, t),
            "ts": round(self._clock.wall(t), 3),
        }
        # "panic" is true in every message while SOS is held (a lost QoS 0 message cannot
        # lose it); "cancel" is true once for the cancel press; both absent otherwise.
        if w.panic(worker, t):
            message["panic"] = True
        elif w.panic(worker, since):
            message["cancel"] = True
        return message

    def _publish_all(self, t: float) -> None:
        # a message covers everything since the last one, so a skipped tick loses no check-in or fall
        since, self._last_t = self._last_t, t
        for wearable, worker in self._wearables.items():
            if self._world.wearable_online(worker, t):
                payload = json.dumps(self.telemetry(worker, t, since), separators=(",", ":"))
                self._client.publish(self._topics.wearable_telemetry(wearable), payload, qos=0)
