"""Database tables (SQLAlchemy rows). Never returned past the storage layer."""

from .artifacts import SqlArtifact
from .audit import SqlAuditEntry
from .base import Base, BigIntId, JsonType, UtcDateTime
from .jobs import SqlJob, SqlJobPackage
from .measurements import SqlBlob, SqlMeasurement, SqlSeries, measurement_blobs_table
from .metrics import SqlMetric, SqlSpecification
from .monitor import *  # noqa: F403
from .regressions import *  # noqa: F403
from .users import SqlSession, SqlToken, SqlUser

__all__ = [
    "Base",
    "BigIntId",
    "JsonType",
    "SqlArtifact",
    "SqlAuditEntry",
    "SqlBlob",
    "SqlJob",
    "SqlJobPackage",
    "SqlMeasurement",
    "SqlMetric",
    "SqlSeries",
    "SqlSession",
    "SqlSpecification",
    "SqlToken",
    "SqlUser",
    "UtcDateTime",
    "measurement_blobs_table",
]
