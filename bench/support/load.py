"""Background sensor load for the benchmarks: real frames on ptys, real MQTT telemetry.

Runs in its own process so generating load does not steal the measuring
process's GIL. Writes are spread over each period in slots (sensors are not
synchronised), and bytes a saturated pty cannot take are counted, not blocked on.
"""
from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import time
from datetime import datetime, timezone

import paho.mqtt.client as mqtt

from bench.support.site import ORIGIN, gateway_address
from firmware_bridge.codecs.gateway import encode_gateway
from firmware_bridge.codecs.hrm import encode_hrm
from firmware_bridge.codecs.nmea import encode_gga
from firmware_bridge.codecs.winsen import encode_winsen
from firmware_bridge.readings import Contact, Gas, HeartRate

SLOTS = 10
M_PER_DEG_LAT = 111_320.0


def _position(i: int, step: int) -> tuple[float, float]:
    x = -400 + (i * 37) % 800 + math.sin(step / 10 + i) * 2
    y = -400 + (i * 53) % 800 + math.cos(step / 10 + i) * 2
    lat = ORIGIN[0] + y / M_PER_DEG_LAT
    lon = ORIGIN[1] + x / (M_PER_DEG_LAT * math.cos(math.radians(ORIGIN[0])))
    return lat, lon


def port_frames(indices: list[int], step: int) -> bytes:
    now = datetime.now(timezone.utc)
    out = bytearray()
    for i in indices:
        lat, lon = _position(i, step)
        out += encode_gateway(gateway_address(i, "gps"), "nmea", encode_gga(lat, lon, time_utc=now))
        out += encode_gateway(gateway_address(i, "gas"), "winsen", encode_winsen(Gas.H2S, (i + step) % 3, full_range=100))
    return bytes(out)


def _telemetry(i: int, step: int) -> bytes:
    hr = HeartRate(bpm=80 + (i + step) % 20, contact=Contact.DETECTED)
    wobble = 0.3 * math.sin(step + i)
    return json.dumps({"hr_raw": encode_hrm(hr).hex(), "accel": [wobble, 0.1, 1.0 + wobble], "ts": time.time()}).encode()


def run_load(fds: list[int], ports_workers: list[list[int]], mqtt_port: int, site: str, rate_hz: float,
             stop: "mp.synchronize.Event", counters: "mp.sharedctypes.SynchronizedArray") -> None:
    """Child-process body: every 1/rate_hz seconds each worker sends GPS + gas + HR once."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-load-{os.getpid()}")
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    for fd in fds:
        os.set_blocking(fd, False)
    period = 1.0 / rate_hz
    step = 0
    started = next_t = time.perf_counter()
    dropped = 0
    sent = 0
    while not stop.is_set():
        for slot in range(SLOTS):
            for fd, workers in zip(fds, ports_workers):
                chunk = workers[slot::SLOTS]
                if not chunk:
                    continue
                data = port_frames(chunk, step)
                try:
                    n = os.write(fd, data)
                except BlockingIOError:
                    n = 0
                dropped += len(data) - n
                for i in chunk:
                    client.publish(f"siteguard/{site}/wearables/wb{i:03d}/telemetry", _telemetry(i, step))
                sent += 3 * len(chunk)
            next_t += period / SLOTS
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:  # the generator itself cannot keep up: do not build a backlog
                next_t = time.perf_counter()
        step += 1
        with counters.get_lock():
            counters[0], counters[1] = sent, time.perf_counter() - started
    client.loop_stop()
    client.disconnect()
    print(json.dumps({"load_bytes_dropped": dropped}), flush=True)


class LoadGenerator:
    """Starts/stops the load process (fork keeps the pty master fds open in the child)."""

    def __init__(self, fds: list[int], workers: int, mqtt_port: int, site: str, rate_hz: float) -> None:
        per = -(-workers // len(fds))
        ports_workers = [list(range(p * per, min(workers, (p + 1) * per))) for p in range(len(fds))]
        ctx = mp.get_context("fork")
        self._stop = ctx.Event()
        self._counters = ctx.Array("d", 2)  # readings sent, seconds the generator ran
        self._proc = ctx.Process(
            target=run_load, args=(fds, ports_workers, mqtt_port, site, rate_hz, self._stop, self._counters),
            daemon=True,
        )

    def start(self) -> None:
        self._proc.start()

    def stop(self) -> float:
        """Stop the generator (again, or never started: a no-op); returns the readings/s it actually sent."""
        self._stop.set()
        if self._proc.pid is None:
            return 0.0
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
        sent, active_s = self._counters[:]
        return sent / active_s if active_s else 0.0
