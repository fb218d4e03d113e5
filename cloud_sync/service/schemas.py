"""Request and answer models of the admin API that are not registry models themselves.

Request models forbid unknown fields: a misspelt field is a 422 naming it,
not a silently ignored change.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from cloud_sync.registry.devices import Device, DeviceKey, IssuedCredential
from cloud_sync.registry.heartbeats import DeviceStatus
from cloud_sync.registry.tokens import ApiToken

RoleName = Literal["viewer", "operator", "admin"]
AccountName = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Request):
    name: str = AccountName
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    name: str
    display_name: str
    role: RoleName
    csrf_token: str = Field(description="Send it back in the X-CSRF-Token header of every change")
    expires_ts: Optional[float] = Field(description="absent for an API token: it lasts until revoked")


class AccountIn(Request):
    name: str = AccountName
    display_name: str = Field("", max_length=200)
    role: RoleName
    password: str = Field(min_length=10, max_length=1024)


class AccountOut(BaseModel):
    name: str
    display_name: str
    role: RoleName


class AccountList(BaseModel):
    accounts: list[AccountOut]


class TokenIn(Request):
    label: str = Field(min_length=1, max_length=200, description="what the token is for, e.g. 'CI deploys'")
    role: RoleName


class TokenList(BaseModel):
    tokens: list[ApiToken]


class DeviceView(Device):
    """A device with its latest heartbeat: ``status`` is absent until it sends one."""

    status: Optional[DeviceStatus] = None


class DeviceList(BaseModel):
    devices: list[DeviceView]


class Registered(BaseModel):
    device: Device
    credential: IssuedCredential = Field(description="shown this once: write it to the device's credential file")


class RotateIn(Request):
    revoke_old: bool = Field(False, description="refuse the old keys at once instead of after the overlap")


class KeyList(BaseModel):
    keys: list[DeviceKey]
