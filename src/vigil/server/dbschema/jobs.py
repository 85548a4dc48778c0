"""Jobs (one verification run each) and the software packages they ran with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntId, JsonType, UtcDateTime

__all__ = ["SqlJob", "SqlJobPackage"]


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

    __table_args__ = (Index(None, "branch", "id"),)


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
