"""The fleet registry: devices, their profiles and their signing keys.

Registering a device issues its first credential (:class:`DeviceCredential`):
the text is returned once and only the public key is stored. Rotating issues a
new key and leaves the old ones working for ``key_overlap_s`` (a device picks
up its new credential without a gap), or revokes them at once on request.
Revoking a key refuses it from the next request on. Decommissioning keeps the
device, its keys and its data, and makes every request of it answer 403.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from cloud_sync.contract.signing import DeviceCredential

from .errors import Conflict, NotFound
from .profile import HardwareProfile
from .tables import device_keys, devices

KEY_OVERLAP_S = 3600.0  # how long a rotated-out key keeps working unless revoked
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class DeviceIn(BaseModel):
    """A device to register."""

    model_config = ConfigDict(extra="forbid")
    id: Id
    site: Id
    name: Name
    device_type: Id = Field(description="selects the device's data definitions")
    profile: HardwareProfile


class DevicePatch(BaseModel):
    """Fields to change; those left out (or null) stay as they are."""

    model_config = ConfigDict(extra="forbid")
    site: Optional[Id] = None
    name: Optional[Name] = None
    device_type: Optional[Id] = None
    profile: Optional[HardwareProfile] = None


class Device(BaseModel):
    id: str
    site: str
    name: str
    device_type: str
    profile: HardwareProfile
    created_ts: float
    updated_ts: float
    decommissioned_ts: Optional[float] = None


class DeviceKey(BaseModel):
    """A signing key as the registry knows it (never the private half)."""

    key_id: str
    created_ts: float
    expires_ts: Optional[float] = Field(None, description="set when a rotation left it working for an overlap")
    revoked_ts: Optional[float] = None


class IssuedCredential(BaseModel):
    """A new credential: ``credential`` is shown this once, for the device's credential file."""

    device: str
    key_id: str
    credential: str


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key and the device it signs for, as device authentication needs them."""

    device: Device
    key_id: str
    public_key: str
    expires_ts: float | None
    revoked_ts: float | None

    def usable(self, now: float) -> bool:
        return self.revoked_ts is None and (self.expires_ts is None or now < self.expires_ts)


class DeviceRegistry:
    """Registers, changes and decommissions devices; issues, rotates and revokes their keys."""

    def __init__(self, engine: Engine, *, key_overlap_s: float = KEY_OVERLAP_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._overlap_s = key_overlap_s
        self._clock = clock

    def register(self, new: DeviceIn) -> tuple[Device, IssuedCredential]:
        """Adds the device with its first key; :class:`Conflict` if the id is taken."""
        now = self._clock()
        row = {**new.model_dump(mode="json"), "created_ts": now, "updated_ts": now, "decommissioned_ts": None}
        try:
            with self._engine.begin() as conn:
                conn.execute(devices.insert().values(row))
                issued = _issue(conn, new.id, now)
        except IntegrityError:
            raise Conflict(f"device {new.id!r} is already registered") from None
        return _device(row), issued

    def get(self, device_id: str) -> Device:
        with self._engine.connect() as conn:
            return _device(_device_row(conn, device_id))

    def list(self, site: str | None = None) -> list[Device]:
        """Every device (decommissioned ones too), by id; only ``site``'s when given."""
        query = select(devices).order_by(devices.c.id)
        if site is not None:
            query = query.where(devices.c.site == site)
        with self._engine.connect() as conn:
            return [_device(row) for row in conn.execute(query).mappings()]

    def update(self, device_id: str, patch: DevicePatch) -> Device:
        """Changes the fields ``patch`` sets; :class:`Conflict` once the device is decommissioned."""
        changes = patch.model_dump(mode="json", exclude_none=True)
        with self._engine.begin() as conn:
            _live(_device_row(conn, device_id))
            if changes:
                conn.execute(update(devices).where(devices.c.id == device_id)
                             .values(**changes, updated_ts=self._clock()))
            return _device(_device_row(conn, device_id))

    def decommission(self, device_id: str) -> Device:
        """Refuses the device from now on, keeping it and its data (again: no change)."""
        with self._engine.begin() as conn:
            _device_row(conn, device_id)
            now = self._clock()
            conn.execute(update(devices).where(devices.c.id == device_id, devices.c.decommissioned_ts.is_(None))
                         .values(decommissioned_ts=now, updated_ts=now))
            return _device(_device_row(conn, device_id))

    def rotate(self, device_id: str, *, revoke_old: bool = False) -> IssuedCredential:
        """A new key; the old ones keep working for the overlap, or stop at once with ``revoke_old``."""
        now = self._clock()
        with self._engine.begin() as conn:
            _live(_device_row(conn, device_id))
            old = and_(device_keys.c.device_id == device_id, device_keys.c.revoked_ts.is_(None))
            if revoke_old:
                conn.execute(update(device_keys).where(old).values(revoked_ts=now))
            else:
                conn.execute(update(device_keys).where(old, or_(
                    device_keys.c.expires_ts.is_(None), device_keys.c.expires_ts > now + self._overlap_s,
                )).values(expires_ts=now + self._overlap_s))
            return _issue(conn, device_id, now)

    def revoke(self, device_id: str, key_id: str) -> DeviceKey:
        """Refuses the key from the next request on (again: no change)."""
        with self._engine.begin() as conn:
            this = and_(device_keys.c.device_id == device_id, device_keys.c.key_id == key_id)
            conn.execute(update(device_keys).where(this, device_keys.c.revoked_ts.is_(None))
                         .values(revoked_ts=self._clock()))
            row = conn.execute(select(device_keys).where(this)).mappings().first()
        if row is None:
            raise NotFound(f"device {device_id!r} has no key {key_id!r}")
        return DeviceKey.model_validate(dict(row))

    def keys(self, device_id: str) -> list[DeviceKey]:
        """The device's keys, oldest first."""
        with self._engine.connect() as conn:
            _device_row(conn, device_id)
            rows = conn.execute(select(device_keys).where(device_keys.c.device_id == device_id)
                                .order_by(device_keys.c.created_ts, device_keys.c.key_id)).mappings()
            return [DeviceKey.model_validate(dict(row)) for row in rows]

    def signing_key(self, device_id: str, key_id: str) -> SigningKey | None:
        """The key ``key_id`` of ``device_id`` with its device, or None if there is no such key."""
        query = (select(devices, device_keys.c.public_key, device_keys.c.expires_ts.label("key_expires_ts"),
                        device_keys.c.revoked_ts)
                 .join(device_keys, device_keys.c.device_id == devices.c.id)
                 .where(devices.c.id == device_id, device_keys.c.key_id == key_id))
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return SigningKey(_device(row), key_id, row["public_key"], row["key_expires_ts"], row["revoked_ts"])


def _issue(conn: Connection, device_id: str, now: float) -> IssuedCredential:
    credential = DeviceCredential.generate(device_id)
    conn.execute(device_keys.insert().values(key_id=credential.key_id, device_id=device_id,
                                             public_key=credential.public_key(), created_ts=now))
    return IssuedCredential(device=device_id, key_id=credential.key_id, credential=credential.text())


def _device_row(conn: Connection, device_id: str) -> RowMapping:
    row = conn.execute(select(devices).where(devices.c.id == device_id)).mappings().first()
    if row is None:
        raise NotFound(f"no device {device_id!r}")
    return row


def _live(row: RowMapping) -> None:
    if row["decommissioned_ts"] is not None:
        raise Conflict(f"device {row['id']!r} is decommissioned")


def _device(row: RowMapping | dict[str, Any]) -> Device:
    return Device.model_validate({name: row[name] for name in Device.model_fields})
