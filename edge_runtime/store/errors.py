"""The store's exception root."""
from __future__ import annotations


class StoreError(RuntimeError):
    """The database could not be opened, migrated or read."""
