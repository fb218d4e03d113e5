"""The built-in definition (device type ``*``): every contract field, and the ranges of the edge's reading kinds.

Fields come from the contract's record models, so a new field is defined the
moment the contract has it; reading ranges are physical limits of the
sensors the edge reads (see ``edge_runtime/store/rows.py``).
"""
from __future__ import annotations

import typing
from functools import cache

from cloud_sync.contract.batch import column_kind
from cloud_sync.contract.tables import TABLES, TableSpec

from .model import DataDefinition, FieldDef, FieldType

DEFAULT_TYPE = "*"

_READINGS: dict[str, dict[str, FieldDef]] = {
    "gps": {"v1": FieldDef(type="float", unit="deg", min=-90, max=90),
            "v2": FieldDef(type="float", unit="deg", min=-180, max=180),
            "v3": FieldDef(type="float", unit="hdop", min=0, max=100)},
    "hr": {"v1": FieldDef(type="float", unit="bpm", min=20, max=250),
           "v2": FieldDef(type="float", unit="kJ", min=0)},
    "motion": {name: FieldDef(type="float", unit="g", min=-16, max=16) for name in ("v1", "v2", "v3")},
    "panic": {"v1": FieldDef(type="float", min=0, max=1)},
    "battery": {"v1": FieldDef(type="float", unit="%", min=0, max=100)},
    "detector": {"v1": FieldDef(type="float", unit="s"), "v2": FieldDef(type="float", unit="s")},
}
_GASES = {"O2": ("%vol", 0, 25), "LEL": ("%LEL", 0, 100), "H2S": ("ppm", 0, 500), "CO": ("ppm", 0, 2000)}


def _field_type(spec: TableSpec, name: str) -> FieldType:
    annotation = spec.record.model_fields[name].annotation
    kind = column_kind(spec, name)
    if kind == "i":
        return "bool" if annotation is bool or bool in typing.get_args(annotation) else "int"
    if kind == "o":
        return "bytes" if annotation is bytes else "json"
    return {"f": "float", "s": "str", "j": "json"}[kind]


@cache
def default_definition() -> DataDefinition:
    tables = {
        name: {field: FieldDef(type=_field_type(spec, field), required=spec.record.model_fields[field].is_required())
               for field in spec.columns}
        for name, spec in TABLES.items()
    }
    readings = dict(_READINGS)
    for gas, (unit, low, high) in _GASES.items():
        readings[f"gas:{gas}"] = {"v1": FieldDef(type="float", unit=unit, min=low, max=high * 2),
                                  "v2": FieldDef(type="float", unit=unit, min=0)}
    return DataDefinition(tables=tables, readings=readings)
