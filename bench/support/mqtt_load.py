"""Background wearable telemetry over MQTT: N wearables, a total rate, evenly spread, its own process.

Payloads are built before the clock starts (heart rate as 0x2A37 hex, one
accelerometer sample, battery), so the generator keeps up at 9,000 messages/s
on one core, and it reports the rate it actually achieved.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import time

import paho.mqtt.client as mqtt

from firmware_bridge.codecs.hrm import encode_hrm
from firmware_bridge.readings import Contact, HeartRate

BURST = 20  # messages published between clock checks


def _payloads(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        hr = encode_hrm(HeartRate(70 + i % 50, Contact.DETECTED)).hex()
        wobble = 0.2 * (i % 5)
        # both heart-rate forms of the contract: the daemon reads hr_raw, a plain flow reads hr
        out.append(json.dumps({"hr_raw": hr, "hr": 70 + i % 50, "accel": [wobble, 0.1, 1.0 + wobble], "battery": 80.0,
                               "ts": 0.0}).encode())
    return out


def _run(port: int, topics: list[str], rate: float, stop: "mp.synchronize.Event",
         counters: "mp.sharedctypes.SynchronizedArray") -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-telemetry-{os.getpid()}")
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    payloads = _payloads(64)
    n, started = 0, time.perf_counter()
    while not stop.is_set():
        for _ in range(BURST):
            client.publish(topics[n % len(topics)], payloads[n % len(payloads)])
            n += 1
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:  # cannot keep up: do not build a backlog, report the real rate
            started = time.perf_counter() - n / rate
        if n % 1000 < BURST:
            with counters.get_lock():
                counters[0], counters[1] = n, time.perf_counter() - started
    client.loop_stop()
    client.disconnect()


class TelemetryLoad:
    """``start()`` / ``stop() -> messages/s achieved`` around a measurement."""

    def __init__(self, port: int, site: str, wearables: list[str], rate: float) -> None:
        topics = [f"siteguard/{site}/wearables/{w}/telemetry" for w in wearables]
        ctx = mp.get_context("fork")
        self._stop = ctx.Event()
        self._counters = ctx.Array("d", 2)
        self._proc = ctx.Process(target=_run, args=(port, topics, rate, self._stop, self._counters), daemon=True)

    def start(self) -> None:
        self._proc.start()

    def stop(self) -> float:
        self._stop.set()
        if self._proc.pid is None:
            return 0.0
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        sent, active_s = self._counters[:]
        return sent / active_s if active_s else 0.0
