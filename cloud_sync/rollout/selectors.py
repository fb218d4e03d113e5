"""Which devices a rollout or a pin is for: sites, device types, explicit ids and hardware-profile fields.

Every criterion given must hold (a device of one of the sites *and* one of the
types ...); a list matches any of its entries; an empty selector is the whole
fleet. A profile's TensorRT or CUDA version matches by prefix ("8.6" matches
"8.6.2"), as a builder targets a release line, not a patch.
"""
from __future__ import annotations

import json
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from cloud_sync.registry.devices import Device
from cloud_sync.registry.profile import HardwareProfile

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
VersionPrefix = Field(None, pattern=r"^[0-9][0-9A-Za-z.+-]{0,31}$")
MAX_IDS = 10_000


class ProfileMatch(BaseModel):
    """Hardware-profile fields a device must have (those left out match any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cpu_arch: Optional[Literal["aarch64", "armv7l", "x86_64"]] = None
    accelerator: Optional[Literal["none", "cuda", "edgetpu", "hailo"]] = None
    gpu_compute_capability: Optional[str] = Field(None, pattern=r"^[0-9]{1,2}\.[0-9]$")
    tensorrt: Optional[str] = VersionPrefix
    cuda: Optional[str] = VersionPrefix

    def matches(self, profile: HardwareProfile) -> bool:
        return ((self.cpu_arch is None or profile.cpu_arch == self.cpu_arch)
                and (self.accelerator is None or profile.accelerator == self.accelerator)
                and (self.gpu_compute_capability is None
                     or profile.gpu_compute_capability == self.gpu_compute_capability)
                and _prefix(self.tensorrt, profile.runtimes.tensorrt) and _prefix(self.cuda, profile.runtimes.cuda))

    def key(self) -> str:
        """The canonical text of this match: how a profile pin is stored and named."""
        return json.dumps(self.model_dump(exclude_none=True), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_key(cls, key: str) -> ProfileMatch:
        return cls.model_validate_json(key)


class Selector(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sites: list[Id] = Field(default_factory=list, max_length=MAX_IDS)
    device_types: list[Id] = Field(default_factory=list, max_length=MAX_IDS)
    devices: list[Id] = Field(default_factory=list, max_length=MAX_IDS, description="explicit device ids")
    profile: Optional[ProfileMatch] = None

    def matches(self, device: Device) -> bool:
        return ((not self.sites or device.site in self.sites)
                and (not self.device_types or device.device_type in self.device_types)
                and (not self.devices or device.id in self.devices)
                and (self.profile is None or self.profile.matches(device.profile)))


def _prefix(wanted: str | None, installed: str | None) -> bool:
    if wanted is None:
        return True
    return installed is not None and (installed == wanted or installed.startswith(wanted + "."))
