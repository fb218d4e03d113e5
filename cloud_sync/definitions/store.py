"""Definitions kept in the cloud database, edited by operators; the built-in one where a type has none."""
from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, select

from cloud_sync.contract.tables import TABLES
from cloud_sync.db.schema import definitions

from .defaults import DEFAULT_TYPE, default_definition
from .model import DataDefinition


class DefinitionError(ValueError):
    """A definition that does not fit the contract: the message names the table and field."""


class DefinitionStore:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def get(self, device_type: str) -> DataDefinition:
        """The type's own definition, else the stored ``*`` one, else the built-in default."""
        with self._engine.connect() as conn:
            rows = dict(conn.execute(select(definitions.c.device_type, definitions.c.document).where(
                definitions.c.device_type.in_([device_type, DEFAULT_TYPE]))).all())
        document = rows.get(device_type, rows.get(DEFAULT_TYPE))
        return DataDefinition.model_validate(document) if document is not None else default_definition()

    def put(self, device_type: str, document: DataDefinition, by: str) -> None:
        _check(document)
        values = {"document": document.model_dump(mode="json"), "updated_ts": self._clock(), "updated_by": by}
        with self._engine.begin() as conn:
            updated = conn.execute(definitions.update().where(definitions.c.device_type == device_type)
                                   .values(**values)).rowcount
            if not updated:
                conn.execute(definitions.insert().values(device_type=device_type, **values))

    def list(self) -> dict[str, DataDefinition]:
        """Every stored definition by device type (the built-in default is not stored)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(definitions.c.device_type, definitions.c.document)).all()
        return {row.device_type: DataDefinition.model_validate(row.document) for row in rows}


def _check(document: DataDefinition) -> None:
    for table, fields in document.tables.items():
        if table not in TABLES:
            raise DefinitionError(f"tables.{table}: not a synced table ({', '.join(TABLES)})")
        for name, field in fields.items():
            if field.required and name not in TABLES[table].columns:
                raise DefinitionError(f"tables.{table}.{name}: a required field the contract does not have")
