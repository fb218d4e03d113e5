"""The data tables (one per synced table of the contract), the chunk ledger, skew, quarantine, definitions, sync history.

Spelled out column by column (generated once from cloud_sync.db.schema and
frozen here), so this revision creates the same schema whatever later code
says; tests/cloud/test_db.py compares the migrated schema with the tables.

Revision ID: 0001_data
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_data"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alarms',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('site', sa.String(length=64), nullable=False),
        sa.Column('edge_id', sa.BigInteger(), nullable=False),
        sa.Column('alarm_id', sa.Text(), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('condition', sa.Text(), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('priority', sa.Text(), nullable=False),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('raised_ts', sa.Float(precision=53), nullable=False),
        sa.Column('updated_ts', sa.Float(precision=53), nullable=False),
        sa.Column('latching', sa.Boolean(), nullable=False),
        sa.Column('condition_active', sa.Boolean(), nullable=False),
        sa.Column('value', sa.Float(precision=53), nullable=True),
        sa.Column('threshold', sa.Float(precision=53), nullable=True),
        sa.Column('zone', sa.Text(), nullable=True),
        sa.Column('workers', sa.JSON(), nullable=True),
        sa.Column('sirens', sa.JSON(), nullable=True),
        sa.Column('acked_by', sa.Text(), nullable=True),
        sa.Column('acked_via', sa.Text(), nullable=True),
        sa.Column('acked_ts', sa.Float(precision=53), nullable=True),
        sa.Column('verdict', sa.Text(), nullable=True),
        sa.Column('shelved_by', sa.Text(), nullable=True),
        sa.Column('shelved_via', sa.Text(), nullable=True),
        sa.Column('shelved_until', sa.Float(precision=53), nullable=True),
        sa.Column('shelve_reason', sa.Text(), nullable=True),
        sa.Column('flood_group', sa.Text(), nullable=True),
        sa.Column('flags', sa.JSON(), nullable=True),
        sa.Column('received_ts', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alarms')),
        sa.UniqueConstraint('device_id', 'alarm_id', name=op.f('uq_alarms_device_id_alarm_id')),
        sa.UniqueConstraint('device_id', 'edge_id', name=op.f('uq_alarms_device_id_edge_id'))
        )
    op.create_index('ix_alarms_device_time', 'alarms', ['device_id', 'raised_ts'], unique=False)
    op.create_index('ix_alarms_site_time', 'alarms', ['site', 'raised_ts'], unique=False)
    op.create_table('chunks',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('tbl', sa.String(length=32), nullable=False),
        sa.Column('first_id', sa.BigInteger(), nullable=False),
        sa.Column('last_id', sa.BigInteger(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('received_ts', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chunks')),
        sa.UniqueConstraint('device_id', 'key', name=op.f('uq_chunks_device_id_key'))
        )
    op.create_table('definitions',
        sa.Column('device_type', sa.String(length=64), nullable=False),
        sa.Column('document', sa.JSON(), nullable=False),
        sa.Column('updated_ts', sa.Float(precision=53), nullable=False),
        sa.Column('updated_by', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('device_type', name=op.f('pk_definitions'))
        )
    op.create_table('exposure_minutes',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('site', sa.String(length=64), nullable=False),
        sa.Column('edge_id', sa.BigInteger(), nullable=False),
        sa.Column('worker', sa.Text(), nullable=False),
        sa.Column('gas', sa.Text(), nullable=False),
        sa.Column('minute_ts', sa.Float(precision=53), nullable=False),
        sa.Column('value', sa.Float(precision=53), nullable=False),
        sa.Column('flags', sa.JSON(), nullable=True),
        sa.Column('received_ts', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_exposure_minutes')),
        sa.UniqueConstraint('device_id', 'edge_id', name=op.f('uq_exposure_minutes_device_id_edge_id'))
        )
    op.create_index('ix_exposure_minutes_device_time', 'exposure_minutes', ['device_id', 'minute_ts'], unique=False)
    op.create_index('ix_exposure_minutes_site_time', 'exposure_minutes', ['site', 'minute_ts'], unique=False)
    op.create_table('quarantine',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('tbl', sa.String(length=32), nullable=True),
        sa.Column('first_id', sa.BigInteger(), nullable=True),
        sa.Column('last_id', sa.BigInteger(), nullable=True),
        sa.Column('key', sa.String(length=64), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('received_ts', sa.Float(precision=53), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine'))
        )
    op.create_index(op.f('ix_quarantine_device_id'), 'quarantine', ['device_id'], unique=False)
    op.create_table('readings',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('site', sa.String(length=64), nullable=False),
        sa.Column('edge_id', sa.BigInteger(), nullable=False),
        sa.Column('device', sa.Text(), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('ts', sa.Float(precision=53), nullable=False),
        sa.Column('v1', sa.Float(precision=53), nullable=True),
        sa.Column('v2', sa.Float(precision=53), nullable=True),
        sa.Column('v3', sa.Float(precision=53), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=True),
        sa.Column('flags', sa.JSON(), nullable=True),
        sa.Column('received_ts', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_readings')),
        sa.UniqueConstraint('device_id', 'edge_id', name=op.f('uq_readings_device_id_edge_id'))
        )
    op.create_index('ix_readings_device_time', 'readings', ['device_id', 'ts'], unique=False)
    op.create_index('ix_readings_site_time', 'readings', ['site', 'ts'], unique=False)
    op.create_table('skew',
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('tbl', sa.String(length=32), nullable=False),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('problem', sa.String(length=16), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('first_ts', sa.Float(precision=53), nullable=False),
        sa.Column('last_ts', sa.Float(precision=53), nullable=False),
        sa.Column('example', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('device_id', 'tbl', 'field', 'problem', name=op.f('pk_skew'))
        )
    op.create_table('snapshots',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('site', sa.String(length=64), nullable=False),
        sa.Column('edge_id', sa.BigInteger(), nullable=False),
        sa.Column('stem', sa.Text(), nullable=False),
        sa.Column('camera', sa.Text(), nullable=False),
        sa.Column('ts', sa.Float(precision=53), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('detections', sa.JSON(), nullable=True),
        sa.Column('model', sa.JSON(), nullable=True),
        sa.Column('jpeg', sa.LargeBinary(), nullable=False),
        sa.Column('flags', sa.JSON(), nullable=True),
        sa.Column('received_ts', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_snapshots')),
        sa.UniqueConstraint('device_id', 'edge_id', name=op.f('uq_snapshots_device_id_edge_id'))
        )
    op.create_index('ix_snapshots_device_time', 'snapshots', ['device_id', 'ts'], unique=False)
    op.create_index('ix_snapshots_site_time', 'snapshots', ['site', 'ts'], unique=False)
    op.create_table('sync_requests',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('ts', sa.Float(precision=53), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('bytes', sa.Integer(), nullable=False),
        sa.Column('durable', sa.Integer(), nullable=False),
        sa.Column('duplicates', sa.Integer(), nullable=False),
        sa.Column('rejected', sa.Integer(), nullable=False),
        sa.Column('duration_ms', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_requests'))
        )
    op.create_index('ix_sync_requests_device_ts', 'sync_requests', ['device_id', 'ts'], unique=False)
    op.create_table('transitions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('site', sa.String(length=64), nullable=False),
        sa.Column('edge_id', sa.BigInteger(), nullable=False),
        sa.Column('alarm_id', sa.Text(), nullable=False),
        sa.Column('ts', sa.Float(precision=53), nullable=False),
        sa.Column('cause', sa.Text(), nullable=False),
        sa.Column('from_state', sa.Text(), nullable=False),
        sa.Column('to_state', sa.Text(), nullable=False),
        sa.Column('by', sa.Text(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=True),
        sa.Column('channel', sa.Text(), nullable=True),
        sa.Column('flags', sa.JSON(), nullable=True),
        sa.Column('received_ts', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transitions')),
        sa.UniqueConstraint('device_id', 'edge_id', name=op.f('uq_transitions_device_id_edge_id'))
        )
    op.create_index('ix_transitions_device_time', 'transitions', ['device_id', 'ts'], unique=False)
    op.create_index('ix_transitions_site_time', 'transitions', ['site', 'ts'], unique=False)
    op.create_table('verdicts',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('site', sa.String(length=64), nullable=False),
        sa.Column('edge_id', sa.BigInteger(), nullable=False),
        sa.Column('alarm_id', sa.Text(), nullable=False),
        sa.Column('verdict', sa.Text(), nullable=False),
        sa.Column('by', sa.Text(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('ts', sa.Float(precision=53), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('channel', sa.Text(), nullable=True),
        sa.Column('flags', sa.JSON(), nullable=True),
        sa.Column('received_ts', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verdicts')),
        sa.UniqueConstraint('device_id', 'edge_id', name=op.f('uq_verdicts_device_id_edge_id'))
        )
    op.create_index('ix_verdicts_device_time', 'verdicts', ['device_id', 'ts'], unique=False)
    op.create_index('ix_verdicts_site_time', 'verdicts', ['site', 'ts'], unique=False)
    op.create_table('zone_actions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('site', sa.String(length=64), nullable=False),
        sa.Column('edge_id', sa.BigInteger(), nullable=False),
        sa.Column('zone', sa.Text(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('by', sa.Text(), nullable=False),
        sa.Column('ts', sa.Float(precision=53), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('alarm_id', sa.Text(), nullable=True),
        sa.Column('flags', sa.JSON(), nullable=True),
        sa.Column('received_ts', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_zone_actions')),
        sa.UniqueConstraint('device_id', 'edge_id', name=op.f('uq_zone_actions_device_id_edge_id'))
        )
    op.create_index('ix_zone_actions_device_time', 'zone_actions', ['device_id', 'ts'], unique=False)
    op.create_index('ix_zone_actions_site_time', 'zone_actions', ['site', 'ts'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_zone_actions_site_time', table_name='zone_actions')
    op.drop_index('ix_zone_actions_device_time', table_name='zone_actions')
    op.drop_table('zone_actions')
    op.drop_index('ix_verdicts_site_time', table_name='verdicts')
    op.drop_index('ix_verdicts_device_time', table_name='verdicts')
    op.drop_table('verdicts')
    op.drop_index('ix_transitions_site_time', table_name='transitions')
    op.drop_index('ix_transitions_device_time', table_name='transitions')
    op.drop_table('transitions')
    op.drop_index('ix_sync_requests_device_ts', table_name='sync_requests')
    op.drop_table('sync_requests')
    op.drop_index('ix_snapshots_site_time', table_name='snapshots')
    op.drop_index('ix_snapshots_device_time', table_name='snapshots')
    op.drop_table('snapshots')
    op.drop_table('skew')
    op.drop_index('ix_readings_site_time', table_name='readings')
    op.drop_index('ix_readings_device_time', table_name='readings')
    op.drop_table('readings')
    op.drop_index(op.f('ix_quarantine_device_id'), table_name='quarantine')
    op.drop_table('quarantine')
    op.drop_index('ix_exposure_minutes_site_time', table_name='exposure_minutes')
    op.drop_index('ix_exposure_minutes_device_time', table_name='exposure_minutes')
    op.drop_table('exposure_minutes')
    op.drop_table('definitions')
    op.drop_table('chunks')
    op.drop_index('ix_alarms_site_time', table_name='alarms')
    op.drop_index('ix_alarms_device_time', table_name='alarms')
    op.drop_table('alarms')
