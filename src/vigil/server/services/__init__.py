"""Services: the decisions of the server; each public call owns its transaction."""

from .artifacts import ArtifactService, PruneResult
from .auth import AuthService, UserService
from .datasets import DatasetService
from .jobs import MAX_BATCH_JOBS, IngestResult, JobService, client_identifier
from .metrics import LoadResult, MetricService
from .series import SeriesColumnsHistory, SeriesHistory, SeriesQuery, SeriesService

__all__ = [
    "MAX_BATCH_JOBS",
    "ArtifactService",
    "AuthService",
    "DatasetService",
    "IngestResult",
    "JobService",
    "LoadResult",
    "MetricService",
    "PruneResult",
    "SeriesColumnsHistory",
    "SeriesHistory",
    "SeriesQuery",
    "SeriesService",
    "UserService",
    "client_identifier",
]
