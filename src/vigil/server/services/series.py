"""Series: find them and read one series' history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy.orm import Session

from vigil.verify.units import conversion_factor

from ..domain import Page, SeriesColumns, SeriesInfo, SeriesPoint
from ..exceptions import ConflictError, NotFoundError, SeriesNotFoundError
from ..storage.audit import AuditStore
from ..storage.metrics import MetricStore
from ..storage.series import PointFilter, SeriesStore, joins_jobs
from ._cursors import int_cursor
from ._job_facts import JobFactsCache

__all__ = ["SeriesColumnsHistory", "SeriesHistory", "SeriesQuery", "SeriesService"]

_SCAN_CHUNK = 1000


@dataclass(slots=True)
class SeriesQuery:
    """Which points of a series to read; None means any."""

    branch: str | None = None
    environment: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    from_commit: str | None = None
    to_commit: str | None = None


@dataclass(slots=True)
class SeriesColumnsHistory:
    """A page of a series' points as columns, values in the metric's unit where they convert."""

    series: SeriesInfo
    unit: str | None
    columns: SeriesColumns
    next_cursor: str | None


@dataclass(slots=True)
class SeriesHistory:
    """A page of a series' points, values in the metric's unit where they convert."""

    series: SeriesInfo
    unit: str | None
    points: Page[SeriesPoint]


class SeriesService:
    """Reads series."""

    def __init__(
        self,
        session: Session,
        job_facts: JobFactsCache | None = None,
        *,
        series: SeriesStore,
        metrics: MetricStore,
        audit: AuditStore | None = None,
    ) -> None:
        self._session = session
        self._job_facts = job_facts if audit is not None else None
        self._series = series
        self._metrics = metrics
        self._audit = audit

    def list_series(
        self,
        *,
        metric: str | None = None,
        dataset: str | None = None,
        instrument: str | None = None,
        data_id: dict[str, Any] | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> Page[SeriesInfo]:
        """Series matching the filters; *data_id* matches series whose dataId has its items."""
        after = int_cursor(cursor)
        found: list[SeriesInfo] = []
        while len(found) <= limit:
            chunk = self._series.find(
                metric=metric,
                dataset=dataset,
                instrument=instrument,
                after_id=after,
                limit=_SCAN_CHUNK,
            )
            found.extend(s for s in chunk if _matches(s.data_id, data_id))
            if len(chunk) < _SCAN_CHUNK:
                break
            after = chunk[-1].id
        self._session.rollback()
        next_cursor = str(found[limit - 1].id) if len(found) > limit else None
        return Page(found[:limit], next_cursor)

    def resolve(
        self,
        metric: str,
        *,
        dataset: str | None = None,
        instrument: str | None = None,
        data_id: dict[str, Any] | None = None,
    ) -> SeriesInfo:
        """The one series of *metric* with these dataset, instrument and exact dataId.

        Raises
        ------
        SeriesNotFoundError
            No series matches.
        ConflictError
            Several do: give the dataset, instrument or dataId, or use the series key.
        """
        candidates = [
            s
            for s in self._series.find(metric=metric, dataset=dataset, instrument=instrument)
            if data_id is None or s.data_id == data_id
        ]
        self._session.rollback()
        if not candidates:
            raise SeriesNotFoundError(
                f"No series of {metric!r} matches dataset={dataset!r},"
                f" instrument={instrument!r}, data_id={data_id!r}."
            )
        if len(candidates) > 1:
            raise ConflictError(
                f"{len(candidates)} series of {metric!r} match; give dataset, instrument and"
                " data_id to choose one, or list them with /api/series?metric=...",
            )
        return candidates[0]

    def get(self, key: str) -> SeriesInfo:
        """One series with its point count."""
        series = self._series.get_by_key(key)
        if series is None:
            self._session.rollback()
            raise SeriesNotFoundError(f"No series has the key {key!r}.")
        series.point_count = self._series.count_points(series.id)
        self._session.rollback()
        return series

    def history(
        self, key: str, query: SeriesQuery, *, limit: int, cursor: str | None = None
    ) -> SeriesHistory:
        """One page of a series' points in job order.

        Values are converted to the metric's current unit when a point was measured in
        another (convertible) unit.
        """
        series, filters = self._series_and_filters(key, query, cursor)
        points = self._series.points(series.id, filters, limit + 1)
        unit = self._metric_unit(series)
        if unit is not None:
            factors = _Factors(unit)
            for point in points:
                if point.unit != unit and point.value is not None:
                    factor = factors.get(point.unit)
                    if factor is not None:
                        point.value *= factor
                        point.unit = unit
        next_cursor = str(points[limit - 1].job_id) if len(points) > limit else None
        return SeriesHistory(series, unit, Page(points[:limit], next_cursor))

    def history_columns(
        self, key: str, query: SeriesQuery, *, limit: int, cursor: str | None = None
    ) -> SeriesColumnsHistory:
        """Like `history`, the points as one list per field: the API's fast read."""
        series, filters = self._series_and_filters(key, query, cursor)
        columns = self._point_columns(series.id, filters, limit + 1)
        unit = self._metric_unit(series)
        # list.count runs in C: most series never change unit, and this is then all.
        if unit is not None and columns.unit.count(unit) != len(columns):
            factors = _Factors(unit)
            values, units = columns.value, columns.unit
            for i, (value, point_unit) in enumerate(zip(values, units, strict=True)):
                if point_unit != unit and value is not None:
                    factor = factors.get(point_unit)
                    if factor is not None:
                        values[i] = value * factor
                        units[i] = unit
        next_cursor = None
        if len(columns) > limit:
            next_cursor = str(columns.job_id[limit - 1])
            columns = columns.head(limit)
        return SeriesColumnsHistory(series, unit, columns, next_cursor)

    def _point_columns(self, series_id: int, filters: PointFilter, limit: int) -> SeriesColumns:
        """The points of a series, their job facts from this process's `JobFactsCache`
        where it has them (the measurements alone are read then), else by a join."""
        if self._job_facts is None or self._audit is None or joins_jobs(filters):
            return self._series.point_columns(series_id, filters, limit)
        generation = self._audit.data_generation()
        table = self._job_facts.table(generation)
        rows = self._series.measurement_rows(series_id, filters, limit)
        missing = JobFactsCache.missing(table, map(itemgetter(0), rows))
        if missing:
            JobFactsCache.add(table, self._series.job_facts(missing))
        if self._audit.data_generation() == generation:
            try:
                return JobFactsCache.columns(table, rows)
            except KeyError:  # a job gone between the two reads
                pass
        # A job was removed meanwhile, and its id may have been given again.
        return self._series.point_columns(series_id, filters, limit)

    def _series_and_filters(
        self, key: str, query: SeriesQuery, cursor: str | None
    ) -> tuple[SeriesInfo, PointFilter]:
        series = self._series.get_by_key(key)
        if series is None:
            self._session.rollback()
            raise SeriesNotFoundError(f"No series has the key {key!r}.")
        filters = PointFilter(
            branch=query.branch,
            environment=query.environment,
            since=query.since,
            until=query.until,
            after_job_id=int_cursor(cursor),
        )
        if query.from_commit:
            filters.first_job_id = self._commit_range(query.from_commit)[0]
        if query.to_commit:
            filters.last_job_id = self._commit_range(query.to_commit)[1]
        return series, filters

    def _metric_unit(self, series: SeriesInfo) -> str | None:
        """The unit of the series' metric; ends the read transaction."""
        metric = self._metrics.get(series.metric_name)
        self._session.rollback()
        return metric.unit if metric is not None else None

    def _commit_range(self, commit: str) -> tuple[int, int]:
        found = self._series.job_id_range_for_commit(commit)
        if found is None:
            self._session.rollback()
            raise NotFoundError(f"No job ran on a commit starting with {commit!r}.")
        return found


def _matches(data_id: dict[str, Any], wanted: dict[str, Any] | None) -> bool:
    if not wanted:
        return True
    return all(k in data_id and data_id[k] == v for k, v in wanted.items())


class _Factors:
    """Conversion factors to one unit, each computed once per read."""

    def __init__(self, unit: str) -> None:
        self._unit = unit
        self._known: dict[str, float | None] = {}

    def get(self, unit: str) -> float | None:
        if unit not in self._known:
            self._known[unit] = conversion_factor(unit, self._unit)
        return self._known[unit]
