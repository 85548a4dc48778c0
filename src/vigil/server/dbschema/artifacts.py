"""Files attached to jobs; the content lives in the artifact store under its SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntId, UtcDateTime

__all__ = ["SqlArtifact"]


class SqlArtifact(Base):
    """A named file of a job (image, plot, report)."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("job_id", "name"),)
