"""Serial and Modbus inputs: bytes from each configured port become Observations.

Each port gets a :class:`SerialLink` (reconnecting reader) feeding a
:class:`StreamDecoder`; the decoded readings are stamped with the device id the
site file gives the port (or the gateway address map) and handed on in the same
loop iteration the bytes arrived in. Storage gets the raw bytes, one append per
read: the store process decodes them again, so the alarm path builds no rows.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from edge_runtime.config import SiteConfig
from edge_runtime.config.devices import SerialPort
from firmware_bridge.modbus_poller import ModbusPoller
from firmware_bridge.protocols import Decoded, StreamDecoder
from firmware_bridge.readings import GasSample, Observation
from firmware_bridge.transport import LinkState, SerialLink

log = logging.getLogger(__name__)
ObservationSink = Callable[[Observation], None]


class ReadingStorage(Protocol):
    """What the inputs hand to storage (the Store facade)."""

    def record_chunk(self, source: str, ts: float, data: bytes) -> None: ...

    def record_observation(self, obs: Observation) -> None: ...


@dataclass
class PortHealth:
    """What /readyz and /metrics say about one port."""

    port: str
    protocol: str
    state: str = LinkState.CLOSED.value
    last_rx_ts: float | None = None
    readings: int = 0
    unknown_addresses: int = 0
    decoder: StreamDecoder | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, object]:
        stats = self.decoder.stats if self.decoder else None
        return {
            "port": self.port,
            "protocol": self.protocol,
            "state": self.state,
            "last_rx_ts": self.last_rx_ts,
            "readings": self.readings,
            "frames_rejected": getattr(stats, "frames_rejected", 0),
            "bytes_discarded": getattr(stats, "bytes_discarded", 0),
            "unknown_addresses": self.unknown_addresses,
        }


def device_of(spec: SerialPort, decoded: Decoded) -> str | None:
    """The device a reading decoded from ``spec``'s port belongs to; None for an address the site file lacks.

    Shared with the store process, which decodes the same bytes again to store them.
    """
    return spec.device if decoded.address is None else spec.gateway_devices.get(decoded.address)


class _SerialInput:
    """One stream port: link -> decoder -> observations."""

    def __init__(self, spec: SerialPort, sink: ObservationSink, storage: ReadingStorage,
                 clock: Callable[[], float]) -> None:
        self._spec = spec
        self._sink = sink
        self._storage = storage
        self._clock = clock
        self._decoder = StreamDecoder(spec.protocol)
        self.health = PortHealth(spec.port, spec.protocol, decoder=self._decoder)
        self.link = SerialLink(spec.port, spec.baudrate, self._on_bytes, on_state=self._on_state, name=spec.port)

    def _on_state(self, state: LinkState) -> None:
        self.health.state = state.value
        log.info("serial port state", extra={"port": self._spec.port, "state": state.value})

    def _on_bytes(self, data: bytes) -> None:
        now = self._clock()
        self.health.last_rx_ts = now
        spec = self._spec
        self._storage.record_chunk(spec.port, now, data)
        for decoded in self._decoder.feed(data):
            device = device_of(spec, decoded)
            if device is None:
                self.health.unknown_addresses += 1
                continue
            self.health.readings += 1
            self._sink(Observation(device, decoded.reading, now))


class _ModbusInput:
    """Fixed detectors polled over one RS-485 port."""

    def __init__(self, spec: SerialPort, sink: ObservationSink, storage: ReadingStorage,
                 clock: Callable[[], float]) -> None:
        self._sink = sink
        self._storage = storage
        self._clock = clock
        self.health = PortHealth(spec.port, spec.protocol)
        self.poller = ModbusPoller(spec.port, spec.baudrate, spec.modbus, self._on_samples, on_state=self._on_state)

    def _on_state(self, state: LinkState) -> None:
        self.health.state = state.value

    def _on_samples(self, detector: str, samples: list[GasSample]) -> None:
        now = self._clock()
        self.health.last_rx_ts = now
        for sample in samples:
            self.health.readings += 1
            obs = Observation(detector, sample, now)
            self._storage.record_observation(obs)  # a few per poll: its row is built in the store process
            self._sink(obs)


class SensorInputs:
    """All configured serial inputs, started and stopped together."""

    def __init__(self, config: SiteConfig, sink: ObservationSink, storage: ReadingStorage,
                 clock: Callable[[], float] = time.time) -> None:
        self._serial = [_SerialInput(p, sink, storage, clock) for p in config.serial if p.protocol != "modbus"]
        self._modbus = [_ModbusInput(p, sink, storage, clock) for p in config.serial if p.protocol == "modbus"]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for s in self._serial:
            self._tasks.append(asyncio.create_task(s.link.run(), name=f"serial:{s.health.port}"))
        for m in self._modbus:
            self._tasks.append(asyncio.create_task(m.poller.run(), name=f"modbus:{m.health.port}"))

    async def stop(self) -> None:
        for s in self._serial:
            s.link.stop()
        for m in self._modbus:
            m.poller.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=3.0)
            for t in pending:
                t.cancel()
        self._tasks.clear()

    def health(self) -> list[PortHealth]:
        return [s.health for s in self._serial] + [m.health for m in self._modbus]

    def ready(self) -> bool:
        """Every port is open (a sensor that has not spoken yet is still 'ready')."""
        return all(h.state == LinkState.OPEN.value for h in self.health())
