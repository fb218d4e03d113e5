"""A sync batch: row ranges of synced tables from one device, columnar, msgpack, zstd.

The edge sends ``POST /v1/devices/{id}/batches`` with one :func:`encode`d batch
as its body; the cloud :func:`decode`s it and answers a :class:`Receipt`.
Each chunk is one table's rows with ids in ``[first_id, last_id]`` (every row
the edge has in that range: ids missing inside it were evicted or replaced)
and its :func:`idempotency_key`. A chunk the cloud already has is answered
durable again without being stored twice, so re-sending is always safe.

Rows are sorted by the table's ``group_by`` columns before encoding (readings
of one sensor side by side compress to a few bytes each); the edge row ids
travel with them, so order carries no meaning.
"""
from __future__ import annotations

import hashlib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgpack
import numpy as np
import zstandard
from pydantic import BaseModel, Field

from . import columns
from .tables import TABLES, TableSpec

VERSION = 1
MEDIA_TYPE = "application/vnd.siteguard.batch+zstd"
MAX_BODY_BYTES = 16 * 1024 * 1024  # compressed, as it arrives
MAX_RAW_BYTES = 256 * 1024 * 1024  # decompressed: a zstd bomb stops here
MAX_ROWS = 1_000_000  # rows per batch
ZSTD_LEVEL = 3

Column = np.ndarray | list[Any]


class BatchError(ValueError):
    """A batch that cannot be decoded or does not match its own header; ``reason`` says which."""

    def __init__(self, reason: str, table: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.table = table


def idempotency_key(device: str, table: str, first_id: int, last_id: int) -> str:
    """The chunk's identity: the same device's same table range is the same data."""
    return hashlib.sha256(f"{device}\x1f{table}\x1f{first_id}\x1f{last_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One table's rows: ``ids`` and one sequence per record field, all the same length."""

    table: str
    first_id: int
    last_id: int
    ids: Sequence[int]
    columns: Mapping[str, Column]

    @property
    def rows(self) -> int:
        return len(self.ids)

    def key(self, device: str) -> str:
        return idempotency_key(device, self.table, self.first_id, self.last_id)

    def records(self) -> list[dict[str, Any]]:
        """Row dicts (field -> value, NaN as None), for small tables and tests; bulk code reads columns."""
        names = list(self.columns)
        values = [_plain(self.columns[name]) for name in names]
        return [dict(zip(names, row)) for row in zip(*values)] if names else [{} for _ in self.ids]


@dataclass(frozen=True, slots=True)
class Batch:
    device: str
    sent_ts: float
    chunks: tuple[Chunk, ...]

    @property
    def rows(self) -> int:
        return sum(chunk.rows for chunk in self.chunks)


class Range(BaseModel):
    """A chunk's range as the receipt names it."""

    table: str
    first_id: int
    last_id: int
    key: str
    rows: int = 0


class Durable(Range):
    duplicate: bool = Field(False, description="The cloud already had this range: nothing was stored again")


class Rejected(Range):
    reason: str


class Receipt(BaseModel):
    """The cloud's answer: which ranges are durable (the edge may move its marks past them) and which not."""

    durable: list[Durable] = []
    rejected: list[Rejected] = []


def column_kind(spec: TableSpec, name: str) -> Literal["f", "i", "s", "j", "o"]:
    """How a record field is encoded, from its annotation."""
    annotation = spec.record.model_fields[name].annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(args) == 1:
        annotation = args[0]
    if annotation is float:
        return "f"
    if annotation in (int, bool):
        return "i"
    if annotation is str or typing.get_origin(annotation) is Literal:
        return "s"
    if typing.get_origin(annotation) is dict:
        return "j"
    return "o"


def encode(device: str, chunks: Sequence[Chunk], sent_ts: float) -> bytes:
    """The request body for ``chunks``."""
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(
        msgpack.packb(
            {"v": VERSION, "device": device, "sent_ts": sent_ts, "chunks": [_encode_chunk(device, c) for c in chunks]},
            use_bin_type=True,
        )
    )


def _encode_chunk(device: str, chunk: Chunk) -> dict[str, Any]:
    spec = TABLES[chunk.table]
    order = _group_order(spec, chunk)
    ids = np.asarray(chunk.ids, dtype=np.int64)
    if order is not None:
        ids = ids[order]
    encoded = {name: columns.encode(chunk.columns[name], column_kind(spec, name), order) for name in spec.columns}
    return {
        "table": chunk.table,
        "first_id": chunk.first_id,
        "last_id": chunk.last_id,
        "key": chunk.key(device),
        "rows": chunk.rows,
        "ids": columns.encode(ids, "i"),
        "columns": encoded,
    }


def _group_order(spec: TableSpec, chunk: Chunk) -> np.ndarray | None:
    """Row order for encoding: by the group columns (in order of first appearance), stable within a group."""
    if not spec.record.group_by or chunk.rows < 2:
        return None
    # lexsort's last key is the primary one
    return np.lexsort([columns.dictionary(chunk.columns[name])[1] for name in reversed(spec.record.group_by)])


def decode(body: bytes, *, max_raw_bytes: int = MAX_RAW_BYTES, max_rows: int = MAX_ROWS) -> Batch:
    """Decode and check a request body; :class:`BatchError` says what is wrong with a bad one."""
    try:
        raw = zstandard.ZstdDecompressor().decompress(body, max_output_size=max_raw_bytes)
    except zstandard.ZstdError as exc:
        raise BatchError(f"not a zstd frame of at most {max_raw_bytes} bytes: {exc}") from None
    if len(raw) > max_raw_bytes:
        raise BatchError(f"decompressed batch is over {max_raw_bytes} bytes")
    try:
        message = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException) as exc:
        raise BatchError(f"not msgpack: {exc}") from None
    if not isinstance(message, dict) or message.get("v") != VERSION:
        raise BatchError(f"not a version {VERSION} batch")
    device, sent_ts, chunks = message.get("device"), message.get("sent_ts"), message.get("chunks")
    if not isinstance(device, str) or not isinstance(sent_ts, (int, float)) or not isinstance(chunks, list):
        raise BatchError("a batch needs 'device' (string), 'sent_ts' (number) and 'chunks' (list)")
    decoded = tuple(_decode_chunk(device, c) for c in chunks)
    if sum(c.rows for c in decoded) > max_rows:
        raise BatchError(f"over {max_rows} rows in one batch")
    return Batch(device, float(sent_ts), decoded)


def _decode_chunk(device: str, chunk: Any) -> Chunk:
    if not isinstance(chunk, dict):
        raise BatchError("a chunk must be a map")
    name = chunk.get("table")
    if name not in TABLES:
        raise BatchError(f"unknown table {name!r}", table=str(name))
    first, last, rows = chunk.get("first_id"), chunk.get("last_id"), chunk.get("rows")
    if not all(isinstance(v, int) and v >= 0 for v in (first, last, rows)) or first > last:
        raise BatchError("a chunk needs integer 'first_id' <= 'last_id' and 'rows'", table=name)
    if chunk.get("key") != idempotency_key(device, name, first, last):
        raise BatchError("the idempotency key does not match device, table and range", table=name)
    encoded = chunk.get("columns")
    if not isinstance(encoded, dict):
        raise BatchError("a chunk needs 'columns' (map)", table=name)
    try:
        ids = np.asarray(columns.decode(chunk.get("ids"), rows), dtype=np.int64)
        decoded = {str(col): columns.decode(values, rows) for col, values in encoded.items()}
    except (columns.ColumnError, TypeError, ValueError, OverflowError) as exc:
        raise BatchError(f"bad column: {exc}", table=name) from None
    if rows and (ids.min() < first or ids.max() > last):
        raise BatchError("a row id lies outside the chunk's range", table=name)
    if len(np.unique(ids)) != rows:
        raise BatchError("row ids repeat within a chunk", table=name)
    return Chunk(name, first, last, ids, decoded)


def _plain(values: Column) -> list[Any]:
    if isinstance(values, np.ndarray):
        return [None if v != v else v for v in values.tolist()]  # NaN -> None
    return list(values)
