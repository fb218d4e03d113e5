"""The batch codec: lossless round trips, compact readings, and clear reasons for bad bodies."""
from __future__ import annotations

import json
import math

import msgpack
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_sync.contract import batch
from cloud_sync.contract.batch import BatchError, Chunk
from cloud_sync.contract.records import AlarmRecord, ReadingRecord

NAMES = list(ReadingRecord.model_fields)


def reading_chunk(rows: list[tuple], first_id: int = 1) -> Chunk:
    ids = list(range(first_id, first_id + len(rows)))
    columns = {name: [row[i] for row in rows] for i, name in enumerate(NAMES)}
    return Chunk("readings", ids[0], ids[-1], ids, columns)


def test_readings_round_trip_exactly_and_sort_by_sensor() -> None:
    rows = [("wb-2", "hr", 1.5, 72.0, None, None, None), ("wb-1", "gps", 1.25, 51.1234567, -0.1, 0.9,
            '{"talker":"GP"}'), ("wb-2", "hr", 2.5, 73.0, 1.5, None, None)]
    decoded = batch.decode(batch.encode("dev-1", [reading_chunk(rows)], 10.0))
    assert decoded.device == "dev-1" and decoded.sent_ts == 10.0
    [chunk] = decoded.chunks
    by_id = dict(zip(chunk.ids.tolist(), chunk.records()))
    assert by_id[2] == {"device": "wb-1", "kind": "gps", "ts": 1.25, "v1": 51.1234567, "v2": -0.1, "v3": 0.9,
                        "extra": {"talker": "GP"}}
    assert by_id[3]["v2"] == 1.5 and by_id[1]["v2"] is None
    assert chunk.ids.tolist() == [1, 3, 2]  # grouped by (device, kind) in order of appearance


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64)), min_size=1,
                max_size=40))
def test_any_float_survives_bit_for_bit(values: list[float | None]) -> None:
    rows = [("d", "gas:CO", float(i), v, None, None, None) for i, v in enumerate(values)]
    [chunk] = batch.decode(batch.encode("d", [reading_chunk(rows)], 0.0)).chunks
    got = [r["v1"] for _, r in sorted(zip(chunk.ids.tolist(), chunk.records()))]
    assert values == got
    assert all((a is None and b is None) or (math.copysign(1, a) == math.copysign(1, b)) for a, b in zip(values, got))


def test_alarm_records_round_trip_through_the_model() -> None:
    record = AlarmRecord(alarm_id="a1", subject="worker:w1", condition="gas_high:H2S", kind="gas_high",
                         priority="high", state="unack_active", message="H2S 15 ppm", raised_ts=1.0, updated_ts=2.0,
                         latching=True, condition_active=True, value=15.0, threshold=10.0, workers=["w1"])
    dumped = record.model_dump()
    chunk = Chunk("alarms", 7, 7, [7], {name: [value] for name, value in dumped.items()})
    [decoded] = batch.decode(batch.encode("d", [chunk], 0.0)).chunks
    assert AlarmRecord.model_validate(decoded.records()[0]) == record


def test_a_compact_hour_of_readings() -> None:
    rows = [(f"wb-{w:03d}", "hr", 1.7e9 + s + w / 1000, float(60 + (s + w) % 40), None, None, None)
            for s in range(300) for w in range(50)]
    body = batch.encode("d", [reading_chunk(rows)], 0.0)
    as_json = sum(len(json.dumps({"id": i, **dict(zip(NAMES, r))})) for i, r in enumerate(rows))
    assert len(body) * 20 < as_json


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not zstd", "not a zstd frame"),
        (zstandard.ZstdCompressor().compress(b"\xc1\xc1"), "not msgpack"),
        (zstandard.ZstdCompressor().compress(msgpack.packb({"v": 9})), "not a version 1 batch"),
        (zstandard.ZstdCompressor().compress(msgpack.packb([1, 2])), "not a version 1 batch"),
    ],
)
def test_garbage_is_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(BatchError, match=reason):
        batch.decode(body)


def test_a_decompression_bomb_stops_at_the_limit() -> None:
    bomb = zstandard.ZstdCompressor().compress(bytes(50_000_000))
    with pytest.raises(BatchError, match="1000000 bytes"):
        batch.decode(bomb, max_raw_bytes=1_000_000)


def tampered(mutate) -> bytes:
    message = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(
        batch.encode("d", [reading_chunk([("w", "hr", 1.0, 70.0, None, None, None)] * 3)], 0.0)))
    mutate(message["chunks"][0])
    return zstandard.ZstdCompressor().compress(msgpack.packb(message, use_bin_type=True))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda c: c.update(last_id=99), "idempotency key"),
        (lambda c: c.update(table="users"), "unknown table"),
        (lambda c: c.update(rows=4), "bad column"),
        (lambda c: c["columns"]["v1"].update(d=b"123"), "bad column"),
        (lambda c: c["columns"]["device"].update(w=[]), "outside its dictionary"),
        (lambda c: c["columns"]["extra"].update(w=["{"], d=c["columns"]["device"]["d"]), "invalid JSON"),
        (lambda c: c["columns"]["ts"].update(k=40), "decimals"),
    ],
)
def test_a_tampered_chunk_names_what_is_wrong(mutate, reason: str) -> None:
    with pytest.raises(BatchError, match=reason):
        batch.decode(tampered(mutate))


def test_the_key_binds_device_table_and_range() -> None:
    keys = {batch.idempotency_key(*args) for args in
            [("d", "readings", 1, 5), ("e", "readings", 1, 5), ("d", "alarms", 1, 5), ("d", "readings", 1, 6)]}
    assert len(keys) == 4
