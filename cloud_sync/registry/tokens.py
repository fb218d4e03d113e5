"""Admin API tokens for scripts: ``Authorization: Bearer sgadm1.<id>.<secret>``, each with a role.

The token text is returned once; the database keeps its SHA-256 (a token is
256 random bits, so a fast hash is as good as a slow one and costs nothing per
request). A revoked token is refused from the next request on.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Optional

from pydantic import BaseModel
from sqlalchemy import Engine, select, update
from sqlalchemy.engine import RowMapping

from .errors import NotFound
from .roles import Role
from .tables import admin_tokens

PREFIX = "sgadm1"
TOUCH_EVERY_S = 60.0  # last_used_ts is written at most this often per token


class ApiToken(BaseModel):
    id: str
    label: str
    role: str
    created_by: str
    created_ts: float
    last_used_ts: Optional[float] = None
    revoked_ts: Optional[float] = None


class IssuedToken(ApiToken):
    token: str  # shown this once


class ApiTokens:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, label: str, role: Role, created_by: str) -> IssuedToken:
        token_id = secrets.token_hex(8)
        text = f"{PREFIX}.{token_id}.{secrets.token_urlsafe(32)}"
        row = {"id": token_id, "label": label, "role": role.label, "token_sha256": _digest(text),
               "created_by": created_by, "created_ts": self._clock(), "last_used_ts": None, "revoked_ts": None}
        with self._engine.begin() as conn:
            conn.execute(admin_tokens.insert().values(row))
        return IssuedToken(**_public(row), token=text)

    def list(self) -> list[ApiToken]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(admin_tokens).order_by(admin_tokens.c.created_ts)).mappings()
            return [ApiToken(**_public(row)) for row in rows]

    def revoke(self, token_id: str) -> ApiToken:
        """Refuses the token from now on (again: no change)."""
        with self._engine.begin() as conn:
            conn.execute(update(admin_tokens).where(admin_tokens.c.id == token_id, admin_tokens.c.revoked_ts.is_(None))
                         .values(revoked_ts=self._clock()))
            row = conn.execute(select(admin_tokens).where(admin_tokens.c.id == token_id)).mappings().first()
        if row is None:
            raise NotFound(f"no token {token_id!r}")
        return ApiToken(**_public(row))

    def authenticate(self, text: str) -> ApiToken | None:
        """The live token ``text`` is, or None."""
        if not text.startswith(PREFIX + "."):
            return None
        now = self._clock()
        with self._engine.connect() as conn:
            row = conn.execute(select(admin_tokens).where(admin_tokens.c.token_sha256 == _digest(text),
                                                          admin_tokens.c.revoked_ts.is_(None))).mappings().first()
        if row is None:
            return None
        token = ApiToken(**_public(row))
        if token.last_used_ts is None or now - token.last_used_ts >= TOUCH_EVERY_S:
            with self._engine.begin() as conn:
                conn.execute(update(admin_tokens).where(admin_tokens.c.id == token.id).values(last_used_ts=now))
            token.last_used_ts = now
        return token


def _public(row: RowMapping | dict[str, object]) -> dict[str, object]:
    return {name: row[name] for name in ApiToken.model_fields}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
