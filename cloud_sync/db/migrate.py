"""Schema migrations (Alembic), run from code: the service upgrades its database at start.

The scripts live in the package (``migrations/``), so an installed service
needs no alembic.ini. The same revisions build SQLite and PostgreSQL. Parts
that add tables independently (training jobs, the model registry, labels)
may branch from the same revision: upgrading goes to every head, and a
database is current when it is at all of them.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from .engine import make_engine

SCRIPTS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def upgrade(target: str | Engine, revision: str = "heads") -> None:
    """Bring the database at ``target`` (a URL, a path or an engine) to ``revision``."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def heads() -> frozenset[str]:
    """The newest revisions the package ships (one per branch)."""
    return frozenset(ScriptDirectory.from_config(_config()).get_heads())


def current(engine: Engine) -> bool:
    """True when the database is at every newest revision (readiness: a half-migrated database is not ready)."""
    with engine.connect() as connection:
        return frozenset(MigrationContext.configure(connection).get_current_heads()) == heads()
