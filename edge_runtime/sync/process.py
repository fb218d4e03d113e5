"""The sync agent's process: the bulk side of the process model, never the alarm path's.

Spawned by :class:`~.supervisor.SyncSupervisor`. It reads the outbox on
query-only connections of its own (WAL: the store process's writer never
waits for them), and writes marks and quarantined ranges through a
:class:`~edge_runtime.store.StoreProducer`, like any other producer: it never
opens a write connection. It loads the device credential itself (the secret
never travels on a pipe), runs at the store process's niceness, reports its
:class:`~.state.SyncState` to the daemon every ``STATE_EVERY_S`` and takes the
daemon's answer (models and open alarms, for heartbeats). It stops when the
daemon says so, on SIGTERM, or when the daemon goes away; a crash or a
SIGKILL loses nothing: marks move only on receipts, so what was in flight is
sent again.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from edge_runtime.child_process import die_with_parent, lower_priority, name_process
from edge_runtime.config.sync import SyncSettings
from edge_runtime.logs import setup_logging, verbosity_of
from edge_runtime.store import Outbox, ProducerAddress, StoreProducer
from edge_runtime.store.connection import ReadConnection

from .agent import Context, SyncAgent
from .backlog import BacklogCounter
from .breaker import CircuitBreaker
from .client import CloudClient
from .lanes import lane_policies
from .reader import OutboxReader

log = logging.getLogger(__name__)

STATE_EVERY_S = 1.0
# A batch is tens of thousands of row tuples, none of them cyclic: at the default threshold (700 new
# containers) the collector would run hundreds of times per batch and walk every row each time it promotes.
GC_THRESHOLD = (50_000, 20, 100)
FLUSH_S = 2.0  # at a clean stop, wait this long for the last marks to commit
STOP = "stop"


@dataclass(frozen=True)
class AgentSpec:
    """Everything the agent process needs, picklable (it is spawned, not forked)."""

    settings: SyncSettings
    device: str
    timezone: str  # the site's, for lane schedules
    db_path: Path
    budget_bytes: int  # storage.max_bytes, reported in heartbeats
    store_address: ProducerAddress | None = None
    nice: int = 0
    log_level: int = logging.WARNING


@asynccontextmanager
async def open_agent(spec: AgentSpec, *, context: Context = dict,
                     clock: Callable[[], float] = time.time) -> AsyncIterator[SyncAgent]:
    """The agent with its connections (store producer, read connections, HTTP session), closed after."""
    if spec.store_address is None:
        raise ValueError("the agent needs the store process's address")
    settings = spec.settings
    credential = settings.credential(spec.device)
    address = spec.store_address
    producer = StoreProducer.connect(address.address, address.authkey, address.capacity, name="store.sync")
    reads = [ReadConnection(spec.db_path), ReadConnection(spec.db_path)]  # the drain's, the backlog count's
    try:
        outbox = Outbox(producer.put, clock)
        outbox.attach(reads[0])
        async with aiohttp.ClientSession() as session:
            yield SyncAgent(
                settings, device=spec.device, outbox=outbox, reader=OutboxReader(reads[0], outbox),
                backlog=BacklogCounter(reads[1], outbox, spec.budget_bytes),
                client=CloudClient(session, settings.url or "", credential, timeout_s=settings.request_timeout_s,
                                   clock=clock),
                lanes=lane_policies(settings.lanes, spec.timezone, time.monotonic),
                breaker=CircuitBreaker(settings.failures_to_open, settings.open_s, time.monotonic),
                context=context, clock=clock,
            )
    finally:
        await asyncio.to_thread(producer.flush, FLUSH_S)
        producer.close()
        for conn in reads:
            conn.close()


def run(spec: AgentSpec, conn: Connection) -> None:
    """The process's main: until the daemon says stop, SIGTERM, or the daemon's end of ``conn`` closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the daemon's to handle
    die_with_parent()
    name_process("sg-sync")
    lower_priority(spec.nice)
    setup_logging(verbosity_of(spec.log_level))
    gc.freeze()  # what start-up allocated is never garbage: keep it out of every collection
    gc.set_threshold(*GC_THRESHOLD)
    asyncio.run(_serve(spec, conn))


async def _serve(spec: AgentSpec, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    context: dict[str, Any] = {}

    def on_message() -> None:
        try:
            while conn.poll(0):
                message = conn.recv()
                if message == STOP:
                    stop.set()
                else:
                    context.update(message)
        except (EOFError, OSError):  # the daemon is gone
            stop.set()
            loop.remove_reader(conn.fileno())

    loop.add_reader(conn.fileno(), on_message)
    async with open_agent(spec, context=lambda: context) as agent:
        reporter = asyncio.create_task(_report(agent, conn, stop))
        try:
            await agent.run(stop)
        finally:
            reporter.cancel()
            with suppress(asyncio.CancelledError):
                await reporter


async def _report(agent: SyncAgent, conn: Connection, stop: asyncio.Event) -> None:
    """Every ``STATE_EVERY_S`` from the first backlog count on (before it, an empty backlog would be a guess)."""
    await agent.counted.wait()
    while True:
        try:
            conn.send(agent.state())
        except OSError:
            stop.set()
            return
        await asyncio.sleep(STATE_EVERY_S)
