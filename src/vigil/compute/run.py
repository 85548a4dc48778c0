"""``vigil compute``: fill a repository's metric tables from its catalogues.

For every concrete metric and every file of its table (a tract of objects, a visit of
sources), one DuckDB query reads the declared columns, computes and selects, and writes
``metrics/<metric>/<tract|visit>=<key>.parquet``: per-source values (dataId columns,
id, coordinates, magnitude, value) for a per-source metric, one row per group of its
maximum granularity for a fit. ``vigil-repo.yaml`` then records what was computed, with
which selection, and the provenance of the run.

Given a Dask client (``vigil compute --dask``), each file is one task on the cluster: the
worker runs the same DuckDB query on that file alone and writes the same metric file, so
the work spreads over the workers and each holds one file's columns at a time. The
workers must see the repository at the same path.
"""

from __future__ import annotations

import importlib.metadata
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from vigil.compute.engine import METRIC_ROW_GROUP, connect, reduce_groups, write_query
from vigil.compute.errors import ComputeError, MissingColumnsError
from vigil.compute.files import FileInfo, TableIndex, scan_table
from vigil.compute.granularity import DRILL_KEYS, TABLES, Table, level_keys
from vigil.compute.metric import BoundMetric
from vigil.compute.plan import (
    AggregatePlan,
    ValuesPlan,
    absent_optional_columns,
    missing_columns,
)
from vigil.compute.registry import MetricRegistry, default_registry
from vigil.compute.repository import MetricEntry, RepoConfig, RepoLayout, atomic_path, sort_bands

__all__ = [
    "ComputeReport",
    "MetricOutcome",
    "Progress",
    "RepositoryTables",
    "compute_repository",
    "select_metrics",
    "stored_order",
]

Progress = Callable[[str, int, int], None]
"""Called as ``progress(metric, files_done, files_total)``."""

_BAND_COLUMN = re.compile(r"(?P<band>[A-Za-z0-9]+)_psfFlux")


@dataclass
class MetricOutcome:
    """What was written for one metric."""

    name: str
    files: int
    rows: int


@dataclass
class ComputeReport:
    """The result of `compute_repository`."""

    computed: list[MetricOutcome] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    notes: dict[str, str] = field(default_factory=dict)
    """What a computed metric's selection could not apply (an absent optional column)."""

    @property
    def rows(self) -> int:
        """Values written, over all metrics."""
        return sum(outcome.rows for outcome in self.computed)


@dataclass
class RepositoryTables:
    """The indexes of a repository's tables and the bands found in them."""

    layout: RepoLayout
    tables: dict[Table, TableIndex]

    @classmethod
    def scan(cls, layout: RepoLayout) -> RepositoryTables:
        """Read the footers of every table file."""
        return cls(layout, {table: scan_table(layout, table) for table in TABLES})

    def bands(self, config: RepoConfig | None = None) -> list[str]:
        """The repository's bands: from the configuration, else from the tables."""
        if config is not None and config.bands:
            return list(config.bands)
        found = set(self.tables["sources"].bands)
        for column in self.tables["objects"].columns:
            match = _BAND_COLUMN.fullmatch(column)
            if match:
                found.add(match.group("band"))
        return sort_bands(found)

    def missing(self, metric: BoundMetric) -> list[str]:
        """The columns *metric* needs that its table lacks (all, when it has no files)."""
        index = self.tables[metric.table]
        if not index.files:
            return [f"{metric.table}/ (no files)"]
        return missing_columns(metric, index.columns)


def select_metrics(
    tables: RepositoryTables,
    config: RepoConfig,
    registry: MetricRegistry,
    names: Sequence[str] | None,
) -> tuple[list[BoundMetric], dict[str, str]]:
    """The metrics to compute, and the ones skipped with the reason.

    *names* (templates or concrete names) are computed or fail; without them the
    configuration's metrics are, else every registry metric whose columns exist.

    Raises
    ------
    MissingColumnsError
        When a metric named in *names* lacks columns.
    """
    bands = tables.bands(config)
    wanted: list[BoundMetric] = []
    explicit = bool(names)
    chosen = list(names) if names else list(config.metrics)
    if chosen:
        for name in chosen:
            wanted.extend(registry.expand(name, bands))
    else:
        wanted = registry.instances(bands)
    selected: list[BoundMetric] = []
    skipped: dict[str, str] = {}
    seen: set[str] = set()
    for metric in wanted:
        if metric.name in seen:
            continue
        seen.add(metric.name)
        missing = tables.missing(metric)
        if missing:
            if explicit:
                raise MissingColumnsError(metric.name, metric.table, missing)
            skipped[metric.name] = f"missing {', '.join(missing)}"
            continue
        selected.append(metric)
    return selected, skipped


def stored_order(metric: BoundMetric, entry: MetricEntry) -> tuple[str, ...]:
    """The columns a per-source metric's values are stored sorted by (`SORTED_BY_KEY`).

    A metric with an acceptable range is judged group by group, down to patches or
    detectors: sorted by that level's keys and then the value, each group is a run whose
    quantiles are two of its positions. A metric without one is mostly read whole: sorted
    by value, its row groups' minima and maxima index it for a dataset quantile. Either
    way every quantile comes out right; the order only decides which are quickest.
    """
    keys = DRILL_KEYS[metric.table]
    return (*keys, "value") if entry.acceptable is not None else (keys[0], "value")


def _compute_file(
    con: duckdb.DuckDBPyConnection,
    layout: RepoLayout,
    metric: BoundMetric,
    path: Path,
    columns: tuple[str, ...],
    key: int,
    order: tuple[str, ...],
) -> int:
    """Compute *metric* over the table file *path* of *key*; the rows written."""
    target = layout.metric_file(metric.name, metric.table, key)
    if metric.per_source:
        query, params = ValuesPlan(metric, "catalogue", (path,), columns).sql()
        return write_query(
            con, query, params, target, sorted_by=order, row_group_size=METRIC_ROW_GROUP
        )
    keys = level_keys(metric.max_granularity)
    plan = AggregatePlan(metric, "catalogue", (path,), columns, keys)
    query, params = plan.sql()
    frame = reduce_groups(metric, con.cursor().execute(query, params).df(), keys)
    frame.insert(len(keys), "band", pd.Series([metric.band] * len(frame), dtype="string"))
    with atomic_path(target) as temporary:
        frame.to_parquet(temporary, index=False)
    return len(frame)


def _compute_task(
    layout: RepoLayout,
    metric: BoundMetric,
    path: Path,
    columns: tuple[str, ...],
    key: int,
    order: tuple[str, ...],
) -> int:
    """`_compute_file` as a Dask task: on a worker, with a connection of its own."""
    con = connect(threads=1)
    try:
        return _compute_file(con, layout, metric, path, columns, key, order)
    finally:
        con.close()


def _versions() -> dict[str, str]:
    out = {}
    for package in ("vigil", "duckdb", "pyarrow"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _entry(
    metric: BoundMetric, old: MetricEntry | None, template: MetricEntry | None
) -> MetricEntry:
    description = metric.describe()
    acceptable = metric.definition.acceptable
    for source in (template, old):
        if source is not None and source.acceptable is not None:
            acceptable = source.acceptable
    return MetricEntry(
        name=metric.name,
        definition=description["definition"],
        band=description["band"],
        table=description["table"],
        unit=description["unit"],
        description=description["description"],
        compute=description["compute"],
        selection=description["selection"],
        aggregate=description["aggregate"],
        granularity=description["granularity"],
        acceptable=acceptable,
    )


def compute_repository(
    root: Path,
    *,
    names: Sequence[str] | None = None,
    registry: MetricRegistry | None = None,
    progress: Progress | None = None,
    threads: int = 2,
    con: duckdb.DuckDBPyConnection | None = None,
    dask_client: Any = None,
) -> ComputeReport:
    """Compute the metric tables of the repository at *root*.

    Parameters
    ----------
    root
        The repository.
    names
        Metrics to compute (templates expand over the repository's bands); default: the
        metrics listed in ``vigil-repo.yaml``, else every standard metric whose columns
        the tables have.
    registry
        Where metric names are looked up (default: `default_registry`, the standard
        metrics and those of installed plugins).
    progress
        Called after each file.
    threads
        Files computed at the same time.
    con
        A DuckDB connection to use (default: a new one).
    dask_client
        A ``distributed.Client``: compute each file as a task of its cluster instead
        (*threads* and *con* are then not used).

    Raises
    ------
    RepositoryError, RepositoryConfigError, UnknownMetricError, MissingColumnsError
        For a user's mistake; nothing is written then.
    """
    started = time.perf_counter()
    layout = RepoLayout(root)
    layout.check()
    config = RepoConfig.load(layout.config_path) if layout.config_path.exists() else RepoConfig()
    registry = registry or default_registry()
    tables = RepositoryTables.scan(layout)
    broken = [p for index in tables.tables.values() for p in index.problems]
    if broken:
        raise ComputeError(
            f"{broken[0].path}: {broken[0].message}; remove or rewrite it and run again"
        )
    metrics, skipped = select_metrics(tables, config, registry, names)
    if not config.bands:
        config.bands = tables.bands(config)
    con = con or connect()
    report = ComputeReport(skipped=skipped)
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    templates = {entry.name: entry for entry in config.metrics.values() if "{band}" in entry.name}
    entries: dict[str, MetricEntry] = {}
    work: dict[str, list[FileInfo]] = {}
    for metric in metrics:
        index = tables.tables[metric.table]
        work[metric.name] = index.select(band=metric.band if metric.table == "sources" else None)
        template = templates.get(metric.definition.name)
        entries[metric.name] = _entry(metric, config.metrics.get(metric.name), template)
        absent = absent_optional_columns(metric, index.columns)
        if absent:
            note = f"{', '.join(absent)} not in the {metric.table} table: every row kept"
            entries[metric.name].selection.append(note)
            report.notes[metric.name] = note
    # On a cluster every file of every metric is submitted at once: the workers stay busy.
    tasks = _submit(dask_client, layout, tables, metrics, work, entries) if dask_client else None
    for metric in metrics:
        index = tables.tables[metric.table]
        keys = [info.key for info in work[metric.name]]
        done = 0
        if progress:
            progress(metric.name, 0, len(keys))
        entry = entries[metric.name]
        order = stored_order(metric, entry)

        def one(
            key: int,
            metric: BoundMetric = metric,
            index: TableIndex = index,
            order: tuple[str, ...] = order,
        ) -> int:
            return _compute_file(
                con, layout, metric, index.files[key].path, index.columns, key, order
            )

        rows = 0
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            counts = (
                _completed(dask_client, tasks[metric.name])
                if tasks is not None
                else pool.map(one, keys)
            )
            for count in counts:
                rows += count
                done += 1
                if progress:
                    progress(metric.name, done, len(keys))
        kept = set(keys)
        for key, path in layout.metric_files(metric.name, metric.table).items():
            if key not in kept:
                path.unlink()
        entry.computed, entry.rows, entry.files = now, rows, len(keys)
        config.metrics[metric.name] = entry
        report.computed.append(MetricOutcome(metric.name, len(keys), rows))
    for name in templates:
        config.metrics.pop(name, None)
    config.provenance.created = config.provenance.created or now
    config.provenance.software = _versions()
    config.write(layout.config_path)
    report.seconds = time.perf_counter() - started
    return report


def _submit(
    client: Any,
    layout: RepoLayout,
    tables: RepositoryTables,
    metrics: Sequence[BoundMetric],
    work: dict[str, list[FileInfo]],
    entries: dict[str, MetricEntry],
) -> dict[str, list[Any]]:
    """The Dask futures of every file of every metric, by metric."""
    out: dict[str, list[Any]] = {}
    for metric in metrics:
        columns = tables.tables[metric.table].columns
        order = stored_order(metric, entries[metric.name])
        out[metric.name] = [
            client.submit(
                _compute_task, layout, metric, info.path, columns, info.key, order, pure=False
            )
            for info in work[metric.name]
        ]
    return out


def _completed(client: Any, futures: list[Any]) -> Iterator[int]:
    """The rows each of *futures* wrote, as they finish (a task's error raised here; a
    cluster whose workers are all paused or gone, a `DaskStalledError`)."""
    from vigil.compute._dask_wait import completed

    for future in completed(client, futures):
        yield int(future.result())
