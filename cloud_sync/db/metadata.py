"""The cloud schema's one SQLAlchemy ``MetaData``: the data tables and the registry tables register on it.

A naming convention gives every constraint a stable name, so the same Alembic
migrations create identical schemas on SQLite and PostgreSQL and later
migrations can refer to constraints by name.
"""
from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
