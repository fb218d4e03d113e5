"""What starts a pipeline's run, as stored with the pipeline and validated on PUT (``type`` tells them apart).

- ``schedule``: a cron expression (UTC), e.g. ``"0 3 * * *"`` daily at 03:00.
- ``labels``: at least ``min_new`` supervisor verdicts received since the pipeline's last run.
- ``drift``: a feature's PSI or KS statistic between the last done run's reference sample and what
  arrived since that run started is above ``threshold``, on at least ``min_samples`` new values.
- ``performance``: live performance from the verdicts of a recent window is too low: precision of the
  model's alarms (confirmed / (confirmed + false alarm)), or recall on confirmed alarms (the share of
  confirmed alarms of other kinds that one of the model's alarms on the same subject came with).
- ``manual``: the pipeline takes runs started from the API or the command line.

How each fires is :mod:`.firing`.
"""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleTrigger(_Trigger):
    type: Literal["schedule"] = "schedule"
    cron: str = Field(description="five-field cron expression, in UTC", examples=["0 3 * * *"])

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a five-field cron expression (minute hour day month weekday)")
        return value


class LabelsTrigger(_Trigger):
    type: Literal["labels"] = "labels"
    min_new: int = Field(ge=1, le=10_000_000, description="verdicts received since the last run")


class DriftTrigger(_Trigger):
    type: Literal["drift"] = "drift"
    method: Literal["psi", "ks"] = "psi"
    threshold: float = Field(0.2, gt=0, description="PSI, or the KS statistic (0..1), above which it fires")
    min_samples: int = Field(100, ge=1, description="new values a feature needs before it is compared")
    features: list[str] = Field(default_factory=list, description="the features compared; empty: all")


class PerformanceTrigger(_Trigger):
    type: Literal["performance"] = "performance"
    window_s: float = Field(7 * 86400.0, gt=0, description="verdicts received this recently count")
    min_verdicts: int = Field(20, ge=1, description="verdicts a figure needs before it counts")
    alarm_kinds: list[str] = Field(min_length=1, description="the alarm kinds the pipeline's model raises")
    min_precision: Optional[float] = Field(None, ge=0, le=1)
    min_recall: Optional[float] = Field(None, ge=0, le=1)
    match_s: float = Field(600.0, gt=0, description="a model alarm this close to a confirmed alarm caught it")

    @model_validator(mode="after")
    def _a_threshold(self) -> PerformanceTrigger:
        if self.min_precision is None and self.min_recall is None:
            raise ValueError("a performance trigger needs min_precision, min_recall or both")
        return self


class ManualTrigger(_Trigger):
    type: Literal["manual"] = "manual"


Trigger = Annotated[Union[ScheduleTrigger, LabelsTrigger, DriftTrigger, PerformanceTrigger, ManualTrigger],
                    Field(discriminator="type")]
