"""Roles of the cloud's admins, ordered: each can do everything the ones below it can."""
from __future__ import annotations

import enum


class Role(enum.IntEnum):
    VIEWER = 1  # reads the fleet, sync history, definitions and datasets
    OPERATOR = 2  # also registers and changes devices, their credentials and data definitions
    ADMIN = 3  # also manages admin accounts and API tokens

    @classmethod
    def parse(cls, name: str) -> Role:
        return cls[name.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()
