"""Errors of `vigil.compute` and the query engine.

Each error carries what an HTTP layer needs (a status and a stable code) and a message that
says what is wrong and what to do, so that the explorer app, the CLI and the server can show
it unchanged. The module has no server dependency: `vigil.compute` runs beside a pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

__all__ = [
    "ComputeError",
    "GranularityError",
    "MappingError",
    "MissingColumnsError",
    "RepositoryConfigError",
    "RepositoryError",
    "UnknownMetricError",
]


class ComputeError(Exception):
    """Root of the errors of `vigil.compute`.

    Parameters
    ----------
    message
        A sentence saying what is wrong and, where possible, what to do.
    """

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "compute_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RepositoryError(ComputeError):
    """A data repository is missing, unreadable or laid out wrongly."""

    status_code = 404
    code = "repository_error"


class RepositoryConfigError(ComputeError):
    """A ``vigil-repo.yaml`` is invalid.

    Parameters
    ----------
    path
        The file at fault.
    field
        The field path inside it (``metrics.psf_size_residual_i.acceptable.min``), or None
        when the whole document is at fault.
    reason
        What is wrong with it, as a sentence fragment.
    """

    status_code = 422
    code = "invalid_repository_config"

    def __init__(self, path: Path | str, field: str | None, reason: str) -> None:
        self.path = str(path)
        self.field = field
        self.reason = reason
        where = f"{self.path}: {field}" if field else self.path
        super().__init__(f"{where}: {reason}")


class UnknownMetricError(ComputeError):
    """A metric name that neither the registry nor the repository knows."""

    status_code = 404
    code = "metric_not_found"


class MissingColumnsError(ComputeError):
    """A table lacks columns that a metric's actions declare.

    Parameters
    ----------
    metric
        The metric's name.
    table
        The table (``objects``, ``sources``) or file that lacks them.
    missing
        The absent columns.
    """

    status_code = 422
    code = "missing_columns"

    def __init__(self, metric: str, table: str, missing: list[str]) -> None:
        self.metric = metric
        self.table = table
        self.missing = sorted(missing)
        super().__init__(
            f"metric {metric!r} needs column(s) {', '.join(self.missing)}, absent from {table};"
            " load the catalogue with a column mapping (--mapping) that provides them"
        )


class GranularityError(ComputeError):
    """An aggregation finer than a metric's maximum granularity, or on the wrong table."""

    status_code = 422
    code = "granularity_error"


class MappingError(ComputeError):
    """A catalogue cannot be read through the requested column mapping."""

    status_code = 422
    code = "mapping_error"
