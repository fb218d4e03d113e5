"""Definitions: built-in defaults, stored overrides per device type, and the skew they make ingest record."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, select

from cloud_sync.contract.batch import Batch, Chunk
from cloud_sync.db.schema import DATA_TABLES, skew
from cloud_sync.definitions import DEFAULT_TYPE, DataDefinition, DefinitionError, DefinitionStore, FieldDef
from cloud_sync.definitions import default_definition
from cloud_sync.ingest import DeviceRef, Ingest

DEVICE = DeviceRef("edge-1", "site-a", "rpi-edge")


def chunk(kinds: list[str], v1: list[float], v2: list[float] | None = None, **extra: list[object]) -> Chunk:
    n = len(kinds)
    columns = {"device": ["s-1"] * n, "kind": kinds, "ts": np.arange(n, dtype=float),
               "v1": np.asarray(v1, dtype=float), "v2": np.asarray(v2 if v2 else [np.nan] * n, dtype=float),
               "v3": np.full(n, np.nan), "extra": [None] * n, **extra}
    return Chunk("readings", 1, n, list(range(1, n + 1)), columns)


def stored(engine: Engine) -> tuple[list[object], dict[tuple[str, str], int]]:
    with engine.connect() as conn:
        flags = [r.flags for r in conn.execute(select(DATA_TABLES["readings"].c.flags)
                                               .order_by(DATA_TABLES["readings"].c.edge_id))]
        found = {(r.field, r.problem): r.count for r in conn.execute(select(skew))}
    return flags, found


def test_the_default_covers_every_contract_field_and_the_reading_kinds() -> None:
    default = default_definition()
    assert default.tables["alarms"]["alarm_id"] == FieldDef(type="str", required=True)
    assert default.tables["alarms"]["latching"].type == "bool"
    assert default.readings["gps"]["v1"].min == -90 and default.readings["gps"]["v2"].max == 180
    assert default.readings["hr"]["v1"].min == 20 and default.readings["motion"]["v3"].max == 16
    assert default.readings["gas:H2S"]["v1"].min == 0


def test_put_get_list_and_the_fallback_to_star(cloud_engine: Engine) -> None:
    store = DefinitionStore(cloud_engine, clock=lambda: 5.0)
    assert store.get("rpi-edge") == default_definition() and store.list() == {}
    star = DataDefinition(tables={"readings": {"ts": FieldDef(type="float", required=True)}})
    store.put(DEFAULT_TYPE, star, by="ops")
    assert store.get("rpi-edge") == star
    own = DataDefinition(tables={}, readings={"hr": {"v1": FieldDef(type="float", unit="bpm", min=30, max=200)}})
    store.put("rpi-edge", own, by="ops")
    store.put("rpi-edge", own, by="ops2")  # replaces, not a second row
    assert store.get("rpi-edge") == own and set(store.list()) == {DEFAULT_TYPE, "rpi-edge"}
    with pytest.raises(DefinitionError, match="tables.nope"):
        store.put("x", DataDefinition(tables={"nope": {}}), by="ops")


def test_out_of_range_values_are_flagged_per_kind_and_kept(cloud_engine: Engine) -> None:
    batch = Batch("edge-1", 0.0, (chunk(["gps", "gps", "motion", "hr", "battery"], [95.0, 10.0, -20.0, 72.0, 50.0],
                                        [0.0, 200.0, 0.0, np.nan, np.nan]),))
    receipt = Ingest(cloud_engine).ingest(DEVICE, batch, 10)
    assert not receipt.rejected
    flags, found = stored(cloud_engine)
    assert flags == [{"range": ["v1"]}, {"range": ["v2"]}, {"range": ["v1"]}, None, None]
    assert found == {("v1", "range"): 2, ("v2", "range"): 1}


def test_a_stored_definition_changes_what_is_out_of_range(cloud_engine: Engine) -> None:
    definitions = DefinitionStore(cloud_engine)
    definitions.put("rpi-edge", DataDefinition(tables={}, readings={"hr": {"v1": FieldDef(type="float", max=100)}}),
                    by="ops")
    Ingest(cloud_engine, definitions).ingest(DEVICE, Batch("edge-1", 0.0, (chunk(["hr", "hr"], [72.0, 140.0]),)), 10)
    assert stored(cloud_engine)[0] == [None, {"range": ["v1"]}]


def test_wrong_types_and_unexpected_fields_are_flagged_not_lost(cloud_engine: Engine) -> None:
    bad = chunk(["hr", "hr"], [72.0, 73.0], firmware=["2.1", "2.1"])
    bad = Chunk("readings", 1, 2, bad.ids, {**bad.columns, "extra": ["not a map", None]})
    Ingest(cloud_engine).ingest(DEVICE, Batch("edge-1", 0.0, (bad,)), 10)
    flags, found = stored(cloud_engine)
    assert flags == [{"unexpected": {"firmware": "2.1"}, "type": {"extra": "'not a map'"}},
                     {"unexpected": {"firmware": "2.1"}}]
    assert found == {("firmware", "unexpected"): 2, ("extra", "type"): 1}


def test_a_column_of_python_values_is_checked_value_by_value_where_a_type_is_wrong(cloud_engine: Engine) -> None:
    """Not the codec's float array but a list: ints become floats, a bool or a string is a wrong type."""
    bad = chunk(["hr"] * 4, [72.0] * 4)
    bad = Chunk("readings", 1, 4, bad.ids, {**bad.columns, "v1": [72, True, "x", None]})
    Ingest(cloud_engine).ingest(DEVICE, Batch("edge-1", 0.0, (bad,)), 10)
    with cloud_engine.connect() as conn:
        v1 = conn.execute(select(DATA_TABLES["readings"].c.v1).order_by(DATA_TABLES["readings"].c.edge_id)).scalars()
        assert [type(v).__name__ for v in v1] == ["float", "NoneType", "NoneType", "NoneType"]
    flags, found = stored(cloud_engine)
    assert flags == [None, {"type": {"v1": "True"}}, {"type": {"v1": "'x'"}}, None]
    assert found == {("v1", "type"): 2}


def test_a_required_field_with_a_wrong_type_refuses_the_chunk(cloud_engine: Engine) -> None:
    bad = chunk(["hr", "hr"], [72.0, 73.0])
    bad = Chunk("readings", 1, 2, bad.ids, {**bad.columns, "device": ["s-1", 7]})
    receipt = Ingest(cloud_engine).ingest(DEVICE, Batch("edge-1", 0.0, (bad,)), 10)
    assert [r.reason for r in receipt.rejected] == [
        "readings: the required field 'device' has null or wrongly typed values"]
