"""One socket read's messages in the ingest process: unknown wearables out, presses first, nothing else lost."""
from __future__ import annotations

import json
from multiprocessing import Pipe

from edge_runtime.config.devices import MqttSettings
from edge_runtime.config.people import ManDownSettings
from edge_runtime.mqtt.topics import Topics
from edge_runtime.telemetry import wire
from edge_runtime.telemetry.ingest_process import IngestSettings, TelemetryIngest

SITE = "batch-test"
TOPICS = Topics(SITE)


class _Store:
    def __init__(self) -> None:
        self.stored: list[tuple[str, bytes]] = []

    def __call__(self, wearable: str, ts: float, payload: bytes) -> None:
        self.stored.append((wearable, payload))

    def stats(self) -> dict[str, int]:
        return {}


def _ingest(store: _Store | None = None) -> tuple[TelemetryIngest, object]:
    events_r, events_w = Pipe(duplex=False)
    routine, _ = Pipe()
    settings = IngestSettings(MqttSettings(), SITE, "t", ManDownSettings(), frozenset({"wb1", "wb2"}))
    return TelemetryIngest(settings, events_w, routine, store), events_r


def _msg(wearable: str, **fields: object) -> tuple[bytes, bytes]:
    return TOPICS.wearable_telemetry(wearable).encode(), json.dumps(fields).encode()


def test_unknown_wearables_are_dropped_counted_and_never_stored() -> None:
    store = _Store()
    ingest, events = _ingest(store)
    ingest.on_batch([_msg("intruder", panic=True), _msg("wb1", hr=70), _msg("ghost", hr=80),
                     (b"siteguard/other-site/wearables/wb1/telemetry", b'{"panic": true}')])
    assert ingest.counters.unknown == 3
    assert [w for w, _ in store.stored] == ["wb1"]
    assert not events.poll(0)  # no press from anyone who is not a worker of this site
    assert ingest.stats()["unknown"] == 3


def test_a_press_is_handled_before_the_routine_messages_read_with_it() -> None:
    ingest, events = _ingest()
    order: list[bytes] = []
    parse = ingest.router.telemetry
    ingest.router.telemetry = lambda w, p: (order.append(p), parse(w, p))  # type: ignore[method-assign]
    batch = [_msg("wb1", hr=60 + i, accel=[0.0, 0.0, 1.0]) for i in range(50)]
    batch.insert(40, _msg("wb2", panic=True, battery=1 * 10**400))  # a press beside a bad field
    ingest.on_batch(batch)
    assert order[0] == batch[40][1]
    assert len(order) == 51
    (frame,) = [wire.decode(events.recv_bytes())]
    assert [(w, e) for w, e, _ in frame] == [("wb2", wire.PANIC)]
    assert ingest.router.counters.telemetry_rejected == 1  # the battery field, counted


def test_a_press_in_a_payload_that_is_not_json_still_reaches_the_alarm_process() -> None:
    ingest, events = _ingest()
    deep = b'{"panic": true, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    ingest.on_batch([(TOPICS.wearable_telemetry("wb1").encode(), deep),
                     (TOPICS.wearable_telemetry("wb2").encode(), b'{"checkin": true, "hr": 1' + b"0" * 5000 + b"}")])
    frames = [wire.decode(events.recv_bytes()) for _ in range(2)]
    assert sorted((w, e) for f in frames for w, e, _ in f) == [("wb1", wire.PANIC), ("wb2", wire.CHECK_IN)]
