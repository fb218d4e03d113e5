"""Nonces of signed device requests, kept with a unique key until their timestamp is stale anyway.

The unique constraint decides, not a lookup before the insert: two replicas
given the same request at the same instant cannot both claim its nonce.
"""
from __future__ import annotations

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError

from .tables import device_nonces


class NonceLedger:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, device_id: str, nonce: str, expires_ts: float) -> bool:
        """True the first time ``nonce`` of ``device_id`` is claimed, False for a replay."""
        try:
            with self._engine.begin() as conn:
                conn.execute(device_nonces.insert().values(device_id=device_id, nonce=nonce, expires_ts=expires_ts))
        except IntegrityError:
            return False
        return True

    def prune(self, now: float) -> int:
        """Forgets nonces whose requests would be refused as stale now; how many."""
        with self._engine.begin() as conn:
            return conn.execute(delete(device_nonces).where(device_nonces.c.expires_ts < now)).rowcount
