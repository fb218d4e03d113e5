"""MQTT panic press -> worker alert, timed at an independent subscriber.

A probe publishes ``{"panic": true}`` on a probe wearable's telemetry topic
(QoS 0, as wearables do) and waits for that worker's alert of kind panic.
Against the daemon the panic alarm latches, so after each probe the prober
acknowledges it and presses cancel (the supervisor's and the worker's part)
and the next probe uses the next probe wearable: a reset never delays a probe.
Both client sockets run with TCP_NODELAY, like the systems measured.
"""
from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from edge_runtime.mqtt.nodelay import disable_nagle

from .site import CONSOLE

Match = Callable[[str, bytes], bool]


class Prober:
    """One paho client that publishes probes and stamps what comes back (perf_counter)."""

    def __init__(self, port: int, site: str, client_id: str = "bench-prober", extra_topics: tuple[str, ...] = ()) -> None:
        self.site = site
        self.messages: queue.Queue[tuple[str, bytes, float]] = queue.Queue()
        self.client = disable_nagle(mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id))
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload, time.perf_counter()))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(f"siteguard/{site}/workers/+/alert", 1), (f"siteguard/{site}/alarms/+", 1),
                               (f"siteguard/{site}/devices/+/status", 1), *((t, 1) for t in extra_topics)])
        self.client.loop_start()

    def wait(self, match: Match, timeout: float) -> tuple[str, bytes, float] | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                return None
            if match(msg[0], msg[1]):
                return msg
        return None

    def drain(self) -> None:
        while not self.messages.empty():
            self.messages.get_nowait()

    def telemetry(self, wearable: str, **fields: object) -> None:
        self.client.publish(f"siteguard/{self.site}/wearables/{wearable}/telemetry", json.dumps(fields).encode())

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class PanicProbes:
    """Round-robin panic probes over ``pairs`` of (wearable, worker)."""

    prober: Prober
    pairs: list[tuple[str, str]]
    reset: bool = True  # the daemon's panic latches: ack + cancel after each probe
    timeout_s: float = 2.0
    latencies: list[float] = field(default_factory=list)
    missed: int = 0

    def probe(self, i: int) -> float | None:
        wearable, worker = self.pairs[i % len(self.pairs)]
        topic = f"siteguard/{self.prober.site}/workers/{worker}/alert"
        self.prober.drain()
        t0 = time.perf_counter()
        self.prober.telemetry(wearable, panic=True, ts=time.time())
        got = self.prober.wait(lambda t, p: t == topic and json.loads(p).get("kind") == "panic", self.timeout_s)
        if got is None:
            self.missed += 1
            return None
        latency = got[2] - t0
        self.latencies.append(latency)
        if self.reset:
            alarm_id = json.loads(got[1]).get("alarm_id")
            if alarm_id:
                self.prober.client.publish(f"siteguard/{self.prober.site}/alarms/{alarm_id}/ack/{CONSOLE}", b"{}",
                                           qos=1)
            self.prober.telemetry(wearable, cancel=True, ts=time.time())
        return latency
