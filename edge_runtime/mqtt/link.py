"""The daemon's one MQTT connection: paho behind a handful of methods.

Why not let paho reconnect by itself: one long-lived paho 2.2 client does keep
QoS 1 messages published while the broker is down (unbounded by default) and
re-sends them in order, but on reconnect it sends anything published from
``on_connect`` or between the new CONNECT and its CONNACK *before* that
backlog (measured), so a re-asserted siren state could be overwritten by a
stale queued one. So each
connection gets a fresh paho client, and this link owns delivery: QoS 1
messages stay in an ordered, bounded store until their PUBACK and are replayed
in order on the next connection, followed by the latest retained states.

Threads: paho's network thread only forwards events to the event loop with
``call_soon_threadsafe``; every piece of link state is touched on the loop
thread alone, so there are no locks and ``publish()`` never waits on I/O.

Protocol: MQTT 3.1.1 with a persistent session (``clean_session=False``):
every site device speaks 3.1.1, and the session makes the broker keep
operator acks sent while the daemon restarts. Nothing here needs MQTT 5.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_runtime.config.devices import MqttSettings
from edge_runtime.logs import LogThrottle
from edge_runtime.queue_stats import QueueStats
from firmware_bridge.backoff import Backoff

from .messages import status_payload
from .nodelay import disable_nagle
from .topics import Topics, check_id

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]
INBOX_BATCH = 32  # inbound messages handled per loop iteration
# Inbound is acks only (telemetry goes to the ingest process): people's clicks, so this bound is
# only reached by a stalled loop or a flooding client, and then it caps memory
MAX_INBOX = 10_000
MAX_CLEARED = 4096  # retained topics this link cleared and still guards against a forged re-publish


class ConnectionState(enum.Enum):
    DISCONNECTED = "disconnected"  # not started
    CONNECTING = "connecting"  # TCP connect / waiting for CONNACK
    CONNECTED = "connected"  # CONNACK accepted; publishes go straight out
    BACKOFF = "backoff"  # waiting before the next attempt
    STOPPED = "stopped"


@dataclass(slots=True)
class LinkCounters:
    published: int = 0  # QoS 1 acknowledged by the broker, QoS 0 handed to the socket
    queued: int = 0  # QoS 1 messages that had to wait for a connection
    dropped: int = 0  # QoS 0 while offline, oldest QoS 1 beyond max_pending
    connects: int = 0  # accepted CONNACKs
    connect_failures: int = 0
    received: int = 0
    inbox_high_water: int = 0
    inbox_overflow: int = 0  # inbound messages refused because the loop had not taken MAX_INBOX yet
    handler_errors: int = 0  # on_message raised (logged, never stops the link)
    reasserted: int = 0  # retained messages on owned topics that were not ours, overwritten with the truth


@dataclass(frozen=True, slots=True)
class _Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    replay: bool = True  # False: a retained state, re-asserted from the latest value instead


def _check_topic(topic: str) -> None:
    if not topic or "+" in topic or "#" in topic or "\0" in topic:
        raise ValueError(f"invalid publish topic {topic!r}")


class MqttLink:
    """A reconnecting MQTT session for one device of one site."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        device: str,
        on_message: MessageHandler | None = None,
        *,
        version: str = "unknown",
        backoff: Backoff | None = None,
        max_pending: int = 10_000,
        connect_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._device = check_id(device, "device")
        self._client_id = settings.client_id or f"siteguard-{topics.site}-{self._device}"
        self._on_message = on_message
        self._version = version
        self._backoff = backoff or Backoff(initial=0.5, maximum=30.0)
        self._max_pending = max_pending
        self._connect_timeout_s = connect_timeout_s
        self._clock = clock
        self.status_topic = topics.device_status(self._device)

        self.counters = LinkCounters()
        #: Set while a CONNACK-accepted session is up: the /readyz signal.
        self.connected = asyncio.Event()
        self._state = ConnectionState.DISCONNECTED
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: mqtt.Client | None = None
        self._net_running = False  # paho's network thread owns self._client
        self._lost = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = False
        self._pending: deque[_Outgoing] = deque()
        self._unacked: dict[int, _Outgoing] = {}
        self._ack_waiters: dict[int, asyncio.Future[None]] = {}
        self._retained: dict[str, bytes] = {}
        self._cleared: OrderedDict[str, None] = OrderedDict()  # owned topics whose retained message we deleted
        self._owned: list[str] = []  # topic filters whose retained state this link alone asserts
        self._forged_log = LogThrottle()
        self._subscriptions: dict[str, int] = {}
        # inbound messages cross from paho's thread in batches: one loop wake-up per burst
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._inbox_scheduled = False

    # --- public API ---------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def pending(self) -> int:
        """QoS 1 messages not yet acknowledged by the broker (waiting or in flight)."""
        return len(self._pending) + len(self._unacked)

    async def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Begin connecting in the background; never waits for the broker."""
        if self._task is not None:
            raise RuntimeError("MqttLink already started")
        self._loop = loop or asyncio.get_running_loop()
        self._retained[self.status_topic] = status_payload(True, self._version, self._clock())
        self._task = self._loop.create_task(self._run(), name=f"mqtt-link-{self._client_id}")

    async def stop(self, timeout: float = 5.0) -> None:
        """Publish the offline status (if connected), disconnect and end the session.

        The status is sent explicitly because a clean DISCONNECT suppresses the will.
        """
        if self._task is None or self._stopping:
            return
        self._stopping = True
        client = self._client
        if client is not None and self._state is ConnectionState.CONNECTED:
            info = client.publish(self.status_topic, status_payload(False), qos=1, retain=True)
            waiter = self._loop_ref.create_future()
            self._ack_waiters[info.mid] = waiter
            try:
                await asyncio.wait_for(waiter, timeout / 2)
            except (asyncio.TimeoutError, ConnectionError):
                log.warning("offline status not acknowledged; the last will covers it")
        if self._client is not None and self._net_running:
            self._client.disconnect()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            log.warning("MQTT link did not stop within %.1fs; abandoning its connection", timeout)
            self._task.cancel()
        self._set_state(ConnectionState.STOPPED)

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """Send now if connected; otherwise keep QoS 1 for the next connection, drop QoS 0.

        Never blocks: the socket write happens on paho's thread.
        """
        _check_topic(topic)
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1 (QoS 2 is not used on site)")
        self._dispatch(_Outgoing(topic, payload, qos, retain))

    def set_retained_state(self, topic: str, payload: bytes) -> None:
        """Publish ``payload`` retained (QoS 1) and re-assert it after every reconnect.

        Only the latest value per topic is kept: a siren that went on and off
        during an outage gets "off" once, not a replay of the flapping. An
        empty payload clears the retained message and forgets the topic.
        """
        _check_topic(topic)
        if not payload:
            self._retained.pop(topic, None)
            self._cleared[topic] = None
            if len(self._cleared) > MAX_CLEARED:
                self._cleared.popitem(last=False)
            self._dispatch(_Outgoing(topic, b"", 1, True))
            return
        self._cleared.pop(topic, None)
        self._retained[topic] = payload
        if self._state is ConnectionState.CONNECTED:
            self._send(_Outgoing(topic, payload, 1, True, replay=False))

    def own_retained(self, topic_filter: str) -> None:
        """Only this link may set the retained messages under ``topic_filter`` (sirens, alarm records).

        It subscribes to them, and a message there that differs from what it
        asserts (anyone may publish where the broker's ACL does not forbid it)
        is overwritten with the true state at once, counted and logged.
        """
        self._owned.append(topic_filter)
        self.subscribe(topic_filter, qos=1)

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now if connected, and again on every reconnect."""
        if not topic_filter or "\0" in topic_filter:
            raise ValueError(f"invalid topic filter {topic_filter!r}")
        self._subscriptions[topic_filter] = qos
        if self._client is not None and self._state is ConnectionState.CONNECTED:
            self._client.subscribe(topic_filter, qos)

    # --- sending ------------------------------------------------------------------

    @property
    def _loop_ref(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("MqttLink not started")
        return self._loop

    def _dispatch(self, message: _Outgoing) -> None:
        if self._state is ConnectionState.CONNECTED:
            self._send(message)
        elif message.qos == 0:
            self.counters.dropped += 1
        else:
            self._enqueue(message)

    def _enqueue(self, message: _Outgoing) -> None:
        if self.pending >= self._max_pending and self._pending:
            lost = self._pending.popleft()
            self.counters.dropped += 1
            log.warning("MQTT backlog full (%d): dropped oldest message on %s", self._max_pending, lost.topic)
        self._pending.append(message)
        self.counters.queued += 1

    def _send(self, message: _Outgoing) -> None:
        """Hand ``message`` to the current client; only called while CONNECTED."""
        client = self._client
        if client is None:  # cannot happen while CONNECTED; never lose a QoS 1 message over it
            if message.qos:
                self._enqueue(message)
            return
        info = client.publish(message.topic, message.payload, message.qos, message.retain)
        if message.qos == 0:
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self.counters.published += 1
            else:
                self.counters.dropped += 1
            return
        # NO_CONN still leaves the message tracked here: the loss is reported on the
        # loop right after, and the message is replayed on the next connection.
        self._unacked[info.mid] = message

    def _replay(self) -> None:
        while self._pending:
            self._send(self._pending.popleft())
        for topic, payload in list(self._retained.items()):
            self._send(_Outgoing(topic, payload, 1, True, replay=False))

    # --- connection supervisor (event loop) ---------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            self._set_state(ConnectionState.CONNECTING)
            try:
                await self._session()
            except (OSError, ValueError) as exc:
                self.counters.connect_failures += 1
                log.warning("MQTT connect to %s:%s failed: %s", self._settings.host, self._settings.port, exc)
            except Exception:  # a bug here must not end reconnection for good
                log.exception("MQTT session failed")
            await self._pause()
        self._set_state(ConnectionState.STOPPED)

    async def _session(self) -> None:
        """One connection, from TCP connect until it is lost or stopped."""
        client = self._new_client()
        self._lost.clear()
        self._client = client  # before connect: a failure while sending CONNECT is reported
        try:
            await asyncio.to_thread(
                client.connect, self._settings.host, self._settings.port, self._settings.keepalive_s
            )
            if self._stopping:
                client.disconnect()  # no network thread yet: paho writes DISCONNECT and closes here
                return
            client.loop_start()
            self._net_running = True
            while not self._lost.is_set():
                try:
                    await asyncio.wait_for(self._lost.wait(), self._settings.keepalive_s)
                except asyncio.TimeoutError:
                    if client.socket() is None:  # closed without a callback: treat as lost
                        self._on_lost(client, "socket closed")
        finally:
            if not self._lost.is_set():  # any other exit still hands unacked messages back
                self._on_lost(client, "session ended")
            if self._net_running:
                self._net_running = False
                await asyncio.to_thread(client.loop_stop)
            self._client = None

    async def _pause(self) -> None:
        if self._stopping:
            return
        delay = self._backoff.next_delay()
        self._set_state(ConnectionState.BACKOFF)
        log.info("MQTT reconnect in %.2fs (attempt %d)", delay, self._backoff.attempts)
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):  # the normal end of a pause
            await asyncio.wait_for(self._wake.wait(), delay)

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        client.connect_timeout = self._connect_timeout_s
        if self._settings.username is not None:
            client.username_pw_set(self._settings.username, self._settings.password)
        client.will_set(self.status_topic, status_payload(False), qos=1, retain=True)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_publish = self._paho_publish
        client.on_message = self._paho_message
        return disable_nagle(client)

    def _set_state(self, state: ConnectionState) -> None:
        if state is not self._state:
            log.debug("MQTT link %s -> %s", self._state.value, state.value)
            self._state = state
        if state is ConnectionState.CONNECTED:
            self.connected.set()
        else:
            self.connected.clear()

    # --- paho thread: forward to the loop, touch nothing ----------------------------

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown: nothing left to tell
            self._loop_ref.call_soon_threadsafe(callback, *args)

    def _paho_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        self._to_loop(self._on_connack, client, bool(reason.is_failure), str(reason))

    def _paho_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        self._to_loop(self._on_lost, client, str(reason))

    def _paho_publish(self, client: mqtt.Client, _u: Any, mid: int, _r: Any = None, _p: Any = None) -> None:
        self._to_loop(self._on_acked, client, mid)

    def _paho_message(self, _client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        inbox = self._inbox
        if len(inbox) >= MAX_INBOX:
            self.counters.inbox_overflow += 1
            return
        # append before reading the flag: a drain that already cleared it will see this message
        inbox.append((message.topic, bytes(message.payload)))
        if len(inbox) > self.counters.inbox_high_water:
            self.counters.inbox_high_water = len(inbox)
        if not self._inbox_scheduled:
            self._inbox_scheduled = True
            self._to_loop(self._drain_inbox)

    # --- loop thread: react to paho events ----------------------------------------

    def _on_connack(self, client: mqtt.Client, failed: bool, reason: str) -> None:
        if client is not self._client:
            return
        if failed:
            self.counters.connect_failures += 1
            log.warning("MQTT broker refused the connection: %s", reason)
            return  # paho closes the socket and reports the loss next
        if self._stopping:
            client.disconnect()
            return
        self._backoff.reset()  # only a CONNACK proves the broker is really back
        self.counters.connects += 1
        self._set_state(ConnectionState.CONNECTED)
        log.info("MQTT connected to %s:%s as %s", self._settings.host, self._settings.port, self._client_id)
        if self._subscriptions:
            client.subscribe(list(self._subscriptions.items()))
        self._replay()

    def _on_lost(self, client: mqtt.Client, reason: str) -> None:
        if client is not self._client:
            return
        was_connected = self._state is ConnectionState.CONNECTED
        replay = [m for m in self._unacked.values() if m.replay]
        self._pending.extendleft(reversed(replay))
        self._unacked.clear()
        for waiter in self._ack_waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(reason))
        self._ack_waiters.clear()
        self._set_state(ConnectionState.DISCONNECTED if self._stopping else ConnectionState.BACKOFF)
        if was_connected and not self._stopping:
            log.warning("MQTT connection lost (%s); %d messages kept for replay", reason, self.pending)
        self._lost.set()

    def _on_acked(self, client: mqtt.Client, mid: int) -> None:
        if client is not self._client:
            return
        if self._unacked.pop(mid, None) is not None:
            self.counters.published += 1
        waiter = self._ack_waiters.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drain_inbox(self) -> None:
        """Deliver up to a batch of what has arrived, then let the loop poll the serial
        ports before the next batch: a burst of telemetry must not delay a gas frame."""
        for _ in range(min(len(self._inbox), INBOX_BATCH)):
            self._deliver(*self._inbox.popleft())
        if self._inbox:
            self._loop_ref.call_soon(self._drain_inbox)
        else:
            self._inbox_scheduled = False
            if self._inbox:  # arrived after the check above, before the flag was cleared
                self._inbox_scheduled = True
                self._loop_ref.call_soon(self._drain_inbox)

    def _deliver(self, topic: str, payload: bytes) -> None:
        self.counters.received += 1
        if self._owned and any(mqtt.topic_matches_sub(f, topic) for f in self._owned):
            self._guard_retained(topic, payload)
            return
        if self._on_message is None:
            return
        try:
            self._on_message(topic, payload)
        except Exception:  # a consumer bug must not kill the link or the loop
            self.counters.handler_errors += 1
            log.exception("MQTT message handler failed on %s", topic)

    def _guard_retained(self, topic: str, payload: bytes) -> None:
        """A message on an owned topic: our own echo, or someone else's, which the truth replaces."""
        ours = self._retained.get(topic)
        if ours is not None:
            if payload == ours:
                return
            truth = _Outgoing(topic, ours, 1, True, replay=False)
        elif payload and topic in self._cleared:
            truth = _Outgoing(topic, b"", 1, True)
        else:
            return  # not a state this link asserts (another node's zone, an alarm it never had)
        self.counters.reasserted += 1
        if self._forged_log.ready():
            log.warning("retained message on %s was not ours: re-asserted the true state (%d so far)", topic,
                        self.counters.reasserted)
        self._dispatch(truth)

    def queues(self) -> list[QueueStats]:
        """The inbound queue (acks) and the QoS 1 backlog kept for the next connection."""
        c = self.counters
        return [
            QueueStats("mqtt.inbox", len(self._inbox), MAX_INBOX, c.inbox_high_water, c.received + len(self._inbox),
                       c.inbox_overflow, kind="events"),
            QueueStats("mqtt.outbound", self.pending, self._max_pending, 0, c.published + c.queued, c.dropped,
                       kind="events"),
        ]

    def __repr__(self) -> str:
        return f"MqttLink({self._client_id!r}, {self._state.value}, pending={self.pending})"
