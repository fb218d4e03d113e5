"""The ``sync:`` section: where the cloud is, who this device is to it, and how the outbox drains.

docs/sync.md is the HTTP contract; docs/sync_agent.md how the edge agent
follows it. The device credential is a secret: it lives in its own file
(``credential_file``, or the environment variable ``SITEGUARD_DEVICE_CREDENTIAL``
which overrides it), never in the site file, and it is checked at start-up:
one issued to another device would have every request refused.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from cloud_sync.contract.signing import DeviceCredential

from .base import ConfigError, StrictModel

CREDENTIAL_ENV = "SITEGUARD_DEVICE_CREDENTIAL"
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def window_minutes(window: str) -> tuple[int, int]:
    """``"HH:MM-HH:MM"`` as (start, end) minutes of the day; an end before the start runs past midnight."""
    match = _WINDOW.match(window)
    if match is None:
        raise ValueError(f"{window!r} is not a window HH:MM-HH:MM (24 h)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"{window!r} is empty; leave the schedule empty to send at any time")
    return start, end


class LaneSettings(StrictModel):
    """One priority lane's share of the uplink: a cap on its compressed bytes and the hours it may send."""

    bandwidth_bytes_per_s: int | None = Field(
        None, gt=0, description="Cap on the lane's compressed bytes per second, averaged (null: unlimited)"
    )
    schedule: tuple[str, ...] = Field(
        (), description="Windows HH:MM-HH:MM in the site's local time (dashboard.timezone) when the lane may send; "
        "22:00-06:00 runs past midnight; empty: at any time. Outside them its backlog waits (and still counts)",
    )

    @field_validator("schedule")
    @classmethod
    def _windows(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for window in v:
            window_minutes(window)
        return v


class SyncLanes(StrictModel):
    """Each lane's own cap and schedule: a lane never waits for another lane's."""

    events: LaneSettings = Field(
        LaneSettings(), description="Alarms, transitions, verdicts and zone actions: at any time, unlimited by default"
    )
    bulk: LaneSettings = Field(LaneSettings(), description="Exposure minutes and readings")
    snapshots: LaneSettings = Field(
        LaneSettings(schedule=("22:00-06:00",)), description="Camera snapshots (hard examples): at night by default"
    )

    @field_validator("events")
    @classmethod
    def _events_never_wait(cls, v: LaneSettings) -> LaneSettings:
        if v.schedule:
            raise ValueError("alarms and what people did about them are never held by a schedule; "
                             "leave events.schedule empty")
        return v


class SyncSettings(StrictModel):
    """Upload of the outbox to the cloud by the sync agent, a child process off the alarm path."""

    enabled: bool = Field(False, description="Run the sync agent")
    url: str | None = Field(None, description="The cloud's base URL, e.g. https://cloud.example.com (required when enabled)")
    credential_file: Path | None = Field(
        None, description=f"File holding this device's credential (sgdev1...); ${CREDENTIAL_ENV} overrides it. "
        "It must be issued to this site file's device_id",
    )
    max_rows: int = Field(20_000, ge=1, le=1_000_000, description="Rows per batch at most (all tables of a lane)")
    max_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024,
        description="Stored bytes per batch at most, before compression (a snapshot counts its JPEG)",
    )
    max_age_s: float = Field(
        5.0, gt=0, description="A bulk or snapshot batch smaller than max_rows goes once its oldest row is this old "
        "(events always go at once)",
    )
    max_in_flight: int = Field(
        2, ge=1, le=8, description="Batches on the wire before the first is answered: the next is read and encoded "
        "while the cloud stores the previous one (1: one at a time). Marks still move only on receipts, in order",
    )
    heartbeat_interval_s: float = Field(30.0, gt=0, description="How often the agent reports to the cloud, "
                                        "also while batches fail")
    request_timeout_s: float = Field(30.0, gt=0, description="A request not answered within this is a failure")
    failures_to_open: int = Field(5, ge=1, description="Failed batch requests in a row that open the circuit breaker")
    open_s: float = Field(60.0, gt=0, description="The breaker stays open this long, then one request tries again")
    retry_initial_s: float = Field(1.0, gt=0, description="First delay after a failed request (doubles, with jitter)")
    retry_max_s: float = Field(60.0, gt=0, description="Longest delay between failed requests")
    poll_s: float = Field(0.5, gt=0, le=10, description="How often an idle agent looks for new rows")
    lanes: SyncLanes = Field(SyncLanes(), description="Bandwidth cap and schedule of each priority lane")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None:
            parts = urlsplit(v)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise ValueError("expected an http(s) base URL without query or fragment")
        return v

    @model_validator(mode="after")
    def _complete(self) -> SyncSettings:
        if self.enabled and self.url is None:
            raise ConfigError([("url", "sync is enabled: the cloud's URL is required")])
        if self.retry_max_s < self.retry_initial_s:
            raise ConfigError([("retry_max_s", "must be at least retry_initial_s")])
        return self

    def credential_text(self, environ: Mapping[str, str] = os.environ) -> str:
        """The credential's secret text, from the environment or the file; ValueError says what is missing."""
        if text := environ.get(CREDENTIAL_ENV, "").strip():
            return text
        if self.credential_file is None:
            raise ValueError(f"sync is enabled: set credential_file or ${CREDENTIAL_ENV}")
        try:
            return self.credential_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {self.credential_file}: {exc}") from None

    def credential(self, device_id: str, environ: Mapping[str, str] = os.environ) -> DeviceCredential:
        """This device's parsed credential; ValueError when missing, malformed or issued to another device."""
        credential = DeviceCredential.parse(self.credential_text(environ))
        if credential.device != device_id:
            raise ValueError(f"the credential is issued to device {credential.device!r}, this is {device_id!r}")
        return credential
