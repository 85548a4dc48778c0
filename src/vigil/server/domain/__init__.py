"""Domain objects of the server: plain dataclasses and pure functions, no I/O."""

from .artifacts import INLINE_CONTENT_TYPES, Artifact, check_artifact_name, sniff_image_type
from .health import Readiness, ReadinessCheck
from .jobs import (
    Blob,
    JobDetail,
    JobFacts,
    JobSummary,
    Measurement,
    Package,
    PackageChange,
    PackageChanges,
    extract_job_facts,
    extract_packages,
)
from .metrics import DatasetInfo, MetricInfo, SpecificationInfo
from .numbers import parse_decimal
from .pagination import Page
from .series import POINT_FIELDS, SeriesColumns, SeriesInfo, SeriesPoint, series_key
from .users import NewSession, NewToken, Role, Token, TokenKey, User, WebSession

__all__ = [
    "INLINE_CONTENT_TYPES",
    "POINT_FIELDS",
    "Artifact",
    "Blob",
    "DatasetInfo",
    "JobDetail",
    "JobFacts",
    "JobSummary",
    "Measurement",
    "MetricInfo",
    "NewSession",
    "NewToken",
    "Package",
    "PackageChange",
    "PackageChanges",
    "Page",
    "Readiness",
    "ReadinessCheck",
    "Role",
    "SeriesColumns",
    "SeriesInfo",
    "SeriesPoint",
    "SpecificationInfo",
    "Token",
    "TokenKey",
    "User",
    "WebSession",
    "check_artifact_name",
    "extract_job_facts",
    "extract_packages",
    "parse_decimal",
    "series_key",
    "sniff_image_type",
]
