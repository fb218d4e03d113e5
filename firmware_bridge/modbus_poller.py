"""Polls fixed gas detectors over Modbus RTU (pymodbus) on one RS-485 port.

pymodbus owns framing, CRCs and request/response matching; this module owns
the schedule (each unit at its own interval, one request on the half-duplex
bus at a time), per-unit health, and the port's life cycle. pymodbus 3.16's
own reconnect is switched off (``reconnect_delay=0``): it is only armed after
a *lost* connection, never when the first open fails (an adapter not plugged
in at boot stays dead), it resets its delay on mere open and keeps a policy of
its own. Instead a lost or absent port closes the client and a fresh one is
opened after the shared :class:`~firmware_bridge.backoff.Backoff`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusIOException

from .backoff import Backoff
from .codecs.modbus_detector import REGISTER_COUNT, START_ADDRESS, decode_registers
from .errors import CodecError, TransportError
from .readings import GasSample
from .transport import LinkState, report_state

log = logging.getLogger(__name__)

ClientFactory = Callable[[], AsyncModbusSerialClient]


class ModbusPoll(Protocol):
    """What the poller needs of a unit; ``edge_runtime.config.devices.ModbusPoll``
    fits it, without the bridge depending on the daemon's config package."""

    @property
    def unit(self) -> int: ...

    @property
    def detector(self) -> str: ...

    @property
    def poll_interval_s(self) -> float: ...


@dataclass
class UnitHealth:
    """Per-detector counters: a dead detector must be visible, not silent."""

    unit: int
    detector: str
    polls: int = 0
    ok: int = 0
    errors: int = 0
    timeouts: int = 0
    consecutive_errors: int = 0
    last_error: str | None = None
    last_ok_ts: float | None = None


@dataclass
class PollerStats:
    opens: int = 0
    disconnects: int = 0
    open_errors: int = 0
    callback_errors: int = 0


class ModbusPoller:
    """One RS-485 line; ``on_samples(detector, samples)`` per good answer.

    ``on_error(detector, exc)`` reports failed polls (``detector`` None for
    the port itself). ``client_factory`` injects the pymodbus client (built
    inside the running loop, as pymodbus requires).
    """

    def __init__(
        self,
        port: str,
        baudrate: int,
        polls: Sequence[ModbusPoll],
        on_samples: Callable[[str, list[GasSample]], None],
        *,
        backoff: Backoff | None = None,
        on_error: Callable[[str | None, Exception], None] | None = None,
        on_state: Callable[[LinkState], None] | None = None,
        timeout_s: float = 0.5,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not polls:
            raise ValueError(f"{port}: no Modbus units to poll")
        if len({p.unit for p in polls}) != len(polls):
            raise ValueError(f"{port}: a Modbus unit id is listed twice")
        self.port = port
        self.baudrate = baudrate
        self.polls = tuple(polls)
        self.units = {p.unit: UnitHealth(p.unit, p.detector) for p in self.polls}
        self.stats = PollerStats()
        self._on_samples = on_samples
        self._on_error = on_error
        self._on_state = on_state
        self._backoff = backoff or Backoff()
        self._timeout_s = timeout_s
        self._factory = client_factory or self._default_client
        self._clock = clock
        self._state = LinkState.CLOSED
        self._stop = asyncio.Event()
        self._outage_logged = False

    @property
    def state(self) -> LinkState:
        return self._state

    async def run(self) -> None:
        """Poll until :meth:`stop`; port trouble is retried, never raised."""
        try:
            while not self._stop.is_set():
                self._set_state(LinkState.OPENING)
                client = self._factory()
                try:
                    if await self._connect(client):
                        self.stats.opens += 1
                        if self._outage_logged:
                            log.info("%s: port open again", self.port)
                            self._outage_logged = False
                        self._set_state(LinkState.OPEN)
                        await self._poll_while_connected(client)
                        if self._stop.is_set():
                            break
                        self.stats.disconnects += 1
                        self._port_failed("port lost")
                    else:
                        self.stats.open_errors += 1
                        self._port_failed("cannot open port")
                finally:
                    client.close()
                self._set_state(LinkState.BACKOFF)
                await self._pause(self._backoff.next_delay())
        finally:
            self._set_state(LinkState.STOPPED)

    def stop(self) -> None:
        self._stop.set()

    # -- internals ----------------------------------------------------------------------
    def _default_client(self) -> AsyncModbusSerialClient:
        return AsyncModbusSerialClient(
            self.port,
            framer=FramerType.RTU,
            baudrate=self.baudrate,
            timeout=self._timeout_s,
            retries=0,  # a missed poll is retried by the schedule, not by blocking the bus
            reconnect_delay=0,  # see module docstring: our Backoff reconnects
            name=f"modbus:{self.port}",
        )

    async def _connect(self, client: AsyncModbusSerialClient) -> bool:
        try:
            return await asyncio.wait_for(client.connect(), self._timeout_s + 1.0)
        except (asyncio.TimeoutError, OSError, ModbusException) as exc:
            log.debug("%s: connect failed: %s", self.port, exc)
            return False

    async def _poll_while_connected(self, client: AsyncModbusSerialClient) -> None:
        """Serve the schedule until the port drops or stop() is called."""
        loop = asyncio.get_running_loop()
        due = {p.unit: loop.time() for p in self.polls}
        while not self._stop.is_set():
            poll = min(self.polls, key=lambda p: due[p.unit])
            wait = due[poll.unit] - loop.time()
            if wait > 0 and await self._pause(wait):
                return
            if not client.connected:  # pymodbus saw the hang-up and closed its transport
                return
            await self._poll_unit(client, poll)
            # Next slot from now, not from the missed one: no burst after a slow poll.
            due[poll.unit] = max(due[poll.unit] + poll.poll_interval_s, loop.time())

    async def _poll_unit(self, client: AsyncModbusSerialClient, poll: ModbusPoll) -> None:
        health = self.units[poll.unit]
        health.polls += 1
        try:
            response = await asyncio.wait_for(
                client.read_holding_registers(START_ADDRESS, count=REGISTER_COUNT, device_id=poll.unit),
                self._timeout_s * 2 + 0.5,  # hard bound over pymodbus's own timeout
            )
            if response.isError():
                raise ModbusException(f"exception response {response}")
            samples = decode_registers(list(response.registers))
        except (asyncio.TimeoutError, ModbusIOException) as exc:
            health.timeouts += 1
            self._unit_failed(health, exc)
            return
        except (ModbusException, CodecError) as exc:
            self._unit_failed(health, exc)
            return
        if health.consecutive_errors:
            log.info("%s: unit %d (%s) answering again", self.port, poll.unit, poll.detector)
        health.ok += 1
        health.consecutive_errors = 0
        health.last_ok_ts = self._clock()
        self._backoff.reset()  # a detector answered: the line is proven good
        try:
            self._on_samples(poll.detector, samples)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("%s: on_samples failed for %s", self.port, poll.detector)

    def _unit_failed(self, health: UnitHealth, exc: Exception) -> None:
        health.errors += 1
        health.consecutive_errors += 1
        health.last_error = str(exc) or type(exc).__name__
        if health.consecutive_errors == 1:
            log.warning("%s: unit %d (%s) poll failed: %s", self.port, health.unit, health.detector, health.last_error)
        self._report(health.detector, exc)

    def _port_failed(self, what: str) -> None:
        """One warning per outage (retries go to debug), and on_error every time."""
        if self._outage_logged:
            log.debug("%s: %s", self.port, what)
        else:
            log.warning("%s: %s (retrying with backoff)", self.port, what)
            self._outage_logged = True
        self._report(None, TransportError(f"{self.port}: {what}"))

    def _report(self, detector: str | None, exc: Exception) -> None:
        if self._on_error is None:
            return
        try:
            self._on_error(detector, exc)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("%s: on_error callback failed", self.port)

    async def _pause(self, delay: float) -> bool:
        """Sleep up to ``delay``; True when stop() cut it short."""
        try:
            await asyncio.wait_for(self._stop.wait(), delay)
        except asyncio.TimeoutError:
            return False
        return True

    def _set_state(self, state: LinkState) -> None:
        if state is not self._state:
            self._state = state
            report_state(self._on_state, state, self.port)
