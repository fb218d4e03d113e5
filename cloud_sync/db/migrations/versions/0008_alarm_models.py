"""Alarms carry the models behind them: the detector that raised a camera alarm, the risk model's score.

Columns of the contract's AlarmRecord (``model``, ``risk_score``,
``risk_model``); NULL on alarms synced before the edge sent them.

Revision ID: 0008_alarm_models
Revises: 0003_readings_site_index
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_alarm_models"
down_revision = "0003_readings_site_index"
branch_labels = None
depends_on = None

_COLUMNS = (("model", sa.JSON()), ("risk_score", sa.Float(precision=53)), ("risk_model", sa.JSON()))


def upgrade() -> None:
    with op.batch_alter_table("alarms") as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alarms") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
