"""What the analysis of a series reads, fetched for many series at once.

A worker's pass analyses hundreds of series. Read one by one, each costs six queries
(the series, its metric, its values, its records, its specifications, ...), and building
and running them costs far more than the statistics. `AnalysisInputs` reads the series,
values and records of a chunk of series in one query each, and each metric and its
specifications once a pass; a series it was not given is read alone, on demand, so that
the analysis of one series (`RegressionService.analyse`) reads the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from vigil.verify.units import conversion_factor

from ..domain import MetricInfo, SeriesInfo, SpecificationInfo
from ..domain.regressions import SeriesValue, StoredChange
from ..storage.metrics import MetricStore, SpecificationStore
from ..storage.regressions import RegressionStore

__all__ = ["AnalysisInputs", "convert_values"]


def convert_values(values: list[SeriesValue], unit: str | None) -> list[SeriesValue]:
    """*values* converted to *unit* where they can be (in place; returned)."""
    if unit is not None:
        for point in values:
            if point.value is not None and point.unit != unit:
                factor = conversion_factor(point.unit, unit)
                if factor is not None:
                    point.value *= factor
                    point.unit = unit
    return values


class AnalysisInputs:
    """The reads of the analysis of series on the main line of *branch*.

    Parameters
    ----------
    store, metrics, specs
        The stores it reads.
    branch
        The default branch: its jobs, and those naming no branch, are the main line.
    """

    def __init__(
        self,
        store: RegressionStore,
        metrics: MetricStore,
        specs: SpecificationStore,
        branch: str,
    ) -> None:
        self._store = store
        self._metric_store = metrics
        self._spec_store = specs
        self._branch = branch
        self._series: dict[int, SeriesInfo | None] = {}
        self._values: dict[int, list[SeriesValue]] = {}
        self._stored: dict[int, list[StoredChange]] = {}
        self._metrics: dict[str, MetricInfo | None] = {}
        self._specs: dict[str, list[SpecificationInfo]] = {}

    def prefetch(self, series_ids: Sequence[int]) -> None:
        """Read what the analysis of *series_ids* needs, one query a kind; forget the
        series read before (the metrics and specifications stay)."""
        ids = list(series_ids)
        found = self._store.series_many(ids)
        self._series = {i: found.get(i) for i in ids}
        values = self._store.line_values_many(ids, self._branch)
        self._values = {i: values.get(i, []) for i in ids}
        stored = self._store.stored_changes_many(ids)
        self._stored = {i: stored.get(i, []) for i in ids}
        names = {s.metric_name for s in found.values()} - self._metrics.keys()
        if names:
            known = self._metric_store.get_many(names)
            self._metrics.update({name: known.get(name) for name in names})

    def series(self, series_id: int) -> SeriesInfo | None:
        """The series (None: it no longer exists)."""
        if series_id not in self._series:
            self._series[series_id] = self._store.series(series_id)
        return self._series[series_id]

    def metric(self, name: str) -> MetricInfo | None:
        """The metric's definition (None: not stored)."""
        if name not in self._metrics:
            self._metrics[name] = self._metric_store.get(name)
        return self._metrics[name]

    def line_values(self, series_id: int, unit: str | None) -> list[SeriesValue]:
        """The series' main-line values in time order, converted to *unit* where they can
        be. Each series' values are handed out once."""
        values = self._values.pop(series_id, None)
        if values is None:
            values = self._store.line_values(series_id, self._branch)
        return convert_values(values, unit)

    def stored_changes(self, series_id: int) -> list[StoredChange]:
        """Every record of the series, by id. Handed out once."""
        stored = self._stored.pop(series_id, None)
        return stored if stored is not None else self._store.stored_changes(series_id)

    def specifications(self, metric: str) -> list[SpecificationInfo]:
        """The specifications of *metric*."""
        if metric not in self._specs:
            self._specs[metric] = self._spec_store.list(metric=metric)
        return self._specs[metric]
