"""A decoded chunk checked against a definition: values ready to store, flags per row, skew counts.

Nothing is refused for skew: an unexpected field's values go into the row's
``flags`` (so they are kept), a missing optional field is stored as null, a
value of the wrong type is stored as null with the original in ``flags``, a
value out of range is stored as it is and flagged. Only a chunk without its
identity (a required field of the record missing or unusable) is refused:
such rows cannot be stored at all.

Every check runs on whole columns (a bulk chunk is tens of thousands of
rows): a column's value types are collected once and compared with what the
definition allows, ranges are numpy comparisons per reading kind, and only
the rows that are flagged cost Python work of their own.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloud_sync.contract.batch import Chunk
from cloud_sync.contract.tables import TABLES

from .model import DataDefinition, FieldDef

_PY_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool, int), "json": (dict, list),
                                          "bytes": (bytes,)}
_NUMBER = (int, float)

Flag = Callable[[int, str, str, Any], None]


class ChunkRefused(ValueError):
    """The chunk's rows cannot be stored; the message is the reason the receipt gives."""


@dataclass
class Skew:
    """Counts per (field, problem), with one example value each."""

    counts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    examples: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, name: str, problem: str, count: int, example: Any) -> None:
        if count:
            self.counts[(name, problem)] += count
            self.examples.setdefault((name, problem), repr(example)[:200])


@dataclass
class Checked:
    columns: dict[str, list[Any]]  # every record field, in the contract's order
    flags: list[dict[str, Any] | None]
    skew: Skew


def check(chunk: Chunk, definition: DataDefinition) -> Checked:
    spec = TABLES[chunk.table]
    defs = definition.tables.get(chunk.table, {})
    rows = chunk.rows
    skew = Skew()
    flags: list[dict[str, Any] | None] = [None] * rows

    def flag(row: int, problem: str, name: str, value: Any = None) -> None:
        entry = flags[row] if flags[row] is not None else {}
        flags[row] = entry
        if problem in ("unexpected", "type"):
            entry.setdefault(problem, {})[name] = value
        else:
            entry.setdefault(problem, []).append(name)

    for name, values in chunk.columns.items():
        if name not in spec.columns:
            plain = _plain(values)
            skew.add(name, "unexpected", rows, plain[0] if rows else None)
            for i, value in enumerate(plain):
                flag(i, "unexpected", name, value)
    columns: dict[str, list[Any]] = {}
    for name in spec.columns:
        required = spec.record.model_fields[name].is_required()
        definition_field = defs.get(name)
        if name not in chunk.columns:
            if required:
                raise ChunkRefused(f"{chunk.table}: the required field {name!r} is missing")
            skew.add(name, "missing", rows, None)
            columns[name] = [None] * rows
            continue
        values = chunk.columns[name]
        expected = definition_field.type if definition_field else None
        columns[name] = _typed(chunk.table, name, values, expected, required, skew, flag)
        if definition_field is not None:
            _range(name, values, definition_field, skew, flag)
    if chunk.table == "readings" and definition.readings:
        _reading_ranges(columns["kind"], chunk.columns, definition, skew, flag)
    return Checked(columns, flags, skew)


def _plain(values: np.ndarray | Sequence[Any]) -> list[Any]:
    """Python values; a float array's NaNs (the codec's nulls) as None."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind != "f":
            return values.tolist()
        boxed = values.astype(object)
        boxed[np.isnan(values)] = None
        return boxed.tolist()
    return list(values)


def _typed(table: str, name: str, values: Any, expected: str | None, required: bool, skew: Skew, flag: Flag
           ) -> list[Any]:
    """The column as storable Python values; values of the wrong type become null and are flagged.

    The types present in the column are collected once; only a column holding
    a type the definition does not allow is walked row by row.
    """
    if expected == "float" and isinstance(values, np.ndarray):
        return _plain(values)  # the codec's float columns hold floats (NaN: null) by construction
    plain = _plain(values)
    allowed = _NUMBER if expected == "float" else _PY_TYPES.get(expected or "")
    if allowed is None:
        return plain
    present = set(map(type, plain)) - {type(None)}
    if any(not issubclass(kind, allowed) or expected == "float" and kind is bool for kind in present):
        out = _typed_rows(name, plain, expected == "float", allowed, skew, flag)
    elif expected == "float" and present - {float}:
        out = [None if value is None else float(value) for value in plain]
    else:
        out = plain
    if required and None in out:
        raise ChunkRefused(f"{table}: the required field {name!r} has null or wrongly typed values")
    return out


def _typed_rows(name: str, plain: list[Any], floats: bool, allowed: tuple[type, ...], skew: Skew,
                flag: Flag) -> list[Any]:
    """Row by row, for a column holding values of a wrong type: those become null, flagged with the original."""
    out: list[Any] = []
    for i, value in enumerate(plain):
        if value is None or isinstance(value, allowed) and not (floats and isinstance(value, bool)):
            out.append(float(value) if floats and value is not None else value)
        else:
            out.append(None)
            flag(i, "type", name, repr(value)[:200])
            skew.add(name, "type", 1, value)
    return out


def _range(name: str, values: Any, definition: FieldDef, skew: Skew, flag: Flag) -> None:
    if definition.min is None and definition.max is None or not isinstance(values, np.ndarray):
        return
    _flag_outside(name, np.asarray(values, dtype=np.float64), None, definition, skew, flag)


def _reading_ranges(kinds: list[Any], raw: dict[str, Any], definition: DataDefinition, skew: Skew,
                    flag: Flag) -> None:
    """Ranges of v1..v3 per reading kind: each row's kind as a small code once, then numpy masks per kind."""
    codes, index = _codes(kinds)
    for kind, slots in definition.readings.items():
        if kind not in codes:
            continue
        mask = index == codes[kind]
        for slot, field_def in slots.items():
            values = raw.get(slot)
            if isinstance(values, np.ndarray) and (field_def.min is not None or field_def.max is not None):
                _flag_outside(slot, values, mask, field_def, skew, flag)


def _codes(values: list[Any]) -> tuple[dict[Any, int], np.ndarray]:
    """Each distinct value's code and every row's code; a value that cannot be a dict key (a kind of the wrong
    type a definition without ``kind`` let through) gets -1, which no reading kind of a definition has."""
    codes: dict[Any, int] = {}
    try:
        return codes, np.fromiter((codes.setdefault(v, len(codes)) for v in values), np.int64, len(values))
    except TypeError:
        codes.clear()
        return codes, np.array([codes.setdefault(v, len(codes)) if _hashable(v) else -1 for v in values], np.int64)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _flag_outside(name: str, values: np.ndarray, mask: np.ndarray | None, definition: FieldDef, skew: Skew,
                  flag: Flag) -> None:
    low = -np.inf if definition.min is None else definition.min
    high = np.inf if definition.max is None else definition.max
    with np.errstate(invalid="ignore"):
        outside = (values < low) | (values > high)  # NaN (null) compares False: never out of range
    if mask is not None:
        outside &= mask
    rows = np.flatnonzero(outside)
    if rows.size:
        skew.add(name, "range", int(rows.size), float(values[rows[0]]))
        for row in rows.tolist():
            flag(row, "range", name)
