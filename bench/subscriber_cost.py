"""CPU per telemetry message of the ingest's MQTT reader: paho against the lean BulkSubscriber, same run.

One Mosquitto, one background publisher (200 wearables at ``--rate``
messages/s, its own process), and each reader in turn subscribing for
``--messages`` messages: the figure is this process's CPU time (user +
system, every thread) per message received, and the same again with the
ingest's batch handling (unknown-wearable filter, press search, parsing,
coalescing) on top. Prints one JSON object on its last line.

    python bench/subscriber_cost.py [--rate 20000] [--messages 60000]
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402

from bench.support.cleanup import bench_session  # noqa: E402
from bench.support.mqtt_load import TelemetryLoad  # noqa: E402
from edge_runtime.config.devices import MqttSettings  # noqa: E402
from edge_runtime.config.people import ManDownSettings  # noqa: E402
from edge_runtime.local_broker import LocalBroker  # noqa: E402
from edge_runtime.mqtt.topics import Topics  # noqa: E402
from edge_runtime.telemetry.ingest_process import IngestSettings, TelemetryIngest  # noqa: E402
from edge_runtime.telemetry.subscriber import BulkSubscriber  # noqa: E402

SITE = "bench"
WEARABLES = [f"wb{i:03d}" for i in range(200)]
TIMEOUT_S = 60.0


class _Count:
    """Counts messages (handing them on when given a handler) and says when enough arrived."""

    def __init__(self, want: int) -> None:
        self.want, self.n, self.done = want, 0, threading.Event()

    def add(self, k: int) -> None:
        self.n += k
        if self.n >= self.want:
            self.done.set()


def _measure(port: int, rate: float, count: _Count, start_reader: Any, stop_reader: Any) -> dict[str, float]:
    start_reader()
    time.sleep(1.0)  # subscribed
    load = TelemetryLoad(port, SITE, WEARABLES, rate)
    cpu0 = time.process_time()
    load.start()
    finished = count.done.wait(TIMEOUT_S)
    cpu = time.process_time() - cpu0
    sent = load.stop()
    stop_reader()
    return {"us_per_message": round(cpu / max(count.n, 1) * 1e6, 2), "messages": count.n,
            "sent_per_s": round(sent), "finished": finished}


def paho_reader(port: int, rate: float, want: int) -> dict[str, float]:
    count = _Count(want)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-paho-reader")
    client.on_message = lambda _c, _u, m: (m.topic, m.payload, count.add(1))
    client.on_connect = lambda c, *_: c.subscribe(Topics(SITE).TELEMETRY_FILTER, 0)

    def start() -> None:
        client.connect("127.0.0.1", port)
        client.loop_start()

    def stop() -> None:
        client.disconnect()
        client.loop_stop()
    return _measure(port, rate, count, start, stop)


def lean_reader(port: int, rate: float, want: int, with_ingest: bool) -> dict[str, float]:
    count = _Count(want)
    settings = MqttSettings(port=port)
    handle: Any = lambda messages: count.add(len(messages))  # noqa: E731
    if with_ingest:
        _events_r, events_w = Pipe(duplex=False)  # the load holds no presses: nothing is sent on it
        routine, _alarm_end = Pipe()
        ingest = TelemetryIngest(IngestSettings(settings, SITE, "bench-ingest", ManDownSettings(),
                                                frozenset(WEARABLES)), events_w, routine)

        def handle(messages: list[tuple[bytes, bytes]]) -> None:
            ingest.on_batch(messages)
            count.add(len(messages))
    sub = BulkSubscriber(settings, "bench-lean-reader", Topics(SITE).TELEMETRY_FILTER, max_packet=70_000)
    stopping = threading.Event()
    thread = threading.Thread(target=sub.run, args=(handle, stopping), daemon=True)

    def stop() -> None:
        stopping.set()
        thread.join(5)
    return _measure(port, rate, count, thread.start, stop)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=20_000.0)
    p.add_argument("--messages", type=int, default=60_000)
    args = p.parse_args()
    with bench_session() as stack:
        broker = LocalBroker().start()
        stack.callback(broker.stop)
        results = {
            "paho": paho_reader(broker.port, args.rate, args.messages),
            "lean": lean_reader(broker.port, args.rate, args.messages, with_ingest=False),
            "lean_with_ingest": lean_reader(broker.port, args.rate, args.messages, with_ingest=True),
        }
    results["lean_vs_paho"] = round(results["lean"]["us_per_message"] / results["paho"]["us_per_message"], 3)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
