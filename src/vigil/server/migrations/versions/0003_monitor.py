"""The live monitor and log aggregation: event sources, pipelines, exposures,
processings, units, steps, QA values, comments, log runs, lines and processes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_event_sources_name")),
    )
    op.create_table(
        "log_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column(
            "meta",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_runs")),
        sa.UniqueConstraint("key", name=op.f("uq_log_runs_key")),
    )
    op.create_index(op.f("ix_log_runs_updated_at"), "log_runs", ["updated_at"])
    op.create_table(
        "monitor_exposures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=False),
        sa.Column("exposure", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=True),
        sa.Column("night", sa.String(length=16), nullable=True),
        sa.Column("flavor", sa.String(length=32), nullable=True),
        sa.Column("program", sa.String(length=64), nullable=True),
        sa.Column("airmass", sa.Float(), nullable=True),
        sa.Column("seeing", sa.Float(), nullable=True),
        sa.Column("sky_brightness", sa.Float(), nullable=True),
        sa.Column("exposure_time", sa.Float(), nullable=True),
        sa.Column("ra", sa.Float(), nullable=True),
        sa.Column("dec", sa.Float(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "header",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_exposures")),
        sa.UniqueConstraint(
            "pipeline", "exposure", name=op.f("uq_monitor_exposures_pipeline_exposure")
        ),
    )
    op.create_index(op.f("ix_monitor_exposures_observed_at"), "monitor_exposures", ["observed_at"])
    op.create_index(
        op.f("ix_monitor_exposures_pipeline_state_id"),
        "monitor_exposures",
        ["pipeline", "state", "id"],
    )
    op.create_table(
        "monitor_pipelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "description",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("desired_state", sa.String(length=16), nullable=False),
        sa.Column("state_changed_by", sa.String(length=128), nullable=True),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_pipelines")),
        sa.UniqueConstraint("name", name=op.f("uq_monitor_pipelines_name")),
    )
    op.create_table(
        "log_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("process", sa.String(length=64), nullable=True),
        sa.Column("thread", sa.String(length=64), nullable=True),
        sa.Column("logger", sa.String(length=256), nullable=True),
        sa.Column("checkpoint", sa.String(length=128), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["log_runs.id"],
            name=op.f("fk_log_lines_run_id_log_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_lines")),
    )
    op.create_index(op.f("ix_log_lines_level_id"), "log_lines", ["level", "id"])
    op.create_index(op.f("ix_log_lines_run_id_id"), "log_lines", ["run_id", "id"])
    op.create_index(op.f("ix_log_lines_run_id_unit_id"), "log_lines", ["run_id", "unit", "id"])
    op.create_table(
        "log_processes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("exception", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "last_lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["log_runs.id"],
            name=op.f("fk_log_processes_run_id_log_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_processes")),
        sa.UniqueConstraint("run_id", "name", name=op.f("uq_log_processes_run_id_name")),
    )
    op.create_index(op.f("ix_log_processes_status_id"), "log_processes", ["status", "id"])
    op.create_table(
        "monitor_processings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("exposure_id", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=False),
        sa.Column("flavor", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("qa_status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unit_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column(
            "steps",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("log_run_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["exposure_id"],
            ["monitor_exposures.id"],
            name=op.f("fk_monitor_processings_exposure_id_monitor_exposures"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_monitor_processings_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["log_run_id"],
            ["log_runs.id"],
            name=op.f("fk_monitor_processings_log_run_id_log_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_processings")),
        sa.UniqueConstraint("key", name=op.f("uq_monitor_processings_key")),
    )
    op.create_index(
        op.f("ix_monitor_processings_exposure_id"), "monitor_processings", ["exposure_id"]
    )
    op.create_index(
        op.f("ix_monitor_processings_pipeline_id"), "monitor_processings", ["pipeline", "id"]
    )
    op.create_index(
        op.f("ix_monitor_processings_started_at"), "monitor_processings", ["started_at"]
    )
    op.create_table(
        "monitor_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("processing_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["processing_id"],
            ["monitor_processings.id"],
            name=op.f("fk_monitor_comments_processing_id_monitor_processings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_comments")),
    )
    op.create_index(
        op.f("ix_monitor_comments_processing_id"), "monitor_comments", ["processing_id"]
    )
    op.create_table(
        "monitor_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("processing_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_step", sa.String(length=128), nullable=True),
        sa.Column("qa_status", sa.String(length=16), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column(
            "last_lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["processing_id"],
            ["monitor_processings.id"],
            name=op.f("fk_monitor_units_processing_id_monitor_processings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_units")),
        sa.UniqueConstraint(
            "processing_id", "name", name=op.f("uq_monitor_units_processing_id_name")
        ),
    )
    op.create_table(
        "monitor_qa",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("processing_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column(
            "values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "statuses",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "normal_range",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "warning_range",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "reference",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["processing_id"],
            ["monitor_processings.id"],
            name=op.f("fk_monitor_qa_processing_id_monitor_processings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["monitor_units.id"],
            name=op.f("fk_monitor_qa_unit_id_monitor_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_qa")),
        sa.UniqueConstraint("unit_id", "step", "key", name=op.f("uq_monitor_qa_unit_id_step_key")),
    )
    op.create_index(
        op.f("ix_monitor_qa_pipeline_key_observed_at"),
        "monitor_qa",
        ["pipeline", "key", "observed_at"],
    )
    op.create_index(op.f("ix_monitor_qa_processing_id"), "monitor_qa", ["processing_id"])
    op.create_table(
        "monitor_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("qa_status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["monitor_units.id"],
            name=op.f("fk_monitor_steps_unit_id_monitor_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_steps")),
        sa.UniqueConstraint("unit_id", "name", name=op.f("uq_monitor_steps_unit_id_name")),
    )


def downgrade() -> None:
    op.drop_table("monitor_steps")
    op.drop_index(op.f("ix_monitor_qa_processing_id"), table_name="monitor_qa")
    op.drop_index(op.f("ix_monitor_qa_pipeline_key_observed_at"), table_name="monitor_qa")
    op.drop_table("monitor_qa")
    op.drop_table("monitor_units")
    op.drop_index(op.f("ix_monitor_comments_processing_id"), table_name="monitor_comments")
    op.drop_table("monitor_comments")
    op.drop_index(op.f("ix_monitor_processings_started_at"), table_name="monitor_processings")
    op.drop_index(op.f("ix_monitor_processings_pipeline_id"), table_name="monitor_processings")
    op.drop_index(op.f("ix_monitor_processings_exposure_id"), table_name="monitor_processings")
    op.drop_table("monitor_processings")
    op.drop_index(op.f("ix_log_processes_status_id"), table_name="log_processes")
    op.drop_table("log_processes")
    op.drop_index(op.f("ix_log_lines_run_id_unit_id"), table_name="log_lines")
    op.drop_index(op.f("ix_log_lines_run_id_id"), table_name="log_lines")
    op.drop_index(op.f("ix_log_lines_level_id"), table_name="log_lines")
    op.drop_table("log_lines")
    op.drop_table("monitor_pipelines")
    op.drop_index(op.f("ix_monitor_exposures_pipeline_state_id"), table_name="monitor_exposures")
    op.drop_index(op.f("ix_monitor_exposures_observed_at"), table_name="monitor_exposures")
    op.drop_table("monitor_exposures")
    op.drop_index(op.f("ix_log_runs_updated_at"), table_name="log_runs")
    op.drop_table("log_runs")
    op.drop_table("event_sources")
