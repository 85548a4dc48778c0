"""Create all tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("package", sa.String(length=256), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "reference",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
        sa.UniqueConstraint("name", name=op.f("uq_metrics_name")),
    )
    op.create_table(
        "series",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("series_key", sa.String(length=64), nullable=False),
        sa.Column("metric_name", sa.String(length=1024), nullable=False),
        sa.Column("dataset", sa.String(length=256), nullable=True),
        sa.Column("instrument", sa.String(length=64), nullable=True),
        sa.Column(
            "data_id",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
        sa.UniqueConstraint("series_key", name=op.f("uq_series_series_key")),
    )
    op.create_index(op.f("ix_series_metric_name"), "series", ["metric_name"])
    op.create_table(
        "specifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("metric_name", sa.String(length=1024), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("threshold_value", sa.Float(), nullable=True),
        sa.Column("threshold_unit", sa.String(length=64), nullable=True),
        sa.Column("threshold_operator", sa.String(length=8), nullable=True),
        sa.Column(
            "metadata_query",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_specifications")),
        sa.UniqueConstraint("name", name=op.f("uq_specifications_name")),
    )
    op.create_index(op.f("ix_specifications_metric_name"), "specifications", ["metric_name"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=256), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("environment", sa.String(length=64), nullable=True),
        sa.Column("ci_id", sa.String(length=256), nullable=True),
        sa.Column("ci_name", sa.String(length=256), nullable=True),
        sa.Column("ci_url", sa.String(length=2048), nullable=True),
        sa.Column("ci_dataset", sa.String(length=256), nullable=True),
        sa.Column("dataset", sa.String(length=256), nullable=True),
        sa.Column("dataset_repo_url", sa.String(length=2048), nullable=True),
        sa.Column("instrument", sa.String(length=64), nullable=True),
        sa.Column("filter_name", sa.String(length=64), nullable=True),
        sa.Column("branch", sa.String(length=256), nullable=True),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("pull_request", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=256), nullable=True),
        sa.Column("author_email", sa.String(length=256), nullable=True),
        sa.Column(
            "meta",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["submitted_by"],
            ["users.id"],
            name=op.f("fk_jobs_submitted_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("identifier", name=op.f("uq_jobs_identifier")),
    )
    op.create_index(op.f("ix_jobs_branch_id"), "jobs", ["branch", "id"])
    op.create_index(op.f("ix_jobs_commit_sha"), "jobs", ["commit_sha"])
    op.create_index(op.f("ix_jobs_created_at"), "jobs", ["created_at"])
    op.create_index(op.f("ix_jobs_dataset"), "jobs", ["dataset"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_tokens_key_hash")),
    )
    op.create_index(op.f("ix_tokens_user_id"), "tokens", ["user_id"])
    op.create_table(
        "artifacts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_artifacts_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("job_id", "name", name=op.f("uq_artifacts_job_id_name")),
    )
    op.create_index(op.f("ix_artifacts_sha256"), "artifacts", ["sha256"])
    op.create_table(
        "blobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_blobs_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blobs")),
        sa.UniqueConstraint("job_id", "identifier", name=op.f("uq_blobs_job_id_identifier")),
    )
    op.create_table(
        "job_packages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.String(length=256), nullable=True),
        sa.Column("git_url", sa.String(length=2048), nullable=True),
        sa.Column("git_sha", sa.String(length=64), nullable=True),
        sa.Column("git_branch", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_packages_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_packages")),
    )
    op.create_index(op.f("ix_job_packages_job_id"), "job_packages", ["job_id"])
    op.create_table(
        "measurements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column(
            "series_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("metric_name", sa.String(length=1024), nullable=False),
        sa.Column("identifier", sa.String(length=64), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column(
            "data_id",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "notes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_measurements_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["series_id"], ["series.id"], name=op.f("fk_measurements_series_id_series")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurements")),
    )
    op.create_index(op.f("ix_measurements_job_id"), "measurements", ["job_id"])
    op.create_index(
        op.f("ix_measurements_series_id_job_id_value_unit"),
        "measurements",
        ["series_id", "job_id", "value", "unit"],
    )
    op.create_table(
        "measurement_blobs",
        sa.Column(
            "measurement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("blob_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_id"],
            ["blobs.id"],
            name=op.f("fk_measurement_blobs_blob_id_blobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["measurement_id"],
            ["measurements.id"],
            name=op.f("fk_measurement_blobs_measurement_id_measurements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("measurement_id", "blob_id", name=op.f("pk_measurement_blobs")),
    )
    op.create_index(op.f("ix_measurement_blobs_blob_id"), "measurement_blobs", ["blob_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_measurement_blobs_blob_id"), table_name="measurement_blobs")
    op.drop_table("measurement_blobs")
    op.drop_index(op.f("ix_measurements_series_id_job_id_value_unit"), table_name="measurements")
    op.drop_index(op.f("ix_measurements_job_id"), table_name="measurements")
    op.drop_table("measurements")
    op.drop_index(op.f("ix_job_packages_job_id"), table_name="job_packages")
    op.drop_table("job_packages")
    op.drop_table("blobs")
    op.drop_index(op.f("ix_artifacts_sha256"), table_name="artifacts")
    op.drop_table("artifacts")
    op.drop_index(op.f("ix_tokens_user_id"), table_name="tokens")
    op.drop_table("tokens")
    op.drop_index(op.f("ix_jobs_dataset"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_created_at"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_commit_sha"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_branch_id"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("users")
    op.drop_index(op.f("ix_specifications_metric_name"), table_name="specifications")
    op.drop_table("specifications")
    op.drop_index(op.f("ix_series_metric_name"), table_name="series")
    op.drop_table("series")
    op.drop_table("metrics")
