"""The cloud model registry (#11): signed package versions with lineage, aliases (``champion``,
``candidate``), package storage, the append-only record of what ran on which device when, and the
try-out API (``/models/{name}/{version}/predict``).

- :mod:`.registry`: :class:`ModelRegistry`, the library (versions, lineage, aliases, activity);
- :mod:`.store`: verified package copies under ``<store>/<name>/<version>/``;
- :mod:`.activity`: the append-only activity record and its point-in-time query;
- :mod:`.config`: trusted keys, the cloud's signing key, cache and size limits, from the environment;
- :mod:`.cache`, :mod:`.runners`, :mod:`.predict`: models kept loaded (LRU) and run off the event loop;
- :mod:`.api`: the admin routes; :mod:`.client`: ``siteguard cloud predict`` over HTTP.
"""
from __future__ import annotations

from .errors import BadInput, DuplicateVersion, ModelNotFound, ModelRegistryError, PackageRefused
from .records import ActiveModel, Alias, AliasChange, LineageStep, ModelRef, ModelVersion
from .registry import ModelRegistry

__all__ = [
    "ActiveModel", "Alias", "AliasChange", "BadInput", "DuplicateVersion", "LineageStep", "ModelNotFound", "ModelRef",
    "ModelRegistry", "ModelRegistryError", "ModelVersion", "PackageRefused",
]
