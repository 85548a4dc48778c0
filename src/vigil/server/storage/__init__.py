"""Stores: queries that return domain objects. Stores never begin or commit."""

from .artifacts import ArtifactContentStore, ArtifactStore
from .datasets import DatasetStore
from .jobs import JobFilter, JobStore
from .metrics import MetricStore, SpecificationStore
from .series import PointFilter, SeriesStore
from .users import TokenStore, UserStore

__all__ = [
    "ArtifactContentStore",
    "ArtifactStore",
    "DatasetStore",
    "JobFilter",
    "JobStore",
    "MetricStore",
    "PointFilter",
    "SeriesStore",
    "SpecificationStore",
    "TokenStore",
    "UserStore",
]
