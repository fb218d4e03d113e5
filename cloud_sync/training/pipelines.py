"""Pipelines: a name, the kind its jobs run, the kind's options, and its triggers, stored in the cloud database.

A pipeline is checked against its kind when it is stored: the kind must be
registered in this process, the options must match the kind's model, and a
drift trigger needs a kind that gives drift samples. What is stored is the
validated document, so a worker never meets a pipeline it cannot read.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from .errors import InvalidPipeline, UnknownKind, UnknownPipeline
from .kinds import get_kind
from .tables import training_pipelines
from .triggers import DriftTrigger, ManualTrigger, Trigger

NAME = r"^[A-Za-z0-9_-]{1,64}$"
_TRIGGERS: TypeAdapter[list[Trigger]] = TypeAdapter(list[Trigger])


class PipelineIn(BaseModel):
    """The body of ``PUT /training/pipelines/{name}``."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=64, description="a registered pipeline kind")
    options: dict[str, Any] = Field(default_factory=dict, description="the kind's options")
    triggers: list[Trigger] = Field(default_factory=lambda: [ManualTrigger()], max_length=20)


class Pipeline(PipelineIn):
    name: str = Field(pattern=NAME)
    created_ts: float
    updated_ts: float

    def accepts_manual(self) -> bool:
        return any(isinstance(t, ManualTrigger) for t in self.triggers)


class PipelineStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def put(self, name: str, document: PipelineIn) -> Pipeline:
        """Creates or replaces the pipeline ``name``; InvalidPipeline naming what its kind refuses."""
        checked = validate(name, document)
        now = self._clock()
        row = {"kind": checked.kind, "options": checked.options,
               "triggers": [t.model_dump(mode="json") for t in checked.triggers], "updated_ts": now}
        try:
            return self._store(name, row, now)
        except IntegrityError:  # another request created it between our update and insert: replace that one
            return self._store(name, row, now)

    def _store(self, name: str, row: dict[str, Any], now: float) -> Pipeline:
        with self._engine.begin() as conn:
            changed = conn.execute(update(training_pipelines).where(training_pipelines.c.name == name)
                                   .values(**row)).rowcount
            if not changed:
                conn.execute(insert(training_pipelines).values(name=name, created_ts=now, **row))
            return self._read(conn, name)

    def get(self, name: str) -> Pipeline:
        with self._engine.connect() as conn:
            return self._read(conn, name)

    def list(self) -> list[Pipeline]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(training_pipelines).order_by(training_pipelines.c.name)).mappings()
            return [_pipeline(r) for r in rows]

    @staticmethod
    def _read(conn: Connection, name: str) -> Pipeline:
        row = conn.execute(select(training_pipelines).where(training_pipelines.c.name == name)).mappings().first()
        if row is None:
            raise UnknownPipeline(name)
        return _pipeline(row)


def validate(name: str, document: PipelineIn) -> PipelineIn:
    """``document`` with its options as the kind's model dumps them; InvalidPipeline otherwise."""
    if not re.match(NAME, name):
        raise InvalidPipeline(f"pipeline name {name!r}: 1-64 of A-Z a-z 0-9 _ -")
    try:
        kind = get_kind(document.kind)
    except UnknownKind as exc:
        raise InvalidPipeline(str(exc)) from None
    try:
        options = kind.options.model_validate(document.options).model_dump(mode="json")
    except ValidationError as exc:
        problems = "; ".join(f"options.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidPipeline(f"kind {kind.name!r} refuses the options: {problems}") from None
    if kind.drift_sample is None and any(isinstance(t, DriftTrigger) for t in document.triggers):
        raise InvalidPipeline(f"kind {kind.name!r} gives no drift samples: it cannot have a drift trigger")
    return document.model_copy(update={"options": options})


def _pipeline(row: RowMapping) -> Pipeline:
    return Pipeline(name=row["name"], kind=row["kind"], options=row["options"],
                    triggers=_TRIGGERS.validate_python(row["triggers"]), created_ts=row["created_ts"],
                    updated_ts=row["updated_ts"])
