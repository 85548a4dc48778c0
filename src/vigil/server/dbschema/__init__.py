"""Database tables (SQLAlchemy rows). Never returned past the storage layer."""

# The live monitor's slice keeps its own tables; importing them registers them on the
# one metadata that migrations and the schema check compare.
from ..monitor import dbschema as _monitor_tables  # noqa: F401
from .artifacts import SqlArtifact
from .audit import SqlAuditEntry
from .base import Base, BigIntId, JsonType, UtcDateTime
from .jobs import SqlJob, SqlJobPackage
from .logs import *  # noqa: F403
from .measurements import SqlBlob, SqlMeasurement, SqlSeries, measurement_blobs_table
from .metrics import SqlMetric, SqlSpecification
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
