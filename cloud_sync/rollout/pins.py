"""Pinned desired versions outside rollouts: per device, device type, hardware profile or site.

The most specific pin of a slot wins (records.SCOPES order). A device's own
pin also wins over rollouts (an admin holding one device back), so a new
rollout leaves device-pinned devices out of its targets; group pins are the
baseline rollouts start from.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from cloud_sync.registry.devices import Device
from cloud_sync.registry.errors import NotFound

from .records import SCOPES, Pin, PinIn
from .selectors import ProfileMatch
from .tables import model_pins


class PinStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def set(self, pin: PinIn, by: str) -> Pin:
        row = {"slot": pin.slot, "scope": pin.scope, "key": pin.stored_key(), "model": pin.model,
               "version": pin.version, "set_by": by, "set_ts": self._clock()}
        insert = (postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert)(model_pins)
        with self._engine.begin() as conn:
            conn.execute(insert.values(row).on_conflict_do_update(
                index_elements=[model_pins.c.slot, model_pins.c.scope, model_pins.c.key],
                set_={k: row[k] for k in ("model", "version", "set_by", "set_ts")}))
        return Pin.model_validate(row)

    def clear(self, slot: str, scope: str, key: str) -> None:
        with self._engine.begin() as conn:
            gone = conn.execute(delete(model_pins).where(
                model_pins.c.slot == slot, model_pins.c.scope == scope, model_pins.c.key == key)).rowcount
        if not gone:
            raise NotFound(f"no {scope} pin {key!r} for the {slot} slot")

    def list(self) -> list[Pin]:
        query = select(model_pins).order_by(model_pins.c.slot, model_pins.c.scope, model_pins.c.key)
        with self._engine.connect() as conn:
            return [Pin.model_validate(dict(r)) for r in conn.execute(query).mappings()]


def pin_for(device: Device, slot: str, pins: list[Pin]) -> Pin | None:
    """The pin of ``slot`` that applies to ``device``: its most specific one, or None."""
    applying = [p for p in pins if p.slot == slot and _applies(p, device)]
    return min(applying, key=lambda p: SCOPES.index(p.scope), default=None)


def _applies(pin: Pin, device: Device) -> bool:
    if pin.scope == "profile":
        return ProfileMatch.from_key(pin.key).matches(device.profile)
    return pin.key == {"device": device.id, "device_type": device.device_type, "site": device.site}[pin.scope]
