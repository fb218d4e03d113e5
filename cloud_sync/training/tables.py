"""The training tables, on the cloud schema's one ``MetaData`` (migration ``0004_training`` creates them).

Jobs live in the cloud database, not in the queue, so any replica's API reads
them and the queue only carries "run job N, attempt A". Times are Unix
seconds (float). ``ux_training_jobs_active`` lets a pipeline have at most one
unfinished job (``ended_ts`` NULL): a second trigger, a second replica's
trigger check or a second manual run is refused by the database itself.
"""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, ForeignKey, Index, Integer, String, Table, Text, text

from cloud_sync.db.metadata import metadata

ID = String(64)
JOB_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER primary keys

training_pipelines = Table(
    "training_pipelines", metadata,
    Column("name", ID, primary_key=True),
    Column("kind", ID, nullable=False),  # a registered PipelineKind
    Column("options", JSON, nullable=False),  # the kind's options, validated by its model
    Column("triggers", JSON, nullable=False),  # a list of triggers.Trigger documents
    Column("created_ts", Float(53), nullable=False),
    Column("updated_ts", Float(53), nullable=False),
)

training_jobs = Table(
    "training_jobs", metadata,
    Column("id", JOB_ID, primary_key=True, autoincrement=True),
    Column("pipeline", ID, ForeignKey("training_pipelines.name"), nullable=False),
    Column("kind", ID, nullable=False),
    Column("state", String(16), nullable=False),  # states.State
    Column("trigger", String(16), nullable=False),  # manual | schedule | labels | drift | performance
    Column("reason", Text, nullable=False),  # why it fired, e.g. "labels: 57 new verdicts >= 50"
    Column("params", JSON, nullable=False),
    Column("data_snapshot_id", String(200)),
    Column("parent_version", String(200)),
    Column("attempt", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_owner", String(200)),  # the worker running the attempt; NULL while queued or finished
    Column("lease_until", Float(53)),
    # when a queued attempt is due (now, or after its retry backoff); huey's delay enforces the backoff, and
    # the reaper sends a queued job long past it again (a message lost between the database and the queue)
    Column("eligible_ts", Float(53), nullable=False),
    Column("created_ts", Float(53), nullable=False),
    Column("started_ts", Float(53)),  # the current (or last) attempt's start
    Column("ended_ts", Float(53)),
    Column("duration_s", Float(53)),  # ended - started
    Column("progress", Float(53), nullable=False),  # 0..1 over the whole run
    Column("step", Text),  # the step's last progress message
    Column("timings", JSON, nullable=False),  # seconds per finished step of the current attempt
    Column("metrics", JSON, nullable=False),
    Column("result", JSON, nullable=False),  # what the run made, e.g. the registered model version
    Column("reference", JSON),  # drift reference sample of a done run: feature -> values
    Column("error", Text),
    Index("ix_training_jobs_pipeline_created", "pipeline", "created_ts"),
    Index("ix_training_jobs_state", "state"),
    Index("ux_training_jobs_active", "pipeline", unique=True, sqlite_where=text("ended_ts IS NULL"),
          postgresql_where=text("ended_ts IS NULL")),
)

training_logs = Table(
    "training_logs", metadata,
    Column("id", JOB_ID, primary_key=True, autoincrement=True),
    Column("job_id", JOB_ID, ForeignKey("training_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("ts", Float(53), nullable=False),
    Column("level", String(8), nullable=False),
    Column("line", Text, nullable=False),
    Index("ix_training_logs_job", "job_id", "id"),
)

TABLES = (training_pipelines, training_jobs, training_logs)
