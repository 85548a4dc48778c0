"""Series identity: what makes two measurements comparable."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson

__all__ = ["POINT_FIELDS", "SeriesColumns", "SeriesInfo", "SeriesPoint", "series_key"]


def series_key(
    metric: str, dataset: str | None, instrument: str | None, data_id: Mapping[str, Any]
) -> str:
    """The stable key of a series: SHA-256 (hex) of its canonical JSON.

    The canonical form is the JSON array ``[metric, dataset, instrument, data_id]`` with
    the dataId's keys sorted and no whitespace. The branch is deliberately not part of
    it: the main line and every branch are views of one series.
    """
    canonical = orjson.dumps(
        [metric, dataset, instrument, dict(data_id)],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


@dataclass(slots=True)
class SeriesInfo:
    """A series and how many points it has."""

    id: int
    series_key: str
    metric_name: str
    dataset: str | None
    instrument: str | None
    data_id: dict[str, Any] = field(default_factory=dict)
    point_count: int | None = None


@dataclass(slots=True)
class SeriesPoint:
    """One measurement of a series, with the job facts a plot needs.

    ``time`` is the job's own date when it has one, else when the server received it.
    """

    job_id: int
    measurement_id: int
    value: float | None
    unit: str
    time: datetime
    branch: str | None
    commit_sha: str | None
    pull_request: int | None
    environment: str | None


POINT_FIELDS = (
    "job_id",
    "measurement_id",
    "value",
    "unit",
    "time",
    "branch",
    "commit_sha",
    "pull_request",
    "environment",
)
"""The fields of a point, in the order of `SeriesPoint` and of `SeriesColumns`."""


@dataclass(slots=True)
class SeriesColumns:
    """Points of a series as one list per field (`POINT_FIELDS`), in job order.

    The form the API serves a long history in: building one object per point costs
    more than the query. ``time`` holds ISO 8601 UTC text with microseconds and a
    ``Z``; ``value`` None where the measurement is NaN.
    """

    job_id: list[int]
    measurement_id: list[int]
    value: list[float | None]
    unit: list[str]
    time: list[str]
    branch: list[str | None]
    commit_sha: list[str | None]
    pull_request: list[int | None]
    environment: list[str | None]

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> SeriesColumns:
        """Columns of *rows*, each a tuple of the `POINT_FIELDS` in order."""
        # One C-level pass per column: zip(*rows) is several times slower on long pages.
        return cls(*(list(map(itemgetter(i), rows)) for i in range(len(POINT_FIELDS))))

    def __len__(self) -> int:
        return len(self.job_id)

    def head(self, count: int) -> SeriesColumns:
        """The first *count* points."""
        return SeriesColumns(*(getattr(self, name)[:count] for name in POINT_FIELDS))

    def records(self) -> list[dict[str, Any]]:
        """One dict per point, keyed by the `POINT_FIELDS`."""
        # A dict display per point is twice as fast as dict(zip(POINT_FIELDS, row)).
        return [
            {
                "job_id": job_id,
                "measurement_id": measurement_id,
                "value": value,
                "unit": unit,
                "time": time,
                "branch": branch,
                "commit_sha": commit_sha,
                "pull_request": pull_request,
                "environment": environment,
            }
            for (
                job_id,
                measurement_id,
                value,
                unit,
                time,
                branch,
                commit_sha,
                pull_request,
                environment,
            ) in zip(
                self.job_id,
                self.measurement_id,
                self.value,
                self.unit,
                self.time,
                self.branch,
                self.commit_sha,
                self.pull_request,
                self.environment,
                strict=True,
            )
        ]

    def as_dict(self) -> dict[str, list[Any]]:
        """Field name to its list."""
        return {name: getattr(self, name) for name in POINT_FIELDS}
