"""Series identity: what makes two measurements comparable."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

__all__ = ["SeriesInfo", "SeriesPoint", "series_key"]


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
