"""A lean MQTT 3.1.1 client for the one bulk subscription: wearable telemetry, QoS 0.

Why not paho here (paho stays for everything else): at 20,000 messages/s
paho's reader costs 15 µs of CPU per message in the ingest process, this one
2 µs (``bench/subscriber_cost.py``), and the ingest needs each socket read as
one batch, so that a panic press read together with a hundred heart-rate
messages is handled before them, not after (``ingest_process``). It speaks
only what a QoS 0 subscriber needs: CONNECT (client id, clean session,
keep-alive, user name and password), SUBSCRIBE, PUBLISH in, PINGREQ, and a
reconnect with the shared backoff. A packet larger than ``max_packet`` is
skipped unread and counted.
"""
from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_runtime.config.devices import MqttSettings
from edge_runtime.logs import LogThrottle
from firmware_bridge.backoff import Backoff

log = logging.getLogger(__name__)

RECV_BYTES = 256 * 1024
POLL_S = 0.25  # how often the reader checks whether it should stop
PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, PINGRESP, CONNACK, SUBACK = 3, 4, 5, 6, 7, 13, 2, 9
_CONNACK_CODES = {
    1: "unacceptable protocol version", 2: "client identifier rejected", 3: "server unavailable",
    4: "bad user name or password", 5: "not authorised",
}

#: (topic, payload) of each PUBLISH, as bytes
Message = tuple[bytes, bytes]


class ProtocolError(ConnectionError):
    """The broker refused us or broke the protocol: reconnect after the backoff."""


@dataclass(slots=True)
class SubscriberCounters:
    connects: int = 0
    messages: int = 0
    oversized: int = 0  # packets over max_packet, skipped unread


def _length(n: int) -> bytes:
    """MQTT's variable-length 'remaining length'."""
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, keepalive_s: int, username: str | None, password: str | None) -> bytes:
    flags = 0x02  # clean session: a restarted ingest wants what is live, not a backlog
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s) + payload
    return b"\x10" + _length(len(body)) + body


def subscribe_packet(packet_id: int, topic_filter: str) -> bytes:
    body = struct.pack("!H", packet_id) + _string(topic_filter) + b"\x00"
    return b"\x82" + _length(len(body)) + body


PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


class PacketReader:
    """Splits a byte stream into MQTT packets; PUBLISH bodies become (topic, payload)."""

    def __init__(self, max_packet: int, counters: SubscriberCounters) -> None:
        self._max = max_packet
        self._counters = counters
        self._rest = b""
        self._skip = 0  # bytes still to drop of an oversized packet

    def feed(self, data: bytes, messages: list[Message], control: list[tuple[int, int, bytes]]) -> None:
        """Parse every complete packet of ``data`` (after what was left over)."""
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        if self._rest:
            data = self._rest + data
        end = len(data)
        i = 0
        while end - i >= 2:
            first = data[i]
            j, length, shift = i + 1, 0, 0
            while True:  # remaining length: 1 to 4 bytes
                if j >= end:
                    length = -1
                    break
                byte = data[j]
                length |= (byte & 0x7F) << shift
                j += 1
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise ProtocolError("malformed remaining length")
            if length < 0:
                break
            if length > self._max:
                self._counters.oversized += 1
                self._skip = max(0, j + length - end)
                i = min(end, j + length)
                continue
            if j + length > end:
                break
            kind = first >> 4
            if kind == PUBLISH:
                topic_end = j + 2 + ((data[j] << 8) | data[j + 1])
                qos = (first >> 1) & 3
                if qos:  # never with our QoS 0 subscription, but a broker may: acknowledge it
                    control.append((kind, qos, data[topic_end:topic_end + 2]))
                    messages.append((data[j + 2:topic_end], data[topic_end + 2:j + length]))
                else:
                    messages.append((data[j + 2:topic_end], data[topic_end:j + length]))
            else:
                control.append((kind, first & 0x0F, data[j:j + length]))
            i = j + length
        self._rest = data[i:] if i < end else b""


class BulkSubscriber:
    """Connects, subscribes to ``topic_filter`` and hands each socket read's messages to ``on_batch``."""

    def __init__(self, settings: MqttSettings, client_id: str, topic_filter: str, *, max_packet: int,
                 backoff: Backoff | None = None) -> None:
        self._settings = settings
        self._client_id = client_id
        self._filter = topic_filter
        self._max_packet = max_packet
        self._backoff = backoff or Backoff(initial=0.2, maximum=5.0)  # the site broker is local: retry it often
        self.counters = SubscriberCounters()
        self._error_log = LogThrottle()

    def run(self, on_batch: Callable[[list[Message]], None], stopping: threading.Event) -> None:
        """Until ``stopping`` is set: connect, read, and reconnect after a failure."""
        while not stopping.is_set():
            try:
                with socket.create_connection((self._settings.host, self._settings.port), timeout=5.0) as sock:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._session(sock, on_batch, stopping)
            except (OSError, ProtocolError) as exc:
                if self._error_log.ready():
                    log.warning("telemetry subscription to %s:%d lost: %s", self._settings.host,
                                self._settings.port, exc)
            if not stopping.is_set():
                stopping.wait(self._backoff.next_delay())

    def _session(self, sock: socket.socket, on_batch: Callable[[list[Message]], None],
                 stopping: threading.Event) -> None:
        s = self._settings
        keepalive = s.keepalive_s
        sock.sendall(connect_packet(self._client_id, keepalive, s.username, s.password))
        reader = PacketReader(self._max_packet, self.counters)
        last_sent = last_heard = time.monotonic()
        messages: list[Message] = []
        control: list[tuple[int, int, bytes]] = []
        try:
            while not stopping.is_set():
                now = time.monotonic()
                if now - last_heard > 1.5 * keepalive:
                    raise ProtocolError(f"nothing from the broker for {now - last_heard:.0f} s")
                if now - last_sent >= keepalive / 2:
                    sock.sendall(PINGREQ)
                    last_sent = now
                readable, _, _ = select.select([sock], [], [], POLL_S)
                if not readable:
                    continue
                data = sock.recv(RECV_BYTES)
                if not data:
                    raise ProtocolError("the broker closed the connection")
                last_heard = time.monotonic()
                reader.feed(data, messages, control)
                for kind, flags, body in control:
                    self._control(sock, kind, flags, body)
                control.clear()
                if messages:
                    self.counters.messages += len(messages)
                    on_batch(messages)
                    messages = []
        finally:
            try:
                sock.sendall(DISCONNECT)
            except OSError:
                pass

    def _control(self, sock: socket.socket, kind: int, flags: int, body: bytes) -> None:
        """Answer one packet that is not a QoS 0 message."""
        if kind == CONNACK:
            code = body[1] if len(body) >= 2 else 255
            if code:
                raise ProtocolError(f"broker refused the connection: {_CONNACK_CODES.get(code, f'code {code}')}")
            sock.sendall(subscribe_packet(1, self._filter))
        elif kind == SUBACK:
            if body[2:3] == b"\x80":
                raise ProtocolError(f"broker refused the subscription to {self._filter} (its ACL?)")
            self.counters.connects += 1
            self._backoff.reset()  # proven: the broker answers and delivers
        elif kind == PUBLISH:  # QoS 1 or 2 delivery: flags holds the QoS, body the packet id
            sock.sendall((b"\x40\x02" if flags == 1 else b"\x50\x02") + body)
        elif kind == PUBREL:
            sock.sendall(b"\x70\x02" + body[:2])
