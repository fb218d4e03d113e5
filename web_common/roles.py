"""The base of each app's role enum: the toolkit needs only the roles' order and their names.

The edge has viewer < supervisor < admin, the cloud viewer < operator < admin;
both subclass :class:`OrderedRole`, so guards compare roles and messages and
OpenAPI name them the same way.
"""
from __future__ import annotations

import enum
from typing import TypeVar

R = TypeVar("R", bound="OrderedRole")


class OrderedRole(enum.IntEnum):
    """A role that can do everything the roles of lower value can."""

    @classmethod
    def parse(cls: type[R], name: str) -> R:
        return cls[name.upper()]

    @property
    def label(self) -> str:
        """The lower-case name, as APIs, settings and messages spell it."""
        return self.name.lower()
