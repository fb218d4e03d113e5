"""The model registry: signed package versions with their lineage, aliases, and what ran on each device.

::

    registry = ModelRegistry(engine, store_dir)
    v = registry.register("pkg.tar", trusted_keys, by="ada")      # verified, stored, immutable
    registry.set_alias(v.name, "candidate", v.version, by="pipeline")
    registry.lineage(v.name, v.version)                           # the version, then its parents
    registry.record_activity("gw-1", heartbeat.models, server_ts, from_ts=heartbeat.ts)
    registry.running_at("gw-1", ts)                               # per slot, with lineage

A version is registered inside one transaction: its row is inserted first
(the primary key claims the version, so a duplicate is refused even when two
uploads race), the verified package is renamed into the store, then the
transaction commits; if anything fails the row is rolled back and the
directory removed. The activity record lives in :mod:`.activity`.
"""
from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from .activity import ActivityLog, ReportedModel
from .errors import DuplicateVersion, ModelNotFound, ModelRegistryError
from .records import ActiveModel, Alias, AliasChange, LineageStep, ModelVersion
from .store import PackageStore
from .tables import model_alias_history, model_aliases, model_versions

ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
MAX_LINEAGE = 200  # generations walked at most; a longer chain is cut there
HISTORY_LIMIT = 200


class ModelRegistry:
    def __init__(self, engine: Engine, store_dir: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        self.store = PackageStore(Path(store_dir))
        self.activity = ActivityLog(engine, clock=clock)

    # -- versions

    def register(self, source: str | Path, trusted_keys: Mapping[str, bytes], by: str, *,
                 run_id: str | None = None, data_snapshot_id: str | None = None) -> ModelVersion:
        """Verifies the package at ``source`` (directory or .tar) and stores it as a new version.

        ``run_id`` defaults to the manifest's ``training_run_id``. Raises
        :class:`PackageRefused` (unsigned, untrusted key, tampered, malformed)
        or :class:`DuplicateVersion`.
        """
        with self.store.staged(source, trusted_keys) as package:
            m = package.manifest
            row = {
                "name": m.name, "version": m.version, "task": m.task, "run_id": run_id or m.training_run_id,
                "data_snapshot_id": data_snapshot_id, "parent_version": m.parent_version,
                "metrics": dict(m.metrics), "manifest": m.model_dump(mode="json"),
                "manifest_sha256": hashlib.sha256(m.canonical()).hexdigest(),
                "package_path": f"{m.name}/{m.version}", "created_ts": self._clock(), "created_by": by,
            }
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(model_versions).values(row))
                    try:
                        self.store.commit(package)
                    except OSError as exc:
                        raise ModelRegistryError(f"{m.name} {m.version}: cannot store the package: {exc}") from None
            except BaseException as exc:
                if package.root.parent == self.store.path_of(m.name):  # moved into place, never committed
                    self.store.remove(row["package_path"])
                if isinstance(exc, IntegrityError):
                    raise DuplicateVersion(f"{m.name} {m.version} is registered already; versions are immutable, "
                                           "register a new version") from None
                raise
        return ModelVersion.model_validate(row)

    def get(self, name: str, version: str) -> ModelVersion:
        with self._engine.connect() as conn:
            row = _version_row(conn, name, version)
        if row is None:
            raise ModelNotFound(f"no model {name} version {version}")
        return ModelVersion.model_validate(dict(row))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first (registration order); [] for an unknown name."""
        query = (select(model_versions).where(model_versions.c.name == name)
                 .order_by(model_versions.c.created_ts, model_versions.c.version))
        with self._engine.connect() as conn:
            return [ModelVersion.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    def names(self) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.execute(select(model_versions.c.name).distinct().order_by(model_versions.c.name))
                        .scalars())

    def package_dir(self, version: ModelVersion) -> Path:
        return self.store.path_of(version.package_path)

    def lineage(self, name: str, version: str) -> list[LineageStep]:
        """``version`` and then each parent the manifests name, with their runs and data snapshots.

        The walk stops at a version without a parent, at a parent never
        registered (listed with ``registered`` false), at a cycle, or after
        :data:`MAX_LINEAGE` generations.
        """
        steps: list[LineageStep] = []
        seen: set[str] = set()
        current: str | None = version
        with self._engine.connect() as conn:
            while current is not None and current not in seen and len(steps) < MAX_LINEAGE:
                seen.add(current)
                row = _version_row(conn, name, current)
                if row is None:
                    if not steps:
                        raise ModelNotFound(f"no model {name} version {version}")
                    steps.append(LineageStep(version=current, registered=False))
                    break
                steps.append(LineageStep(
                    version=current, registered=True, run_id=row["run_id"], data_snapshot_id=row["data_snapshot_id"],
                    parent_version=row["parent_version"], created_ts=row["created_ts"],
                    created_by=row["created_by"], metrics=row["metrics"],
                ))
                current = row["parent_version"]
        return steps

    # -- aliases

    def set_alias(self, name: str, alias: str, version: str, by: str) -> Alias:
        """Points ``alias`` (champion, candidate...) at a registered version and appends the move to its history."""
        if not ALIAS_PATTERN.match(alias):
            raise ModelRegistryError(f"alias {alias!r}: use 1-64 of a-z 0-9 _ - starting with a letter")
        now = self._clock()
        with self._engine.begin() as conn:
            if _version_row(conn, name, version) is None:
                raise ModelNotFound(f"no model {name} version {version}")
            previous = conn.execute(select(model_aliases.c.version).where(
                model_aliases.c.name == name, model_aliases.c.alias == alias)).scalar()
            row = {"name": name, "alias": alias, "version": version, "updated_ts": now, "updated_by": by}
            upsert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(model_aliases)
            stmt = upsert.values(row)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[model_aliases.c.name, model_aliases.c.alias],
                set_={k: stmt.excluded[k] for k in ("version", "updated_ts", "updated_by")},
            ))
            conn.execute(insert(model_alias_history).values(
                name=name, alias=alias, version=version, previous_version=previous, ts=now, by=by))
        return Alias(alias=alias, version=version, updated_ts=now, updated_by=by)

    def alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at."""
        with self._engine.connect() as conn:
            version = conn.execute(select(model_aliases.c.version).where(
                model_aliases.c.name == name, model_aliases.c.alias == alias)).scalar()
        if version is None:
            raise ModelNotFound(f"model {name} has no alias {alias!r}")
        return self.get(name, version)

    def aliases(self, name: str) -> list[Alias]:
        query = select(model_aliases).where(model_aliases.c.name == name).order_by(model_aliases.c.alias)
        with self._engine.connect() as conn:
            return [Alias.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    def alias_history(self, name: str, alias: str | None = None, *, limit: int = HISTORY_LIMIT) -> list[AliasChange]:
        """Moves of ``name``'s aliases (or of one), newest first."""
        query = select(model_alias_history).where(model_alias_history.c.name == name)
        if alias is not None:
            query = query.where(model_alias_history.c.alias == alias)
        query = query.order_by(model_alias_history.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [AliasChange.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    # -- what ran where

    def record_activity(self, device_id: str, models: Mapping[str, ReportedModel], reported_ts: float, *,
                        from_ts: float | None = None, keep: Collection[str] = ()) -> int:
        """Appends a row for each slot whose model changed since the device's last row; the count appended.

        ``reported_ts`` is the server's time of the report, ``from_ts`` the
        device's (its heartbeat's ``ts``; default ``reported_ts``); slots in
        ``keep`` are left as they are when not reported (:meth:`ActivityLog.record`).
        """
        return self.activity.record(device_id, models, reported_ts, from_ts=from_ts, keep=keep)

    def running_at(self, device_id: str, ts: float) -> list[ActiveModel]:
        """What each slot of ``device_id`` was running at device time ``ts``, with its lineage (by slot)."""
        out = []
        for row in self.activity.at(device_id, ts):
            try:
                registered = self.get(row.name, row.version)
                lineage = self.lineage(row.name, row.version)
            except ModelNotFound:
                registered, lineage = None, [LineageStep(version=row.version, registered=False)]
            out.append(ActiveModel(
                slot=row.slot, name=row.name, version=row.version, sha256=row.sha256, from_ts=row.from_ts,
                reported_ts=row.reported_ts, registered=registered is not None,
                sha256_matches=_sha_matches(row.sha256, registered), lineage=lineage,
            ))
        return out


def _version_row(conn: Connection, name: str, version: str) -> RowMapping | None:
    return conn.execute(select(model_versions).where(
        model_versions.c.name == name, model_versions.c.version == version)).mappings().first()


def _sha_matches(sha256: str | None, version: ModelVersion | None) -> bool | None:
    """A device names the artifact it runs (or the manifest): either is this version's."""
    if sha256 is None or version is None:
        return None
    artifacts: list[dict[str, Any]] = version.manifest.get("artifacts", [])
    return sha256 in {version.manifest_sha256, *(a.get("sha256") for a in artifacts)}
