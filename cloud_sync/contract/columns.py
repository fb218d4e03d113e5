"""Column codecs of a batch: numbers as byte-shuffled integer deltas, strings as dictionaries.

Why not plain msgpack rows: a reading as JSON is ~100 bytes, and zstd over
row-wise msgpack still keeps every float's noisy low bytes. Columns encode so
that zstd finds long runs:

* ``f`` floats: when every value is exactly ``n / 10**k`` for a small ``k`` (a
  value parsed from decimal text, as sensor firmware sends), the integers
  ``n`` are sent; otherwise the raw float64 bits. Either way as deltas,
  zig-zagged and byte-shuffled (the 8 bytes of every value grouped by
  position), so slowly changing values become long runs of zero bytes. The
  decoded float is bit-identical to the original (``n / 10**k`` is correctly
  rounded, so it is the double the decimal text parsed to).
* ``i`` integers and booleans: the same deltas.
* ``s`` strings: a dictionary and one small index per row (0 = null).
* ``j`` JSON objects: a dictionary of their compact JSON texts (telemetry
  extras repeat: a gas sensor's ``{"unit":"ppm"}`` is sent once per batch);
  the edge hands over the text it stored, and each distinct text is parsed
  once on decoding.
* ``o`` anything else (bytes, lists): a plain msgpack list.

Nulls of ``f``/``i`` columns are a bit mask. Every decoder checks lengths and
raises :class:`ColumnError` for a malformed column: a batch is bytes from the
network and may be anything.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .json_text import dumps, loads

MAX_DECIMALS = 6  # 10**6 * 2**53 still fits int64 deltas comfortably for site-scale values
_EXACT = float(2**52)


class ColumnError(ValueError):
    """A column that cannot be decoded: the reason names what is wrong."""


def encode(values: Sequence[Any], kind: str, order: np.ndarray | None = None) -> dict[str, Any]:
    """One column of ``kind`` (``f``, ``i``, ``s``, ``j`` or ``o``) as a msgpack-able dict, rows taken in ``order``."""
    if kind == "f":
        floats = np.array(values, dtype=np.float64)
        return _encode_floats(floats if order is None else floats[order])
    if kind == "i":
        return _encode_ints(_reordered(values, order))
    if kind in ("s", "j"):
        words, index = dictionary(values if kind == "s" else [_json_text(v) for v in values])
        return {"t": kind, "w": words, "d": _pack_ints(index if order is None else index[order])}
    return {"t": "o", "v": _reordered(values, order)}


def dictionary(values: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """Distinct non-null values in order of appearance, and each row's 1-based index into them (0 = null)."""
    words: dict[Any, int] = {}
    index = np.fromiter((0 if v is None else words.setdefault(v, len(words) + 1) for v in values), np.int64,
                        len(values))
    return list(words), index


def _reordered(values: Sequence[Any], order: np.ndarray | None) -> list[Any]:
    return list(values) if order is None else [values[i] for i in order.tolist()]


def decode(column: Any, rows: int) -> np.ndarray | list[Any]:
    """The values of one encoded column: float64 arrays (NaN = null) for ``f``, lists otherwise."""
    if not isinstance(column, dict) or not isinstance(column.get("t"), str):
        raise ColumnError("a column must be a map with a type 't'")
    kind = column["t"]
    if kind == "f":
        return _decode_floats(column, rows)
    if kind == "i":
        return _decode_ints(column, rows)
    if kind == "s":
        return _decode_strings(column, rows)
    if kind == "j":
        return _decode_json(column, rows)
    if kind == "o":
        values = column.get("v")
        if not isinstance(values, list) or len(values) != rows:
            raise ColumnError(f"an 'o' column must be a list of {rows} values")
        return values
    raise ColumnError(f"unknown column type {kind!r}")


# --- integers -------------------------------------------------------------------


def _pack_ints(ints: np.ndarray) -> bytes:
    """int64 values as zig-zagged deltas, byte-shuffled."""
    deltas = np.diff(ints, prepend=np.int64(0))
    zigzag = (deltas << 1) ^ (deltas >> 63)
    return np.ascontiguousarray(zigzag.astype("<i8").view(np.uint8).reshape(-1, 8).T).tobytes()


def _unpack_ints(data: Any, rows: int) -> np.ndarray:
    if not isinstance(data, bytes) or len(data) != rows * 8:
        raise ColumnError(f"packed integers must be {rows * 8} bytes")
    zigzag = np.frombuffer(data, dtype=np.uint8).reshape(8, rows).T.copy().view("<u8").reshape(rows)
    deltas = (zigzag >> np.uint64(1)).astype(np.int64) ^ -(zigzag & np.uint64(1)).astype(np.int64)
    return np.cumsum(deltas, dtype=np.int64)


def _encode_ints(values: Sequence[Any]) -> dict[str, Any]:
    nulls = [v is None for v in values]
    ints = np.array([0 if v is None else int(v) for v in values], dtype=np.int64)
    out: dict[str, Any] = {"t": "i", "d": _pack_ints(ints)}
    if any(nulls):
        out["n"] = np.packbits(np.array(nulls, dtype=bool)).tobytes()
    return out


def _decode_ints(column: dict[str, Any], rows: int) -> list[Any]:
    ints = _unpack_ints(column.get("d"), rows).tolist()
    nulls = _nulls(column, rows)
    if nulls is None:
        return ints
    return [None if null else value for value, null in zip(ints, nulls.tolist())]


# --- floats ---------------------------------------------------------------------


def _decimals(values: np.ndarray) -> int | None:
    """The smallest ``k`` with every value exactly ``n / 10**k``, or None."""
    if not values.size:
        return 0
    if not np.all(np.isfinite(values)) or np.max(np.abs(values)) >= _EXACT / 10**MAX_DECIMALS:
        return None
    for k in range(MAX_DECIMALS + 1):
        scale = 10.0**k
        if np.array_equal(np.round(values * scale) / scale, values):
            return k
    return None


def _encode_floats(values: np.ndarray) -> dict[str, Any]:
    null = np.isnan(values)
    present = values[~null]
    out: dict[str, Any] = {"t": "f"}
    k = _decimals(present)
    if k is None:
        out["d"] = _pack_ints(np.where(null, 0.0, values).view(np.int64))
    else:
        out["k"] = k
        out["d"] = _pack_ints(np.round(np.where(null, 0.0, values) * 10.0**k).astype(np.int64))
    if null.any():
        out["n"] = np.packbits(null).tobytes()
    return out


def _decode_floats(column: dict[str, Any], rows: int) -> np.ndarray:
    ints = _unpack_ints(column.get("d"), rows)
    k = column.get("k")
    if k is None:
        values = ints.view(np.float64).copy()
    elif isinstance(k, int) and 0 <= k <= MAX_DECIMALS:
        values = ints / 10.0**k
    else:
        raise ColumnError(f"decimals 'k' must be 0..{MAX_DECIMALS}")
    nulls = _nulls(column, rows)
    if nulls is not None:
        values[nulls] = np.nan
    return values


def _nulls(column: dict[str, Any], rows: int) -> np.ndarray | None:
    packed = column.get("n")
    if packed is None:
        return None
    if not isinstance(packed, bytes) or len(packed) != (rows + 7) // 8:
        raise ColumnError(f"a null mask must be {(rows + 7) // 8} bytes")
    return np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=rows).astype(bool)


# --- strings --------------------------------------------------------------------


def _index(column: dict[str, Any], rows: int, words: int) -> np.ndarray:
    index = _unpack_ints(column.get("d"), rows)
    if rows and (index.min() < 0 or index.max() > words):
        raise ColumnError("an index points outside its dictionary")
    return index


def _decode_strings(column: dict[str, Any], rows: int) -> list[Any]:
    words = column.get("w")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ColumnError("a string column's dictionary 'w' must be a list of strings")
    index = _index(column, rows, len(words))
    table = [None, *words]
    return [table[i] for i in index.tolist()]


# --- JSON objects ---------------------------------------------------------------


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value  # already the stored JSON text
    return dumps(value)


def _decode_json(column: dict[str, Any], rows: int) -> list[Any]:
    words = column.get("w")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ColumnError("a JSON column's dictionary 'w' must be a list of strings")
    try:
        parsed = [None, *(loads(w) for w in words)]
    except ValueError as exc:
        raise ColumnError(f"a JSON column holds invalid JSON: {exc}") from None
    index = _index(column, rows, len(words))
    return [parsed[i] for i in index.tolist()]
