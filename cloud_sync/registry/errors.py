"""The registry's exception root and the two ways a change is refused (the API answers 404 and 409)."""
from __future__ import annotations


class RegistryError(Exception):
    """A registry operation that cannot be done; the message says why and is safe to show an admin."""


class NotFound(RegistryError):
    pass


class Conflict(RegistryError):
    """The change contradicts what is stored (a taken name, a decommissioned device)."""
