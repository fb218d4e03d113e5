"""The supervisor dashboard: accounts, sessions, shifts and live-update settings."""
from __future__ import annotations

import re
from importlib.util import find_spec
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from .base import StrictModel

Role = Literal["viewer", "supervisor", "admin"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Account(StrictModel):
    """A dashboard account kept in the site file (others can live in SQLite: ``siteguard accounts``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$", description="Login name, recorded on every action")
    display_name: str = ""
    role: Role = Field(description="viewer: read only; supervisor: alarms and zone actions; admin: also accounts")
    password_hash: str = Field(
        description="argon2id or bcrypt hash, never the password: make one with `siteguard accounts hash`"
    )

    @field_validator("password_hash")
    @classmethod
    def _hashed(cls, v: str) -> str:
        if not v.startswith(("$argon2id$", "$argon2i$", "$2b$", "$2a$", "$2y$")):
            raise ValueError("not an argon2 or bcrypt hash (make one with `siteguard accounts hash`)")
        if v.startswith("$2") and find_spec("bcrypt") is None:
            raise ValueError("a bcrypt hash needs the bcrypt package (pip install bcrypt), or use argon2")
        return v


class Shift(StrictModel):
    """A named shift in site local time; one whose end is before its start runs past midnight."""

    name: str = Field(pattern=r"^[A-Za-z0-9_ .-]{1,32}$")
    start: str = Field(description="HH:MM, site local time")
    end: str = Field(description="HH:MM, site local time")

    @field_validator("start", "end")
    @classmethod
    def _time(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError("expected HH:MM (24 h)")
        return v


class DashboardSettings(StrictModel):
    enabled: bool = Field(True, description="Serve the supervisor dashboard and its API beside the health endpoints")
    accounts: tuple[Account, ...] = ()
    timezone: str = Field("UTC", description="IANA time zone of the site: shifts and reports use its local time")
    shifts: tuple[Shift, ...] = (Shift(name="day", start="06:00", end="18:00"), Shift(name="night", start="18:00", end="06:00"))
    session_idle_s: float = Field(8 * 3600.0, gt=0, description="A session unused this long ends")
    session_max_s: float = Field(14 * 3600.0, gt=0, description="A session ends this long after login, used or not")
    cookie_secure: bool = Field(False, description="Mark the session cookie Secure (set when served over HTTPS)")
    login_attempts: int = Field(5, ge=1, description="Failed logins per client address before it must wait")
    login_lockout_s: float = Field(60.0, gt=0, description="The wait after too many failed logins")
    metrics_token_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of a bearer token Prometheus may use for /metrics without a session",
    )
    push_interval_s: float = Field(1.0, gt=0, le=10, description="How often live clients get worker positions")
    stale_after_s: float = Field(5.0, gt=0, description="The page marks its data stale after this long without an update")
    max_live_clients: int = Field(200, ge=1, description="Live-update connections served at once")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("shifts")
    @classmethod
    def _shifts(cls, v: tuple[Shift, ...]) -> tuple[Shift, ...]:
        names = [s.name for s in v]
        if len(set(names)) != len(names):
            raise ValueError("shift names must be unique")
        return v
