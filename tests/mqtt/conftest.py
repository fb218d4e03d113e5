"""Fixtures for MQTT tests: links with fast, deterministic reconnects, always stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from edge_runtime.config.devices import MqttSettings
from edge_runtime.mqtt.link import MqttLink
from edge_runtime.mqtt.topics import Topics
from firmware_bridge.backoff import Backoff
from tests.broker import Mosquitto

SITE = "test-site"
RETRY_S = 0.5  # constant retry: a test can act right after a failed attempt with this much margin

LinkFactory = Callable[..., Awaitable[MqttLink]]


@pytest.fixture
def topics() -> Topics:
    return Topics(SITE)


@pytest.fixture
async def make_link(mosquitto: Mosquitto, topics: Topics) -> AsyncIterator[LinkFactory]:
    """Start links against the test broker; ``connected=False`` returns before the CONNACK."""
    links: list[MqttLink] = []

    async def factory(device: str = "edge-1", connected: bool = True, **kwargs: object) -> MqttLink:
        kwargs.setdefault("backoff", Backoff(initial=RETRY_S, maximum=RETRY_S, jitter=0))
        settings = MqttSettings(host=mosquitto.host, port=mosquitto.port, keepalive_s=5)
        link = MqttLink(settings, topics, device, version="test", **kwargs)  # type: ignore[arg-type]
        links.append(link)
        await link.start()
        if connected:
            await asyncio.wait_for(link.connected.wait(), 5)
        return link

    yield factory
    for link in links:
        await link.stop(timeout=5)
