"""Dashboard roles, ordered: each can do everything the ones below it can."""
from __future__ import annotations

import enum


class Role(enum.IntEnum):
    VIEWER = 1  # watches: map, alarms, cameras, history
    SUPERVISOR = 2  # also acknowledges, gives verdicts, shelves, runs zone actions
    ADMIN = 3  # also manages accounts

    @classmethod
    def parse(cls, name: str) -> "Role":
        return cls[name.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()
