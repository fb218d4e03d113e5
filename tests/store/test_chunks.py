"""record_chunk: raw serial bytes decoded in the store process, stored exactly as record_observation would."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from edge_runtime.config.devices import SerialPort
from edge_runtime.sensors import device_of
from edge_runtime.store import Store
from firmware_bridge.codecs.gateway import encode_gateway
from firmware_bridge.codecs.nmea import encode_gga
from firmware_bridge.codecs.winsen import encode_winsen
from firmware_bridge.protocols import StreamDecoder
from firmware_bridge.readings import Gas, Observation

from .conftest import StoreFactory, probe

GATEWAY = SerialPort(port="/dev/gw0", protocol="gateway", gateway_devices={1: "gps-w1", 2: "gas-w1", 3: "gas-w2"})
WINSEN = SerialPort(port="/dev/ttyGas", protocol="winsen", device="det-7")
PORTS = (GATEWAY, WINSEN)
SPLITS = (1, 5, 7, 13, 2, 31, 3)  # chunk sizes, cycled: frames are cut everywhere


def gateway_stream() -> bytes:
    now = datetime(2026, 3, 3, 6, 0, tzinfo=timezone.utc)
    out = bytearray(b"\x17noise\x00")  # line noise, then a delimiter: the decoder resyncs
    for i in range(40):
        out += encode_gateway(1, "nmea", encode_gga(51.5 + i * 1e-5, -0.12, time_utc=now))
        out += encode_gateway(2, "winsen", encode_winsen(Gas.H2S, i % 7, full_range=100))
        out += encode_gateway(3, "winsen", encode_winsen(Gas.CO, 10 + i, full_range=500))
        out += encode_gateway(9, "winsen", encode_winsen(Gas.CO, 1, full_range=500))  # not in the site file
    return bytes(out)


def winsen_stream() -> bytes:
    return b"".join(encode_winsen(Gas.NH3, i % 20, full_range=100) for i in range(60)) + b"\xff\x86"


def chunks(port: SerialPort, data: bytes, t0: float) -> list[tuple[str, float, bytes]]:
    out, at, i = [], 0, 0
    while at < len(data):
        size = SPLITS[i % len(SPLITS)]
        out.append((port.port, t0 + i * 0.01, data[at : at + size]))
        at, i = at + size, i + 1
    return out


def interleaved() -> list[tuple[str, float, bytes]]:
    gateway, winsen = chunks(GATEWAY, gateway_stream(), 1000.0), chunks(WINSEN, winsen_stream(), 1000.005)
    merged = [c for pair in zip(gateway, winsen) for c in pair]
    longer = gateway if len(gateway) > len(winsen) else winsen
    return merged + longer[min(len(gateway), len(winsen)):]


def stored(path: Path) -> list[tuple[object, ...]]:
    with probe(path) as conn:
        return conn.execute("SELECT device, kind, ts, v1, v2, v3, extra FROM readings ORDER BY id").fetchall()


def record_as_the_daemon_did(store: Store, stream: list[tuple[str, float, bytes]]) -> None:
    """What the daemon did before record_chunk: decode, map, record every observation."""
    specs = {p.port: p for p in PORTS}
    decoders = {p.port: StreamDecoder(p.protocol) for p in PORTS}
    for source, ts, data in stream:
        for decoded in decoders[source].feed(data):
            device = device_of(specs[source], decoded)
            if device is not None:
                store.record_observation(Observation(device, decoded.reading, ts))


def test_chunks_are_stored_exactly_like_the_observations_they_hold(make_store: StoreFactory, tmp_path: Path) -> None:
    stream = interleaved()
    by_chunk = make_store(path=tmp_path / "chunks.db", serial=PORTS)
    for source, ts, data in stream:
        by_chunk.record_chunk(source, ts, data)
    by_observation = make_store(path=tmp_path / "observations.db")
    record_as_the_daemon_did(by_observation, stream)
    assert by_chunk.flush() and by_observation.flush()

    rows = stored(tmp_path / "chunks.db")
    assert rows == stored(tmp_path / "observations.db")
    devices = {row[0] for row in rows}
    assert devices == {"gps-w1", "gas-w1", "gas-w2", "det-7"}  # address 9 is skipped
    assert len(rows) == 40 * 3 + 60
    assert {row[1] for row in rows} == {"gps", "gas:H2S", "gas:CO", "gas:NH3"}
    assert by_chunk.stats.record_errors == 0
    assert by_chunk.stats.rows_written["readings"] == len(rows)


def test_a_chunk_from_an_unlisted_port_is_counted_not_stored(make_store: StoreFactory, db_path: Path) -> None:
    store = make_store(serial=PORTS)
    store.record_chunk("/dev/ttyUSB9", 1.0, encode_winsen(Gas.CO, 5, full_range=500))
    store.record_chunk(WINSEN.port, 2.0, encode_winsen(Gas.CO, 5, full_range=500))
    assert store.flush()
    assert store.stats.record_errors == 1
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT device, ts FROM readings").fetchall() == [("det-7", 2.0)]


def test_chunk_readings_are_sampled_like_observations(make_store: StoreFactory) -> None:
    store = make_store(serial=PORTS, readings_sample_s=1.0)
    for i in range(20):  # 0.1 s apart: one reading per second is kept
        store.record_chunk(WINSEN.port, 100.0 + i * 0.1, encode_winsen(Gas.NH3, i, full_range=100))
    assert store.flush()
    assert store.readings_count() == 2
    assert store.stats.sampled_out == 18
