"""The MQTT side of the edge daemon: topic contract, payloads and the broker link."""

from __future__ import annotations

from .link import ConnectionState, LinkCounters, MqttLink
from .messages import AckCommand, InboundRouter, MessageError, TelemetryError, parse_ack, parse_telemetry
from .topics import TopicError, Topics

__all__ = [
    "AckCommand",
    "ConnectionState",
    "InboundRouter",
    "LinkCounters",
    "MessageError",
    "MqttLink",
    "TelemetryError",
    "TopicError",
    "Topics",
    "parse_ack",
    "parse_telemetry",
]
