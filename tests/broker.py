"""Pytest plugin: a real Mosquitto on loopback, and a paho subscriber for assertions.

Tests talk to the same broker the site runs, not a fake: QoS 1 re-delivery,
retained messages and last wills are broker behaviour, and only a broker can
show that they work. Register with ``pytest_plugins = ["tests.broker"]``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_runtime.local_broker import (  # noqa: F401 (re-exported for tests)
    BrokerError,
    LocalBroker,
    free_port,
    mosquitto_binary,
)



def find_mosquitto() -> str | None:
    """The broker binary, or None when it is not installed."""
    try:
        return mosquitto_binary()
    except BrokerError:
        return None


#: One broker process; ``stop()``/``start()`` keep the port, for outage tests.
Mosquitto = LocalBroker


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Subscriber:
    """A plain paho client on its own loop thread, collecting messages for assertions.

    In async tests use the ``*_async`` waits: a blocking wait on the event loop
    would stall the very code whose messages it waits for.
    """

    def __init__(
        self,
        host: str,
        port: int,
        topics: Iterable[str] = ("#",),
        qos: int = 1,
        timeout: float = 5.0,
        client_id: str = "",
    ) -> None:
        self._cond = threading.Condition()
        self._messages: list[Received] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        filters = [(t, qos) for t in topics]
        self._client.on_connect = lambda client, *_: client.subscribe(filters)
        self._client.connect(host, port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            self.close()
            raise TimeoutError(f"subscriber not subscribed to {filters} within {timeout}s")

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self._messages.append(Received(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))
            self._cond.notify_all()

    @property
    def messages(self) -> list[Received]:
        with self._cond:
            return list(self._messages)

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 5.0) -> Received:
        """The first collected message matching ``predicate``, waiting at most ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self._messages:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching message within {timeout}s; got {self._messages!r}")
                self._cond.wait(remaining)

    def wait_count(self, predicate: Callable[[Received], bool], count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until ``count`` matching messages have arrived; returns them in arrival order."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matching = [m for m in self._messages if predicate(m)]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(matching)}/{count} matching messages within {timeout}s")
                self._cond.wait(remaining)

    async def wait_for_async(self, predicate: Callable[[Received], bool], timeout: float = 5.0) -> Received:
        """:meth:`wait_for` off the event loop, so the code under test keeps running."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

    async def wait_count_async(
        self, predicate: Callable[[Received], bool], count: int, timeout: float = 5.0
    ) -> list[Received]:
        return await asyncio.to_thread(self.wait_count, predicate, count, timeout)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish as another site client would (a wearable, an operator's console)."""
        self._client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(timeout=5.0)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def until(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Poll ``check`` (from a thread that may block: not an event loop) until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _broker(workdir: Path) -> Iterator[Mosquitto]:
    binary = find_mosquitto()
    if binary is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto); MQTT tests need a real broker")
    broker = Mosquitto(workdir=workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh broker per test: tests may stop and restart it."""
    yield from _broker(tmp_path)


@pytest.fixture(scope="session")
def mosquitto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One broker for the session, for tests that never stop it (use unique topics)."""
    yield from _broker(tmp_path_factory.mktemp("mosquitto"))
