"""Hard examples and their labels: the queue an admin works through, each answer a new revision.

A hard example is a synced snapshot whose ``reason`` is ``hard_example``. Its
label is the newest revision: ``accepted`` (the model's boxes were right),
``corrected`` (the admin's boxes), or ``deleted`` (not a usable frame: kept
on record, never trained on). Boxes are corners in 0..1 of the image, so a
label does not depend on the resolution a page shows the frame at.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine, Select, and_, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cloud_sync.db.schema import DATA_TABLES
from cloud_sync.registry.errors import Conflict, NotFound

from .classes import CLASSES
from .tables import snapshot_labels

HARD_EXAMPLE = "hard_example"
Status = Literal["accepted", "corrected", "deleted"]
Filter = Literal["unlabelled", "labelled", "deleted", "all"]
MAX_BOXES = 200


class LabelError(ValueError):
    """A label that cannot be stored as given (the API answers 422); the message says why."""


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    x1: float = Field(ge=0, le=1)
    y1: float = Field(ge=0, le=1)
    x2: float = Field(ge=0, le=1)
    y2: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _valid(self) -> Box:
        if self.label not in CLASSES:
            raise ValueError(f"label {self.label!r} is not one of the camera model's classes {', '.join(CLASSES)}")
        if not (self.x1 < self.x2 and self.y1 < self.y2):
            raise ValueError("a box needs x1 < x2 and y1 < y2")
        return self


class Label(BaseModel):
    snapshot_id: int
    revision: int
    status: Status
    boxes: list[Box]
    by: str
    ts: float


class HardExample(BaseModel):
    """A hard example as the labelling page lists it: the frame's origin, what the model saw, its label."""

    id: int
    device_id: str
    site: str
    camera: str
    ts: float
    stem: str
    detections: list[dict[str, Any]] = Field(description="The model's, in image pixels: label, score, box")
    model: Optional[dict[str, Any]] = None
    label: Optional[Label] = None


class LabelStore:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def hard_examples(self, status: Filter = "unlabelled", *, device_id: str | None = None, camera: str | None = None,
                      after_id: int = 0, limit: int = 50) -> list[HardExample]:
        """A page of hard examples in id order, by their label's state."""
        snaps = DATA_TABLES["snapshots"]
        query = _with_status(select(snaps.c.id, snaps.c.device_id, snaps.c.site, snaps.c.camera, snaps.c.ts,
                                    snaps.c.stem, snaps.c.detections, snaps.c.model, *_label_columns()), status)
        query = query.where(snaps.c.id > after_id).order_by(snaps.c.id).limit(limit)
        if device_id is not None:
            query = query.where(snaps.c.device_id == device_id)
        if camera is not None:
            query = query.where(snaps.c.camera == camera)
        with self._engine.connect() as conn:
            return [_example(row._mapping) for row in conn.execute(query)]

    def image(self, snapshot_id: int) -> bytes | None:
        """The JPEG of a hard example (None when there is no such hard example)."""
        snaps = DATA_TABLES["snapshots"]
        with self._engine.connect() as conn:
            return conn.execute(select(snaps.c.jpeg).where(snaps.c.id == snapshot_id,
                                                           snaps.c.reason == HARD_EXAMPLE)).scalar()

    def label(self, snapshot_id: int, status: Status, boxes: list[Box], by: str) -> Label:
        """Stores a new revision; ``deleted`` keeps no boxes, ``accepted``/``corrected`` need the frame's boxes
        (none is a valid answer: the frame shows nothing of the classes)."""
        if status == "deleted":
            boxes = []
        if len(boxes) > MAX_BOXES:
            raise LabelError(f"at most {MAX_BOXES} boxes per frame")
        snaps = DATA_TABLES["snapshots"]
        with self._engine.begin() as conn:
            if conn.execute(select(snaps.c.id).where(snaps.c.id == snapshot_id,
                                                     snaps.c.reason == HARD_EXAMPLE)).first() is None:
                raise NotFound(f"no hard example {snapshot_id}")
            label = Label(snapshot_id=snapshot_id, revision=_next_revision(conn, snapshot_id), status=status,
                          boxes=boxes, by=by, ts=self._clock())
            try:
                conn.execute(snapshot_labels.insert().values(**label.model_dump(mode="json")))
            except IntegrityError:  # someone labelled it in the same instant: theirs stands, this one is refused
                raise Conflict(f"hard example {snapshot_id} was labelled by someone else just now; "
                               "reload it and label again") from None
        return label

    def counts(self) -> dict[str, int]:
        """How many hard examples are unlabelled, labelled and deleted."""
        snaps = DATA_TABLES["snapshots"]
        with self._engine.connect() as conn:
            return {status: conn.execute(_with_status(select(func.count(snaps.c.id)), status)).scalar_one()
                    for status in ("unlabelled", "labelled", "deleted")}

    def labelled(self, since_id: int = 0) -> Iterator[tuple[HardExample, bytes]]:
        """Every accepted or corrected frame with its JPEG, in id order: what fine-tuning learns from."""
        after = since_id
        while page := self.hard_examples("labelled", after_id=after, limit=200):
            for example in page:
                jpeg = self.image(example.id)
                if jpeg is not None:
                    yield example, jpeg
            after = page[-1].id

def _with_status(query: Select[Any], status: Filter) -> Select[Any]:
    """``query`` over hard examples joined with their newest label, keeping those in ``status``."""
    snaps, labels = DATA_TABLES["snapshots"], snapshot_labels
    latest = (select(labels.c.snapshot_id, func.max(labels.c.revision).label("revision"))
              .group_by(labels.c.snapshot_id).subquery("latest"))
    query = query.select_from(
        snaps.outerjoin(latest, latest.c.snapshot_id == snaps.c.id)
        .outerjoin(labels, and_(labels.c.snapshot_id == snaps.c.id, labels.c.revision == latest.c.revision))
    ).where(snaps.c.reason == HARD_EXAMPLE)
    if status == "unlabelled":
        return query.where(latest.c.revision.is_(None))
    if status == "labelled":
        return query.where(labels.c.status.in_(("accepted", "corrected")))
    if status == "deleted":
        return query.where(labels.c.status == "deleted")
    return query


def _label_columns() -> list[Any]:
    c = snapshot_labels.c
    return [c.revision.label("l_revision"), c.status.label("l_status"), c.boxes.label("l_boxes"),
            c.by.label("l_by"), c.ts.label("l_ts")]


def _example(row: Any) -> HardExample:
    label = None
    if row["l_revision"] is not None:
        label = Label(snapshot_id=row["id"], revision=row["l_revision"], status=row["l_status"],
                      boxes=row["l_boxes"], by=row["l_by"], ts=row["l_ts"])
    return HardExample(id=row["id"], device_id=row["device_id"], site=row["site"], camera=row["camera"],
                       ts=row["ts"], stem=row["stem"], detections=row["detections"] or [], model=row["model"],
                       label=label)


def _next_revision(conn: Connection, snapshot_id: int) -> int:
    current = conn.execute(select(func.max(snapshot_labels.c.revision))
                           .where(snapshot_labels.c.snapshot_id == snapshot_id)).scalar()
    return (current or 0) + 1
