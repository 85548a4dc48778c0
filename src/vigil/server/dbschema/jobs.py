"""Jobs (one verification run each) and the software packages they ran with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntId, JsonType, UtcDateTime

__all__ = ["JOB_TIME_INDEX", "POINT_JOB_COLUMNS", "SqlJob", "SqlJobPackage"]


POINT_JOB_COLUMNS = ("run_at", "created_at", "branch", "commit_sha", "pull_request", "environment")
"""The columns of a job that each point of a series carries."""


class SqlJob(Base):
    """One verification run: who, where, on what code and data."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    environment: Mapped[str | None] = mapped_column(String(64))
    ci_id: Mapped[str | None] = mapped_column(String(256))
    ci_name: Mapped[str | None] = mapped_column(String(256))
    ci_url: Mapped[str | None] = mapped_column(String(2048))
    ci_dataset: Mapped[str | None] = mapped_column(String(256))
    dataset: Mapped[str | None] = mapped_column(String(256), index=True)
    dataset_repo_url: Mapped[str | None] = mapped_column(String(2048))
    instrument: Mapped[str | None] = mapped_column(String(64))
    filter_name: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[str | None] = mapped_column(String(256))
    commit_sha: Mapped[str | None] = mapped_column(String(64), index=True)
    pull_request: Mapped[int | None] = mapped_column(Integer)
    author: Mapped[str | None] = mapped_column(String(256))
    author_email: Mapped[str | None] = mapped_column(String(256))
    meta: Mapped[dict[str, Any]] = mapped_column(JsonType)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the measurements, meta and blobs as received (NULL: stored before 0008)."""

    __table_args__ = (
        Index(None, "branch", "id"),
        # The job columns of a series' points: on PostgreSQL the series read finds them
        # in this index alone instead of the wide rows. On SQLite it holds the id alone
        # and the read does not use it: SQLite finds a job by id in its rowid table.
        Index(None, "id", postgresql_include=list(POINT_JOB_COLUMNS)),
    )


JOB_TIME_INDEX = "ix_jobs_branch_job_time_id"
"""The index of a branch's jobs by job time (``coalesce(run_at, created_at)``), then id.

The history of a branch up to a job, its latest jobs and the compare page's baseline
walk it newest first and stop after a few rows, instead of sorting every job of a dataset.
"""

Index(JOB_TIME_INDEX, SqlJob.branch, func.coalesce(SqlJob.run_at, SqlJob.created_at), SqlJob.id)


class SqlJobPackage(Base):
    """A software package (EUPS product, Python distribution...) a job ran with."""

    __tablename__ = "job_packages"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[str | None] = mapped_column(String(256))
    git_url: Mapped[str | None] = mapped_column(String(2048))
    git_sha: Mapped[str | None] = mapped_column(String(64))
    git_branch: Mapped[str | None] = mapped_column(String(256))
