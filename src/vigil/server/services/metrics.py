"""Metric and specification definitions: read them, and load a verify_metrics tree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from vigil.verify import MetricSet, SpecificationSet

from ..domain import MetricInfo, Page, SpecificationInfo
from ..exceptions import MetricNotFoundError, SpecificationNotFoundError
from ..storage.metrics import MetricStore, SpecificationStore
from ._rows import metric_row, metric_row_changed, spec_directions, spec_row, spec_row_changed

__all__ = ["LoadResult", "MetricService"]


@dataclass(slots=True)
class LoadResult:
    """What loading definitions did."""

    metrics: int
    metrics_written: int
    specifications: int
    specifications_written: int


class MetricService:
    """Reads and loads metric and specification definitions."""

    def __init__(
        self, session: Session, *, metrics: MetricStore, specs: SpecificationStore
    ) -> None:
        self._session = session
        self._metrics = metrics
        self._specs = specs

    def load_tree(self, path: Path) -> LoadResult:
        """Load a verify_metrics tree (``metrics/`` and, if present, ``specs/``).

        Definitions replace the stored ones of the same name, in one transaction.

        Raises
        ------
        vigil.verify.VerifyError
            A file is malformed (the message names it).
        FileNotFoundError
            *path* does not exist.
        """
        metrics = MetricSet.load(path)
        has_specs = (path / "specs").is_dir() or path.name == "specs"
        specs = SpecificationSet.load(path) if has_specs else SpecificationSet()
        return self.store(metrics, specs)

    def store(self, metrics: MetricSet, specs: SpecificationSet) -> LoadResult:
        """Store definitions, writing only those that changed."""
        now = datetime.now(UTC)
        try:
            directions = spec_directions(specs.values())
            metric_rows = [metric_row(m, directions.get(m.name), now) for m in metrics.values()]
            stored = self._metrics.get_many(r["name"] for r in metric_rows)
            changed = [r for r in metric_rows if metric_row_changed(r, stored.get(r["name"]))]
            self._metrics.upsert(changed)
            spec_rows = [spec_row(s, now) for s in specs.values()]
            stored_specs = self._specs.get_many(r["name"] for r in spec_rows)
            changed_specs = [
                r for r in spec_rows if spec_row_changed(r, stored_specs.get(r["name"]))
            ]
            self._specs.upsert(changed_specs)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return LoadResult(len(metric_rows), len(changed), len(spec_rows), len(changed_specs))

    def list_metrics(
        self, *, package: str | None = None, limit: int, cursor: str | None = None
    ) -> Page[MetricInfo]:
        """Metrics by name, one page."""
        items = self._metrics.list(package=package, after=cursor or None, limit=limit + 1)
        self._session.rollback()
        next_cursor = items[limit - 1].name if len(items) > limit else None
        return Page(items[:limit], next_cursor)

    def get_metric(self, name: str) -> tuple[MetricInfo, list[SpecificationInfo]]:
        """A metric and its specifications."""
        metric = self._metrics.get(name)
        if metric is None:
            self._session.rollback()
            raise MetricNotFoundError(f"No metric is called {name!r}.")
        specs = self._specs.list(metric=name)
        self._session.rollback()
        return metric, specs

    def list_specifications(
        self, *, metric: str | None = None, limit: int, cursor: str | None = None
    ) -> Page[SpecificationInfo]:
        """Specifications by name, one page."""
        items = self._specs.list(metric=metric, after=cursor or None, limit=limit + 1)
        self._session.rollback()
        next_cursor = items[limit - 1].name if len(items) > limit else None
        return Page(items[:limit], next_cursor)

    def get_specification(self, name: str) -> SpecificationInfo:
        """One specification."""
        spec = self._specs.get(name)
        self._session.rollback()
        if spec is None:
            raise SpecificationNotFoundError(f"No specification is called {name!r}.")
        return spec
