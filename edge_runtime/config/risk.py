"""The ``risk:`` section: the edge's risk scorer (edge_runtime/risk) and how it judges a candidate in shadow."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from .base import StrictModel


class RiskSettings(StrictModel):
    enabled: bool = Field(True, description="Score every alarm with the active risk model (none until one is installed)")
    model: Path | None = Field(
        None, description="A risk model package to start with while the update agent has installed none")
    threads: int = Field(1, ge=1, le=8, description="Intra-op threads of the risk model's runtime")
    queue: int = Field(256, ge=8, le=100_000, description="Scoring jobs waiting at most; the oldest are shed beyond")
    shadow_every_s: float = Field(
        2.0, gt=0, le=60, description="During a shadow run, how often the rostered workers' current windows are scored")
    min_confirmed: int = Field(
        5, ge=1, description="Confirmed alarms needed before a shadow run may call a candidate's recall a regression")
    recall_margin: float = Field(
        0.1, ge=0, le=1, description="A candidate flagging a smaller share of confirmed alarms than this below the "
        "active model's is a regression")
    error_limit: int = Field(3, ge=1, description="Scoring failures after a switch that make the model unhealthy")
