"""A decoded chunk checked against a definition: values ready to store, flags per row, skew counts.

Nothing is refused for skew: an unexpected field's values go into the row's
``flags`` (so they are kept), a missing optional field is stored as null, a
value of the wrong type is stored as null with the original in ``flags``, a
value out of range is stored as it is and flagged. Only a chunk without its
identity (a required field of the record missing or unusable) is refused:
such rows cannot be stored at all.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloud_sync.contract.batch import Chunk
from cloud_sync.contract.tables import TABLES

from .model import DataDefinition, FieldDef

_PY_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool, int), "json": (dict, list),
                                          "bytes": (bytes,)}


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
            _range(name, columns[name], values, definition_field, skew, flag)
    if chunk.table == "readings" and definition.readings:
        _reading_ranges(columns, chunk.columns, definition, skew, flag)
    return Checked(columns, flags, skew)


def _plain(values: np.ndarray | Sequence[Any]) -> list[Any]:
    if isinstance(values, np.ndarray):
        return [None if v != v else v for v in values.tolist()]
    return list(values)


def _typed(table: str, name: str, values: Any, expected: str | None, required: bool, skew: Skew, flag: Any
           ) -> list[Any]:
    """The column as storable Python values; values of the wrong type become null and are flagged."""
    if expected == "float":
        if isinstance(values, np.ndarray):
            return _plain(values)
        out: list[Any] = []
        for i, value in enumerate(values):
            if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
                out.append(None if value is None else float(value))
            else:
                out.append(None)
                flag(i, "type", name, repr(value)[:200])
                skew.add(name, "type", 1, value)
        _refuse_nulls(table, name, out, required)
        return out
    plain = _plain(values)
    if expected is None or expected not in _PY_TYPES:
        return plain
    allowed = _PY_TYPES[expected]
    out = []
    for i, value in enumerate(plain):
        if value is None or isinstance(value, allowed):
            out.append(value)
        else:
            out.append(None)
            flag(i, "type", name, repr(value)[:200])
            skew.add(name, "type", 1, value)
    _refuse_nulls(table, name, out, required)
    return out


def _refuse_nulls(table: str, name: str, values: list[Any], required: bool) -> None:
    if required and any(v is None for v in values):
        raise ChunkRefused(f"{table}: the required field {name!r} has null or wrongly typed values")


def _range(name: str, stored: list[Any], values: Any, definition: FieldDef, skew: Skew, flag: Any) -> None:
    if definition.min is None and definition.max is None or not isinstance(values, np.ndarray):
        return
    _flag_outside(name, np.asarray(values, dtype=np.float64), np.ones(len(stored), bool), definition, skew, flag)


def _reading_ranges(columns: dict[str, list[Any]], raw: dict[str, Any], definition: DataDefinition, skew: Skew,
                    flag: Any) -> None:
    """Ranges of v1..v3 per reading kind, vectorised per kind."""
    kinds = np.asarray(columns["kind"], dtype=object)
    for kind, slots in definition.readings.items():
        mask = kinds == kind
        if not mask.any():
            continue
        for slot, field_def in slots.items():
            values = raw.get(slot)
            if isinstance(values, np.ndarray) and (field_def.min is not None or field_def.max is not None):
                _flag_outside(slot, values, mask, field_def, skew, flag)


def _flag_outside(name: str, values: np.ndarray, mask: np.ndarray, definition: FieldDef, skew: Skew,
                  flag: Any) -> None:
    low = -np.inf if definition.min is None else definition.min
    high = np.inf if definition.max is None else definition.max
    with np.errstate(invalid="ignore"):
        outside = mask & ~np.isnan(values) & ((values < low) | (values > high))
    rows = np.flatnonzero(outside)
    if rows.size:
        skew.add(name, "range", int(rows.size), float(values[rows[0]]))
        for row in rows.tolist():
            flag(row, "range", name)
