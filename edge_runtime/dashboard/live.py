"""Live updates for the page: Server-Sent Events on ``GET /api/v1/events``.

The alarm path must not notice how many pages watch it. Bus handlers only
append the event to a pending list and schedule one flush, 10 ms later
(the alarm's MQTT publish, on paho's thread, needs the GIL first, and a burst
of transitions is coalesced). The flush serialises each event once into an
SSE frame (bytes shared by every page) and hands it to each page's bounded
queue, a few pages per step with the loop idle in between, so a sensor frame
arriving meanwhile never waits behind fifty socket writes. Each page's own
request task writes everything waiting in its queue at once. A page too slow
to keep up fills its queue and is disconnected (it reconnects and reloads),
never waited for. Periodic events are built once per period for all pages
(the worker list a few workers per step), and only while someone watches.

Events (``event:`` name, ``data:`` JSON; every broadcast carries an ``id:``
sequence number and the stream starts with ``retry: 2000``):

============ ====================================================================
hello        :class:`~.schemas.HelloEvent` ``{ts, stale_after_s}``, first, once
workers      :class:`~.schemas.WorkerList`, every ``push_interval_s`` (the newest
             one also right after ``hello``)
alarm        :class:`~.schemas.AlarmEvent` ``{cause, alarm}`` on every alarm transition
camera       :class:`~.schemas.CameraEvent` ``{id, online, reason, frame_ts}`` when a
             camera goes offline or comes back, and at most once a second per
             camera while it has newer frames (reload ``frame.jpg``)
zone_action  :class:`~.schemas.ZoneActionOut` after every zone action
ping         :class:`~.schemas.PingEvent` ``{ts}`` every 2 s: silence means stale
============ ====================================================================
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import hdrs, web

from edge_runtime.alarms.model import AlarmTransition
from edge_runtime.vision.detections import CameraStatus, FrameDetections
from firmware_bridge.readings import Observation
from web_common.api import ApiError, ApiRegistry

from .keys import DASHBOARD, SESSION_COOKIE
from .roles import Role
from .schemas import (
    AlarmEvent,
    CameraEvent,
    HelloEvent,
    PingEvent,
    WorkerList,
    WorkerOut,
)
from .site_view import worker_alarms, worker_out
from .trends import WorkerTrends
from .zone_actions import ZoneActionEvent

if TYPE_CHECKING:
    from edge_runtime.config.dashboard import DashboardSettings

    from . import Dashboard
    from .runtime import DashboardRuntime

log = logging.getLogger(__name__)

RETRY_MS = 2000  # the browser's reconnect delay after a dropped stream
PING_S = 2.0
CAMERA_FRAMES_S = 1.0
QUEUE_FRAMES = 256  # per page: room for an alarm flood; a page this far behind is dropped
CLOSE_GRACE_S = 0.5  # on shutdown, streams get this long to end before their sockets are cut
FLUSH_DELAY_S = 0.01  # the alarm's own I/O (MQTT on paho's thread) goes first; a burst becomes one write
FANOUT_SLICE = 8  # pages handed a frame per step
WORKERS_PER_STEP = 10  # workers built per step of a `workers` event
STEP_GAP_S = 0.001  # between steps the loop idles, so the MQTT thread gets the GIL at once


@dataclass(eq=False, slots=True)
class _Client:
    queue: asyncio.Queue[bytes | None]
    transport: asyncio.Transport | None
    signed_in: Callable[[], bool]  # the page's session is still valid (checked at each ping)
    ended: bool = False


class LiveHub:
    """Fans daemon events out to every connected page; see the module docstring."""

    def __init__(self, daemon: "DashboardRuntime", settings: "DashboardSettings") -> None:
        self._daemon = daemon
        self._settings = settings
        self.trends = WorkerTrends(daemon.config)
        self._frame_ts: dict[str, float] = {}  # camera -> capture time of its newest processed frame
        self._announced_ts: dict[str, float] = {}
        self._clients: dict[_Client, None] = {}  # streams whose request is still running, in order
        self._pending: list[object] = []
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: list[asyncio.Task[None]] = []
        self._workers_frame: bytes | None = None  # the newest, for a client that just connected
        self._seq = 0
        self._closed = False
        self._encoders: dict[type, Callable[[Any], tuple[str, str]]] = {
            AlarmTransition: self._alarm, CameraStatus: self._camera_status, ZoneActionEvent: self._zone_action,
        }
        bus = daemon.bus
        bus.subscribe(Observation, self.trends.on_observation)
        for event_type in self._encoders:
            bus.subscribe(event_type, self._on_event)
        if daemon.vision is not None:
            bus.subscribe(FrameDetections, self._on_frame)

    @staticmethod
    def register(api: ApiRegistry) -> None:
        api.route("GET", "/events", role=Role.VIEWER, summary="Live updates (Server-Sent Events)", tag="live",
                  produces="text/event-stream", errors=(503,))(events)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    @property
    def frame_times(self) -> Mapping[str, float]:
        """Camera -> capture time of its newest processed frame (its annotated view is at most 0.2 s older)."""
        return self._frame_ts

    # -- bus handlers: O(1), on the alarm path ------------------------------------------------

    def _on_event(self, event: object) -> None:
        if not self._clients:
            return
        self._pending.append(event)
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_later(FLUSH_DELAY_S, self._flush)

    def _on_frame(self, event: FrameDetections) -> None:
        self._frame_ts[event.camera] = event.ts

    # -- serialising, once per event ---------------------------------------------------------

    def _flush(self) -> None:
        self._flush_handle = None
        pending, self._pending = self._pending, []
        for event in pending:
            try:
                name, data = self._encoders[type(event)](event)
            except Exception:  # one bad event must not stop the others reaching the pages
                log.exception("live event %s could not be serialised", type(event).__name__)
                continue
            self._broadcast(name, data)

    @staticmethod
    def _alarm(t: AlarmTransition) -> tuple[str, str]:
        # the engine gives every change a fresh Alarm, so this is the alarm as this transition left it
        alarm = t.alarm.record()
        return "alarm", AlarmEvent(cause=t.cause.value, alarm=alarm).model_dump_json()

    def _camera_status(self, s: CameraStatus) -> tuple[str, str]:
        event = CameraEvent(id=s.camera, online=s.online, reason=s.reason, frame_ts=self._frame_ts.get(s.camera))
        return "camera", event.model_dump_json()

    @staticmethod
    def _zone_action(e: ZoneActionEvent) -> tuple[str, str]:
        return "zone_action", e.action.model_dump_json()

    def _frame(self, name: str, data: str) -> bytes:
        self._seq += 1
        return f"id: {self._seq}\nevent: {name}\ndata: {data}\n\n".encode()

    def _broadcast(self, name: str, data: str) -> bytes:
        frame = self._frame(name, data)
        self._deliver(frame, list(self._clients), 0)
        return frame

    def _deliver(self, frame: bytes, clients: list[_Client], start: int) -> None:
        """Queue ``frame`` for FANOUT_SLICE clients now and the rest in later loop steps: a sensor frame
        arriving meanwhile waits behind a few page writes, never behind all of them. (Slices run in
        call order, and ``_clients`` keeps its order, so every page gets frames in sequence.)"""
        end = start + FANOUT_SLICE
        for client in clients[start:end]:
            if client.ended:
                continue
            try:
                client.queue.put_nowait(frame)
            except asyncio.QueueFull:
                log.warning("live client too slow (%d events behind): disconnected", QUEUE_FRAMES)
                self._end(client, abort=True)
        if end < len(clients) and self._loop is not None:
            self._loop.call_later(STEP_GAP_S, self._deliver, frame, clients, end)

    # -- periodic events, built once for all clients ------------------------------------------

    def _start_timers(self) -> None:
        if self._timers:
            return
        self._loop = asyncio.get_running_loop()
        timers = [self._every(self._settings.push_interval_s, self._push_workers), self._every(PING_S, self._ping)]
        if self._daemon.vision is not None:
            timers.append(self._every(CAMERA_FRAMES_S, self._camera_frames))
        self._timers = [asyncio.create_task(t, name="live-timer") for t in timers]

    async def _every(self, period: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            if self._clients:
                try:
                    await action()
                except Exception:  # a bug in one kind of event must not end the others
                    log.exception("live %s failed", action.__name__)
            await asyncio.sleep(period)

    async def _push_workers(self) -> None:
        """A few workers at a time (tens of microseconds each), so a sensor frame never waits for all of them."""
        daemon = self._daemon
        alarms = worker_alarms(daemon)
        workers: list[WorkerOut] = []
        configured = daemon.config.workers
        for start in range(0, len(configured), WORKERS_PER_STEP):
            if start:
                await asyncio.sleep(STEP_GAP_S)
            workers += [worker_out(daemon, w, alarms) for w in configured[start:start + WORKERS_PER_STEP]]
        data = WorkerList(ts=daemon.clock(), workers=workers).model_dump_json()
        self._workers_frame = self._broadcast("workers", data)

    async def _ping(self) -> None:
        # a watched page keeps its session alive; a signed-out or expired one loses its stream,
        # and the page's reconnect then meets the sign-in
        for client in [c for c in self._clients if not c.ended and not c.signed_in()]:
            self._end(client, abort=False)
        self._broadcast("ping", PingEvent(ts=self._daemon.clock()).model_dump_json())

    async def _camera_frames(self) -> None:
        assert self._daemon.vision is not None
        status = self._daemon.vision.status()
        for camera, ts in self._frame_ts.items():
            if ts > self._announced_ts.get(camera, 0.0):
                self._announced_ts[camera] = ts
                st = status.get(camera, {})
                event = CameraEvent(id=camera, online=bool(st.get("online")), reason=st.get("reason", ""), frame_ts=ts)
                self._broadcast("camera", event.model_dump_json())

    # -- streams ------------------------------------------------------------------------------

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """One client's stream, written from its own queue until it leaves, lags or the hub closes."""
        if self._closed:
            raise ApiError(503, "the daemon is shutting down")
        if len(self._clients) >= self._settings.max_live_clients:
            raise ApiError(503, "too many live clients", [f"at most {self._settings.max_live_clients} at once"])
        sessions = request.app[DASHBOARD].sessions  # type: ignore[attr-defined]
        token = request.cookies.get(SESSION_COOKIE, "")
        client = _Client(asyncio.Queue(QUEUE_FRAMES), request.transport, lambda: sessions.get(token) is not None)
        hello = HelloEvent(ts=self._daemon.clock(), stale_after_s=self._settings.stale_after_s)
        client.queue.put_nowait(f"retry: {RETRY_MS}\n\nevent: hello\ndata: {hello.model_dump_json()}\n\n".encode())
        if self._workers_frame is not None:
            client.queue.put_nowait(self._workers_frame)
        self._clients[client] = None
        self._start_timers()
        response = web.StreamResponse(headers={
            hdrs.CONTENT_TYPE: "text/event-stream", hdrs.CACHE_CONTROL: "no-store", "X-Accel-Buffering": "no",
        })
        try:
            await response.prepare(request)
            while (frames := await _next_frames(client.queue)) is not None:
                await response.write(frames)
        except ConnectionError:
            pass  # the page went away; nothing to tell it
        finally:
            client.ended = True
            self._clients.pop(client, None)
        return response

    def _end(self, client: _Client, *, abort: bool) -> None:
        """Stop a client's stream: its task ends after the frame it is writing (or at once, with ``abort``)."""
        client.ended = True
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(None)
        if abort and client.transport is not None:
            client.transport.abort()  # a write waiting for a full socket fails now

    async def close(self) -> None:
        """End every stream promptly: the daemon's shutdown must not wait for pages."""
        self._closed = True
        for task in self._timers:
            task.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for client in list(self._clients):
            self._end(client, abort=False)
        deadline = asyncio.get_running_loop().time() + CLOSE_GRACE_S
        while self._clients and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for client in list(self._clients):
            self._end(client, abort=True)


async def _next_frames(queue: asyncio.Queue[bytes | None]) -> bytes | None:
    """Every frame waiting, joined into one write; None once the stream must end."""
    frame = await queue.get()
    frames = []
    while frame is not None:
        frames.append(frame)
        if queue.empty():
            return b"".join(frames)
        frame = queue.get_nowait()
    return None


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: hello, workers, alarm, camera, zone_action and ping (see the live module)."""
    dashboard: "Dashboard" = request.app[DASHBOARD]  # type: ignore[assignment]
    return await dashboard.live.stream(request)
