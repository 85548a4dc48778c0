"""The drill-down explorer: repository introspection and the query engine (DuckDB, Dask)."""

from vigil.explorer.query import MetricInfo, Range, Repository, RepoSummary

__all__ = ["MetricInfo", "Range", "RepoSummary", "Repository"]
