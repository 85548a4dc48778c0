"""Indexes of jobs for the compare page and the series read.

Revision ID: 0011
Revises: 0010

``ix_jobs_branch_job_time_id`` is on ``(branch, coalesce(run_at, created_at), id)``, the
job time every history sorts by. The compare page's baseline (the latest jobs of a branch
up to a job, the last values of a series on that branch) and the latest job of a branch
walk it newest first and stop after the rows they need; before, they sorted every job of
the dataset.

``ix_jobs_id`` is on ``id`` and, on PostgreSQL, includes the job columns each point of a
series carries (time, branch, commit, pull request, environment): the series read takes
them from this index alone instead of the wide job rows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TIME_INDEX = "ix_jobs_branch_job_time_id"
_POINT_INDEX = "ix_jobs_id"
# As they were at this revision (dbschema's POINT_JOB_COLUMNS may change later).
_POINT_COLUMNS = ["run_at", "created_at", "branch", "commit_sha", "pull_request", "environment"]


def upgrade() -> None:
    job_time: sa.ColumnElement[Any] = sa.func.coalesce(sa.column("run_at"), sa.column("created_at"))
    op.create_index(_TIME_INDEX, "jobs", [sa.column("branch"), job_time, sa.column("id")])
    op.create_index(_POINT_INDEX, "jobs", ["id"], postgresql_include=_POINT_COLUMNS)


def downgrade() -> None:
    op.drop_index(_POINT_INDEX, table_name="jobs")
    op.drop_index(_TIME_INDEX, table_name="jobs")
