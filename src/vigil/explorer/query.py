"""The explorer's query engine: one data repository, aggregates at any level, per-source rows.

`Repository` opens a repository (docs/repository.md) and answers what the explorer's
pages ask, as pandas DataFrames:

- `Repository.summary`: tracts, patches, visits per band, objects and sources, from the
  Parquet footers only;
- `Repository.metrics`: every metric known: stored, listed in ``vigil-repo.yaml``, or
  computable on demand from the tables' columns (a repository without the file has its
  metrics inferred, and `Repository.inferred` says so);
- `Repository.aggregate`: a metric aggregated by ``[]`` (the dataset), ``["tract"]``,
  ``["tract", "patch"]``, ``["visit"]``, ``["visit", "detector"]``, ``["band"]``, ...,
  with the acceptable range applied;
- `Repository.values`: the per-source values of a selection, with coordinates and
  magnitude, for plots;
- `Repository.compare`: the same aggregate in two repositories, side by side;
- `Repository.visits`: the visits (of a tract), for the coadd -> visit jump.

Queries run in DuckDB (one connection per repository, a cursor per query, so the object
is safe to share between the threads of a Panel server), reading only the columns a
query needs and only the files its tract/visit filter names. ``engine="dask"`` runs the
aggregates on Dask with the same plan. A file that cannot be read is left out and named
in `Repository.problems`.
"""

# SQL here is assembled from quoted identifiers, escaped literals and ? parameters only
# (vigil.compute.sql).
# ruff: noqa: S608

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from vigil.compute.engine import connect, run_aggregate, run_values
from vigil.compute.errors import (
    ComputeError,
    GranularityError,
    RepositoryError,
    UnknownMetricError,
)
from vigil.compute.files import FileInfo, FileProblem, TableIndex, footer, scan_files
from vigil.compute.granularity import (
    GROUP_KEYS,
    ID_COLUMN,
    PARTITION_COLUMN,
    TABLES,
    Table,
    check_group_keys,
    level_keys,
)
from vigil.compute.metric import AcceptableRange, BoundMetric, GroupReducer
from vigil.compute.plan import (
    AggregatePlan,
    Range,
    ValuesPlan,
    WhereValue,
    missing_columns,
    partition_keys,
    quote,
    render_where,
)
from vigil.compute.registry import MetricRegistry, default_registry
from vigil.compute.repository import (
    SORTED_BY_KEY,
    MetricEntry,
    RepoConfig,
    RepoLayout,
    sort_bands,
)
from vigil.compute.sql import parquet_paths

__all__ = [
    "DEFAULT_VALUES_LIMIT",
    "MetricInfo",
    "Range",
    "RepoSummary",
    "Repository",
]

DEFAULT_VALUES_LIMIT = 200_000
"""Rows `Repository.values` returns at most unless told otherwise (then ``truncated``)."""

_CACHE_SIZE = 256
_BAND_COLUMN = re.compile(r"(?P<band>[A-Za-z0-9]+)_psfFlux")
Engine = Literal["duckdb", "dask"]


@dataclass(frozen=True)
class MetricInfo:
    """One metric of a repository.

    Attributes
    ----------
    name
        Concrete name (``psf_size_residual_i``).
    table
        ``objects`` or ``sources``.
    band
        Its band (None for a metric over several bands).
    unit, description, aggregate, granularity, selection
        From the definition or ``vigil-repo.yaml``.
    acceptable
        The acceptable range of its aggregates (None: no range).
    stored
        Whether ``metrics/<name>/`` has values; otherwise it is computed from the table
        on demand.
    rows
        Stored values (None when not stored).
    definition
        The registry's definition name, None for a stored metric Vigil does not know.
    """

    name: str
    table: Table
    band: str | None
    unit: str
    description: str
    aggregate: str
    granularity: str
    selection: tuple[str, ...]
    acceptable: AcceptableRange | None
    stored: bool
    rows: int | None
    definition: str | None


@dataclass(frozen=True)
class RepoSummary:
    """The header figures of a repository."""

    name: str | None
    tracts: list[int]
    patches: int
    visits_per_band: dict[str, int]
    objects: int
    sources: int
    bands: list[str]
    metrics: int
    inferred: bool
    problems: list[FileProblem] = field(default_factory=list)


def _frozen(where: Mapping[str, WhereValue] | None) -> tuple[tuple[str, Hashable], ...]:
    if not where:
        return ()
    items: list[tuple[str, Hashable]] = []
    for key, value in sorted(where.items()):
        if isinstance(value, str | int | float | Range):
            items.append((key, value))
        else:
            items.append((key, tuple(value)))
    return tuple(items)


class Repository:
    """A data repository opened for queries.

    Parameters
    ----------
    path
        The repository's folder.
    engine
        ``duckdb`` (default) or ``dask`` for aggregates.
    dask_client
        With ``engine="dask"``: a ``distributed.Client``, or a scheduler address to
        connect to; None uses Dask's local threaded scheduler.
    registry
        Where metric definitions are looked up (default: the standard metrics).
    threads
        DuckDB threads (default: DuckDB's choice, one per core).

    Raises
    ------
    RepositoryError
        When *path* is not a repository.
    RepositoryConfigError
        When its ``vigil-repo.yaml`` is invalid.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        engine: Engine = "duckdb",
        dask_client: Any = None,
        registry: MetricRegistry | None = None,
        threads: int | None = None,
    ) -> None:
        if engine not in ("duckdb", "dask"):
            raise ComputeError(f"unknown engine {engine!r}; use duckdb or dask")
        self.path = Path(path)
        self.layout = RepoLayout(self.path)
        self.layout.check()
        config_path = self.layout.config_path
        self.config: RepoConfig | None = (
            RepoConfig.load(config_path) if config_path.exists() else None
        )
        self.engine: Engine = engine
        if engine == "dask" and isinstance(dask_client, str):
            from distributed import Client

            dask_client = Client(dask_client)
        self.dask_client = dask_client
        self.registry = registry or default_registry()
        self._con: duckdb.DuckDBPyConnection = connect(threads)
        self._lock = threading.RLock()
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._tables: dict[Table, TableIndex] | None = None
        self._metric_indexes: dict[tuple[str, Table], TableIndex] = {}
        self._metric_listings: dict[tuple[str, Table], _StoredFiles] = {}
        self._infos: dict[str, MetricInfo] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._con.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def clear_cache(self) -> None:
        """Forget cached results, keeping the file lists."""
        with self._lock:
            self._cache.clear()

    def refresh(self) -> None:
        """Forget cached file lists and results (after files changed)."""
        with self._lock:
            self._cache.clear()
            self._tables = None
            self._metric_indexes.clear()
            self._metric_listings.clear()
            self._infos = None
            if self.layout.config_path.exists():
                self.config = RepoConfig.load(self.layout.config_path)

    @property
    def inferred(self) -> bool:
        """Whether the repository has no ``vigil-repo.yaml`` (metrics are inferred)."""
        return self.config is None

    @property
    def name(self) -> str:
        """The repository's name (from the file, else the folder's)."""
        if self.config is not None and self.config.name:
            return self.config.name
        return self.path.name

    # -- files ---------------------------------------------------------------------------

    def tables(self) -> dict[Table, TableIndex]:
        """The indexes of the object and source tables (footers only, cached)."""
        with self._lock:
            if self._tables is None:
                self._tables = {
                    table: scan_files(table, self.layout.table_files(table)) for table in TABLES
                }
            return self._tables

    def _metric_index(self, name: str, table: Table) -> TableIndex:
        with self._lock:
            key = (name, table)
            if key not in self._metric_indexes:
                self._metric_indexes[key] = scan_files(table, self.layout.metric_files(name, table))
            return self._metric_indexes[key]

    def _metric_files(self, name: str, table: Table, partitions: list[int] | None) -> _StoredFiles:
        """The value files of a metric (of *partitions*), their columns and row order.

        Until a query over them fails, the files are listed without reading their
        footers in Python (DuckDB reads each once, in parallel, and caches it); the
        first readable one gives the columns and the order its rows are sorted in
        (`SORTED_BY_KEY`; the fast path checks that every row keeps it). After a
        failure `_retry_stored` reads them all and leaves the unreadable ones out.
        """
        key = (name, table)
        with self._lock:
            if key not in self._metric_listings:
                files = self.layout.metric_files(name, table)
                columns: tuple[str, ...] = ()
                sorted_by: tuple[str, ...] = ()
                for path in files.values():
                    try:
                        metadata = footer(path)
                    except (OSError, pa.ArrowException):
                        continue
                    columns = tuple(metadata.schema.to_arrow_schema().names)
                    order = (metadata.metadata or {}).get(SORTED_BY_KEY.encode(), b"")
                    sorted_by = tuple(c for c in order.decode(errors="replace").split(",") if c)
                    break
                self._metric_listings[key] = _StoredFiles(files, columns, sorted_by)
            listing = self._metric_listings[key]
            index = self._metric_indexes.get(key)
        if index is not None:
            files = {info.key: info.path for info in index.select(partitions)}
            return _StoredFiles(files, index.columns, listing.sorted_by)
        if partitions is None:
            return listing
        chosen = {k: listing.files[k] for k in partitions if k in listing.files}
        return _StoredFiles(chosen, listing.columns, listing.sorted_by)

    def _retry_stored(self, info: MetricInfo, run: Any) -> Any:
        """``run()``; if it fails on a stored metric's files not yet checked, check
        them (each unreadable one becomes a `problem <problems>`) and run again."""
        try:
            return self._run(run)
        except RepositoryError:
            key = (info.name, info.table)
            with self._lock:
                checked = key in self._metric_indexes
            if not info.stored or checked:
                raise
            self._metric_index(info.name, info.table)
        return self._run(run)

    @property
    def problems(self) -> list[FileProblem]:
        """Files that cannot be read (left out of every answer)."""
        found = [p for index in self.tables().values() for p in index.problems]
        found += [p for index in list(self._metric_indexes.values()) for p in index.problems]
        return found

    def bands(self) -> list[str]:
        """The repository's bands."""
        if self.config is not None and self.config.bands:
            return list(self.config.bands)
        tables = self.tables()
        found = set(tables["sources"].bands)
        found |= {
            m.group("band") for c in tables["objects"].columns if (m := _BAND_COLUMN.fullmatch(c))
        }
        return sort_bands(found)

    # -- summary and metrics ------------------------------------------------------------

    def summary(self) -> RepoSummary:
        """Tracts, patches, visits per band, objects and sources (cached)."""
        return self._cached(("summary",), self._summary)

    def _summary(self) -> RepoSummary:
        tables = self.tables()
        objects, sources = tables["objects"], tables["sources"]
        patches = 0
        if objects.files:
            paths = parquet_paths(info.path for info in objects.files.values())
            row = (
                self._con.cursor()
                .execute("SELECT count(DISTINCT (tract, patch)) FROM read_parquet(?)", [paths])
                .fetchone()
            )
            patches = int(row[0]) if row else 0
        per_band: dict[str, int] = {}
        for info in sources.files.values():
            for band in info.bands or ("?",):
                per_band[band] = per_band.get(band, 0) + 1
        return RepoSummary(
            name=self.name,
            tracts=sorted(objects.files),
            patches=patches,
            visits_per_band={b: per_band[b] for b in sort_bands(per_band)},
            objects=objects.rows,
            sources=sources.rows,
            bands=self.bands(),
            metrics=len(self.metrics()),
            inferred=self.inferred,
            problems=self.problems,
        )

    def metrics(self) -> list[MetricInfo]:
        """Every metric of the repository, stored or computable on demand."""
        return list(self._metric_infos().values())

    def metric(self, name: str) -> MetricInfo:
        """The metric called *name*.

        Raises
        ------
        UnknownMetricError
            When the repository has no such metric.
        """
        infos = self._metric_infos()
        if name not in infos:
            raise UnknownMetricError(
                f"repository {self.name!r} has no metric {name!r}; its metrics are"
                f" {', '.join(infos) or 'none'}"
            )
        return infos[name]

    def _metric_infos(self) -> dict[str, MetricInfo]:
        with self._lock:
            if self._infos is None:
                self._infos = self._build_infos()
            return self._infos

    def _build_infos(self) -> dict[str, MetricInfo]:
        entries: dict[str, MetricEntry] = dict(self.config.metrics) if self.config else {}
        stored = set(self.layout.stored_metrics())
        tables = self.tables()
        names: list[str] = [n for n in entries if "{band}" not in n]
        names += [n for n in sorted(stored) if n not in names]
        for metric in self.registry.instances(self.bands()):
            if metric.name in names:
                continue
            index = tables[metric.table]
            if index.files and not missing_columns(metric, index.columns):
                names.append(metric.name)
        infos: dict[str, MetricInfo] = {}
        for name in names:
            info = self._info(name, entries.get(name), name in stored)
            if info is not None:
                infos[name] = info
        return infos

    def _bound(self, name: str) -> BoundMetric | None:
        try:
            return self.registry.resolve(name)
        except UnknownMetricError:
            return None

    def _info(self, name: str, entry: MetricEntry | None, stored: bool) -> MetricInfo | None:
        bound = self._bound(name)
        table: Table
        if entry is not None and entry.table is not None:
            table = entry.table
        elif bound is not None:
            table = bound.table
        else:
            table = next((t for t in TABLES if self.layout.metric_files(name, t)), "objects")
        rows = None
        if stored:
            # vigil compute records the count; reading every footer is the fallback.
            recorded = entry.rows if entry is not None else None
            rows = recorded if recorded is not None else self._metric_index(name, table).rows
        description = bound.describe() if bound is not None else {}
        acceptable = entry.acceptable if entry and entry.acceptable else None
        if acceptable is None and bound is not None:
            acceptable = bound.definition.acceptable
        if not stored and bound is None:
            return None

        def pick(key: str, default: str = "") -> str:
            value = getattr(entry, key, None) if entry else None
            return str(value if value is not None else description.get(key, default))

        selection = (
            tuple(entry.selection)
            if entry and entry.selection
            else tuple(description.get("selection", ()))
        )
        return MetricInfo(
            name=name,
            table=table,
            band=(entry.band if entry and entry.band else None)
            or (bound.band if bound is not None else None),
            unit=pick("unit"),
            description=pick("description"),
            aggregate=pick("aggregate", "median"),
            granularity=pick("granularity", "source"),
            selection=selection,
            acceptable=acceptable,
            stored=stored,
            rows=rows,
            definition=bound.definition.name if bound is not None else None,
        )

    # -- aggregates ----------------------------------------------------------------------

    def aggregate(
        self,
        metric: str,
        by: Sequence[str] = (),
        where: Mapping[str, WhereValue] | None = None,
        *,
        stat: str | None = None,
    ) -> pd.DataFrame:
        """*metric* aggregated by *by*.

        Parameters
        ----------
        metric
            A concrete metric name, or a template (``psf_size_residual_{band}``) to
            aggregate every band's metric (add ``band`` to *by* to keep them apart).
        by
            Group keys: dataId columns of the metric's table and ``band``; ``[]`` for
            the whole dataset.
        where
            Filters: ``{"tract": 9813}``, ``{"visit": [1228, 1230]}``,
            ``{"mag": Range(18, 22)}``; on dataId columns, ``band``, ``coord_ra``,
            ``coord_dec``, ``mag`` and ``value``.
        stat
            The aggregator (``median``, ``mean``, ``sigma_mad``, ``p<q>``, ``count``,
            ``outlier_fraction``); default: the metric's own.

        Returns
        -------
        pandas.DataFrame
            The keys, ``value``, ``count`` (sources in the group; for a fit, the sources
            it used) and ``acceptable`` (True, False, or NA without a range or value),
            ordered by the keys.

        Raises
        ------
        UnknownMetricError, GranularityError, ComputeError
            For an unknown metric, a grouping its granularity forbids, a bad filter.
        """
        if "{band}" in metric:
            return self._aggregate_template(metric, by, where, stat)
        key = ("aggregate", metric, tuple(by), _frozen(where), stat, self.engine)
        return self._cached(key, lambda: self._aggregate(metric, tuple(by), where or {}, stat))

    def aggregate_levels(
        self,
        metric: str,
        levels: Sequence[Sequence[str]],
        where: Mapping[str, WhereValue] | None = None,
    ) -> list[pd.DataFrame]:
        """*metric* aggregated at several levels at once, as `aggregate` gives each.

        The levels are answered by one scan of the values (SQL grouping sets) when the
        metric's aggregate is an SQL one, and each answer is cached as `aggregate`'s
        own, so that drilling down afterwards costs nothing.

        Parameters
        ----------
        metric
            A concrete metric name.
        levels
            Groupings (``[[], ["tract"], ["tract", "patch"]]``), nested or not.
        where
            Filters, as for `aggregate`.

        Returns
        -------
        list of pandas.DataFrame
            One frame per level, in the order of *levels*.
        """
        wanted = [tuple(level) for level in levels]
        keys = [("aggregate", metric, level, _frozen(where), None, self.engine) for level in wanted]
        with self._lock:
            missing = [
                level for level, key in zip(wanted, keys, strict=True) if key not in self._cache
            ]
        if len(missing) > 1 and self.engine == "duckdb":
            for level, frame in zip(
                missing, self._aggregate_sets(metric, missing, where or {}), strict=True
            ):
                key = ("aggregate", metric, level, _frozen(where), None, self.engine)
                self._cached(key, lambda f=frame: f)
        return [self.aggregate(metric, list(level), where) for level in wanted]

    def _aggregate_sets(
        self, name: str, levels: list[tuple[str, ...]], where: Mapping[str, WhereValue]
    ) -> list[pd.DataFrame]:
        info = self.metric(name)
        bound = self._bound(name)
        checked = []
        for level in levels:
            if bound is not None:
                checked.append(bound.check_group_keys(level))
            else:
                checked.append(
                    check_group_keys(name, info.table, info.granularity, level)  # type: ignore[arg-type]
                )
        union = tuple(dict.fromkeys(key for level in checked for key in level))
        plan = self._aggregate_plan(info, bound, union, where, None)
        if plan.reduces_in_python or plan.reads_stored_fits or not union:
            return [self._aggregate(name, level, where, None) for level in checked]
        plan = replace(plan, sets=tuple(checked))
        frame = self._retry_stored(
            info,
            lambda: run_aggregate(
                self._con,
                replace(self._aggregate_plan(info, bound, union, where, None), sets=plan.sets),
            ),
        )
        out = []
        for level in checked:
            part = frame[frame["grouping"] == plan.grouping_id(level)]
            part = part.sort_values(list(level)) if level else part
            out.append(self._judged(info, _normalise(part, level)))
        return out

    def _aggregate_template(
        self,
        template: str,
        by: Sequence[str],
        where: Mapping[str, WhereValue] | None,
        stat: str | None,
    ) -> pd.DataFrame:
        names = [
            m.name
            for m in self.registry.expand(template, self.bands())
            if m.name in self._metric_infos()
        ]
        if not names:
            raise UnknownMetricError(f"repository {self.name!r} has no metric of {template!r}")
        frames = [self.aggregate(name, by, where, stat=stat) for name in names]
        if "band" not in by:
            for name, frame in zip(names, frames, strict=True):
                frame.insert(0, "metric", name)
        return pd.concat(frames, ignore_index=True)

    def _aggregate(
        self, name: str, by: tuple[str, ...], where: Mapping[str, WhereValue], stat: str | None
    ) -> pd.DataFrame:
        info = self.metric(name)
        bound = self._bound(name)
        if bound is not None:
            keys = bound.check_group_keys(by)
        else:
            keys = check_group_keys(name, info.table, info.granularity, by)  # type: ignore[arg-type]
        plan = self._aggregate_plan(info, bound, keys, where, stat)
        if self.engine == "dask":
            from vigil.compute.dask_engine import run_aggregate_dask

            frame = run_aggregate_dask(plan, self.dask_client)
        else:
            frame = self._retry_stored(
                info,
                lambda: run_aggregate(
                    self._con, self._aggregate_plan(info, bound, keys, where, stat)
                ),
            )
        return self._judged(info, _normalise(frame, keys))

    @staticmethod
    def _judged(info: MetricInfo, frame: pd.DataFrame) -> pd.DataFrame:
        """*frame* with ``acceptable``: each value against the metric's range."""
        acceptable = info.acceptable
        values = frame["value"].to_numpy(dtype="float64")
        judged = pd.array([None] * len(frame), dtype="boolean")
        if acceptable is not None and len(frame):
            inside = np.ones(len(frame), dtype=bool)
            if acceptable.min is not None:
                inside &= values >= acceptable.min
            if acceptable.max is not None:
                inside &= values <= acceptable.max
            judged = pd.array(inside, dtype="boolean")
            judged[~np.isfinite(values)] = pd.NA
        frame["acceptable"] = judged
        return frame

    def _aggregate_plan(
        self,
        info: MetricInfo,
        bound: BoundMetric | None,
        keys: tuple[str, ...],
        where: Mapping[str, WhereValue],
        stat: str | None,
    ) -> AggregatePlan:
        table = info.table
        partitions = partition_keys(table, where)
        if info.stored and (bound is None or bound.per_source or self._fit_level(bound, keys)):
            if bound is None:
                bound = _opaque(info)
            stored = self._metric_files(info.name, table, partitions)
            return AggregatePlan(
                bound,
                "stored",
                stored.paths,
                stored.columns,
                keys,
                where,
                bound.aggregator(stat) if bound.per_source else None,
                sorted_by=stored.sorted_by,
            )
        if bound is None:
            raise GranularityError(
                f"metric {info.name!r} is stored at {info.granularity} granularity and Vigil"
                " does not know its definition: aggregate it at that level"
            )
        index = self.tables()[table]
        if not index.files:
            raise RepositoryError(
                f"repository {self.name!r} has no {table} table for {info.name!r}"
            )
        files = index.select(partitions, bound.band if table == "sources" else None)
        return AggregatePlan(
            bound,
            "catalogue",
            tuple(f.path for f in files),
            index.columns,
            keys,
            where,
            bound.aggregator(stat) if bound.per_source else None,
        )

    @staticmethod
    def _fit_level(bound: BoundMetric, keys: tuple[str, ...]) -> bool:
        """Whether a fit's stored groups answer a grouping by *keys* as they are."""
        level = level_keys(bound.max_granularity)
        return bool(level) and set(keys) - {"band"} == set(level)

    # -- per-source values ---------------------------------------------------------------

    def values(
        self,
        metric: str,
        where: Mapping[str, WhereValue] | None = None,
        *,
        columns: Sequence[str] = (),
        fields: Sequence[str] | None = None,
        limit: int | None = DEFAULT_VALUES_LIMIT,
        sample: int | None = None,
        seed: int = 0,
    ) -> pd.DataFrame:
        """The per-source values of *metric* in a selection.

        Parameters
        ----------
        metric
            A per-source metric.
        where
            Filters, as for `aggregate`.
        columns
            Extra columns of the metric's table (``i_extendedness``), joined on the id.
        fields
            Only these output columns (``["coord_ra", "coord_dec", "value"]`` for a sky
            map of millions of rows: much less to read and convert).
        limit
            Rows at most (None: all). ``frame.attrs["truncated"]`` says whether rows
            were left out.
        sample
            A uniform random sample of this many rows instead of the first rows, the
            same for the same *seed*.

        Returns
        -------
        pandas.DataFrame
            DataId columns, ``band``, the id, ``coord_ra``, ``coord_dec`` (degrees),
            ``mag``, ``value`` and *columns*.
        """

        def build() -> ValuesPlan:
            return self._values_plan(
                metric, where or {}, columns, fields, limit=limit, sample=sample, seed=seed
            )

        plan = build()
        if not plan.files:
            table = plan.metric.table
            frame = pd.DataFrame(columns=[*GROUP_KEYS[table], ID_COLUMN[table], "value"])
        else:
            frame = self._retry_stored(self.metric(metric), lambda: run_values(self._con, build()))
        truncated = limit is not None and len(frame) > limit
        if truncated:
            frame = frame.iloc[:limit].copy()
        frame.attrs["truncated"] = truncated
        frame.attrs["limit"] = limit
        return frame

    def tail_counts(
        self,
        metric: str,
        bounds: Sequence[tuple[float, bool]],
        where: Mapping[str, WhereValue] | None = None,
    ) -> tuple[int, list[int]]:
        """How many per-source values of *metric* lie at or beyond each bound.

        Parameters
        ----------
        metric
            A per-source metric.
        bounds
            ``(threshold, above)`` pairs: values ``>= threshold`` are counted when
            *above*, values ``<= threshold`` otherwise.
        where
            Filters, as for `aggregate`.

        Returns
        -------
        tuple
            The number of values, and the count beyond each bound (one scan).
        """
        values = [float(threshold) for threshold, _ in bounds]
        above = [float(t) for t, up in bounds if up]
        below = [float(t) for t, up in bounds if not up]
        edges = [*([min(above)] if above else []), *([max(below)] if below else [])]

        def count() -> Any:
            plan = self._values_plan(metric, where or {}, (), ("value",), limit=None)
            if not plan.files:
                return None
            inner, params = plan.sql()
            # The count of stored values needs no scan: the files' footers hold it.
            total = int(self.aggregate(metric, [], where, stat="count")["count"].sum())
            if not bounds:
                return (total,)
            query = _tail_counts_sql(inner, bounds)
            beyond = self._con.cursor().execute(query, [*values, *params, *edges]).fetchone()
            return (total, *beyond) if beyond else None

        key = ("tail", metric, tuple(bounds), _frozen(where))
        row = self._cached(key, lambda: self._retry_stored(self.metric(metric), count))
        total = int(row[0]) if row else 0
        return total, [int(n) for n in (row[1:] if row else [0] * len(bounds))]

    def _values_plan(
        self,
        metric: str,
        where: Mapping[str, WhereValue],
        columns: Sequence[str],
        fields: Sequence[str] | None,
        *,
        limit: int | None,
        sample: int | None = None,
        seed: int = 0,
    ) -> ValuesPlan:
        info = self.metric(metric)
        bound = self._bound(metric) or _opaque(info)
        if not bound.per_source:
            raise GranularityError(
                f"metric {metric!r} is a fit per {info.granularity}: it has no per-source"
                " values; use aggregate()"
            )
        table = info.table
        partitions = partition_keys(table, where)
        extra = tuple(columns)
        tables = self.tables()
        unknown = [c for c in extra if c not in tables[table].columns]
        if unknown:
            raise ComputeError(f"the {table} table has no column {', '.join(unknown)}")
        fraction = None
        if info.stored and sample is None:
            stored = self._metric_files(metric, table, partitions)
            paths, available = stored.paths, stored.columns
            join = tables[table].select(partitions) if extra else []
        elif info.stored:
            # A sample's share of rows needs the row counts: read the footers.
            index = self._metric_index(metric, table)
            files = index.select(partitions)
            paths, available = tuple(f.path for f in files), index.columns
            join = tables[table].select(partitions) if extra else []
            fraction = self._sample_fraction(sample, files, where, table, info.stored)
        else:
            index = tables[table]
            files = index.select(partitions, bound.band if table == "sources" else None)
            paths, available = tuple(f.path for f in files), index.columns
            join = []
        return ValuesPlan(
            bound,
            "stored" if info.stored else "catalogue",
            paths,
            available,
            where,
            extra,
            tuple(f.path for f in join),
            None if limit is None else limit + 1,
            sample,
            seed,
            fraction,
            self._fields(fields, table, extra),
        )

    @staticmethod
    def _fields(
        fields: Sequence[str] | None, table: Table, extra: tuple[str, ...]
    ) -> tuple[str, ...] | None:
        if fields is None:
            return None
        known = [*GROUP_KEYS[table], ID_COLUMN[table], "coord_ra", "coord_dec", "mag", "value"]
        unknown = [f for f in fields if f not in known and f not in extra]
        if unknown or not fields:
            raise ComputeError(
                f"cannot return field(s) {', '.join(unknown) or 'none'}: choose among"
                f" {', '.join(known)} and the extra columns"
            )
        return tuple(fields)

    @staticmethod
    def _sample_fraction(
        sample: int | None,
        files: list[FileInfo],
        where: Mapping[str, WhereValue],
        table: Table,
        stored: bool,
    ) -> float | None:
        """The share of stored rows that gives about *sample* rows, when it is known.

        It is known for stored values filtered by tract or visit only (whole files);
        other filters need an exact reservoir sample.
        """
        if sample is None or not stored or set(where) - {PARTITION_COLUMN[table]}:
            return None
        rows = sum(f.rows for f in files)
        # Five sigma above the expected count: short of *sample* rows practically never.
        wanted = sample + 5.0 * math.sqrt(sample) + 10.0
        return 1.0 if rows <= wanted else wanted / rows

    # -- comparison and navigation -------------------------------------------------------

    def compare(
        self,
        other: Repository | Path | str,
        metric: str,
        by: Sequence[str] = (),
        where: Mapping[str, WhereValue] | None = None,
        *,
        stat: str | None = None,
    ) -> pd.DataFrame:
        """*metric* aggregated by *by* here and in *other*, side by side.

        Returns
        -------
        pandas.DataFrame
            The keys, ``value`` and ``count`` (this repository), ``value_other`` and
            ``count_other``, ``delta`` (``value_other - value``) and ``missing``
            (``"this"``, ``"other"`` or None). A metric or group that one side lacks
            is NaN there, never zero.
        """
        other_repo = other if isinstance(other, Repository) else Repository(other)
        keys = list(by)
        sides = []
        for repo in (self, other_repo):
            try:
                frame = repo.aggregate(metric, keys, where, stat=stat)
            except UnknownMetricError:
                frame = pd.DataFrame({**{k: [] for k in keys}, "value": [], "count": []})
            sides.append(frame[[*keys, "value", "count"]])
        mine, theirs = sides
        if keys:
            merged = mine.merge(
                theirs, on=keys, how="outer", suffixes=("", "_other"), indicator=True
            )
        else:
            merged = pd.concat(
                [mine.reset_index(drop=True), theirs.add_suffix("_other").reset_index(drop=True)],
                axis=1,
            )
            merged["_merge"] = "both"
            if mine.empty:
                merged["_merge"] = "right_only"
            elif theirs.empty:
                merged["_merge"] = "left_only"
        labels = {"both": None, "left_only": "other", "right_only": "this"}
        merged["missing"] = [labels[str(state)] for state in merged["_merge"]]
        merged = merged.drop(columns=["_merge"])
        for column in ("count", "count_other"):
            merged[column] = merged[column].astype("Int64")
        merged["delta"] = merged["value_other"] - merged["value"]
        merged = merged.sort_values(keys).reset_index(drop=True) if keys else merged
        return merged[[*keys, "value", "count", "value_other", "count_other", "delta", "missing"]]

    def visits(self, tract: int | None = None, band: str | None = None) -> pd.DataFrame:
        """The visits (of *tract*, in *band*): ``visit``, ``band``, ``sources``, ``detectors``."""
        key = ("visits", tract, band)
        return self._cached(key, lambda: self._visits(tract, band))

    def _visits(self, tract: int | None, band: str | None) -> pd.DataFrame:
        index = self.tables()["sources"]
        files = index.select(None, band)
        if not files:
            return pd.DataFrame({"visit": [], "band": [], "sources": [], "detectors": []})
        conditions: list[str] = ["TRUE"]
        params: list[object] = []
        if tract is not None:
            conditions.append("tract = ?")
            params.append(tract)
        if band is not None:
            conditions.append("band = ?")
            params.append(band)
        query = (
            "SELECT visit, any_value(band) AS band, count(*) AS sources,"
            " count(DISTINCT detector) AS detectors FROM read_parquet(?)"
            f" WHERE {' AND '.join(conditions)} GROUP BY visit ORDER BY visit"
        )
        paths = parquet_paths(f.path for f in files)
        return self._run(lambda: self._con.cursor().execute(query, [paths, *params]).df())

    def positions(
        self, table: Table, by: Sequence[str], where: Mapping[str, WhereValue] | None = None
    ) -> pd.DataFrame:
        """Mean RA/Dec of each group of *table* (patch centres, detector centres, ...), cached.

        Parameters
        ----------
        table
            ``objects`` or ``sources``.
        by
            Group keys (dataId columns of the table).
        where
            Equality filters on dataId columns (``{"tract": 9813}``); a tract or visit
            filter reads only that file.

        Returns
        -------
        pandas.DataFrame
            *by*, ``ra``, ``dec`` (degrees) and ``rows``.
        """
        key = ("positions", table, tuple(by), _frozen(where))
        return self._cached(key, lambda: self._positions(table, tuple(by), where or {}))

    def _positions(
        self, table: Table, by: tuple[str, ...], where: Mapping[str, WhereValue]
    ) -> pd.DataFrame:
        known = {"tract", "patch", "visit", "detector", "band"}
        simple = {k: v for k, v in where.items() if k in known and isinstance(v, int | str)}
        files = self.tables()[table].select(partition_keys(table, simple))
        keys = [k for k in by if k in known]
        if not files:
            return pd.DataFrame({**{k: [] for k in keys}, "ra": [], "dec": [], "rows": []})
        condition, params = render_where(simple, known)
        columns = ", ".join(quote(k) for k in keys)
        select = f"{columns}, " if keys else ""
        group = f" GROUP BY {columns} ORDER BY {columns}" if keys else ""
        query = (
            f"SELECT {select}avg(coord_ra) AS ra, avg(coord_dec) AS dec, count(*) AS rows"
            f" FROM read_parquet(?) WHERE {condition}{group}"
        )
        paths = parquet_paths(f.path for f in files)
        return self._run(lambda: self._con.cursor().execute(query, [paths, *params]).df())

    def tracts(self) -> pd.DataFrame:
        """The tracts: ``tract``, ``patches``, ``objects``."""
        return self._cached(("tracts",), self._tracts)

    def _tracts(self) -> pd.DataFrame:
        files: list[FileInfo] = list(self.tables()["objects"].files.values())
        if not files:
            return pd.DataFrame({"tract": [], "patches": [], "objects": []})
        query = (
            "SELECT tract, count(DISTINCT patch) AS patches, count(*) AS objects"
            " FROM read_parquet(?) GROUP BY tract ORDER BY tract"
        )
        paths = parquet_paths(f.path for f in files)
        return self._run(lambda: self._con.cursor().execute(query, [paths]).df())

    # -- internals -----------------------------------------------------------------------

    def _cached(self, key: Hashable, compute: Any) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                hit = self._cache[key]
                return hit.copy() if isinstance(hit, pd.DataFrame) else hit
        value = compute()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return value.copy() if isinstance(value, pd.DataFrame) else value

    def _run(self, query: Any) -> Any:
        try:
            return query()
        except _QUERY_BUGS:
            raise
        except duckdb.IOException as exc:
            raise RepositoryError(f"repository {self.name!r}: {exc}") from None
        except duckdb.Error as exc:
            # DuckDB's class for "this file cannot be read" has moved between releases
            # (InvalidInputException, then the base Error for a bad footer): anything
            # that is not a mistake in the query itself is a file problem, which
            # `_retry_stored` then pins on the file and leaves out.
            raise RepositoryError(
                f"repository {self.name!r}: a file is not valid Parquet ({exc})"
            ) from None


# Errors that mean the query is wrong, not the data: a bug to report, never a file left out.
_QUERY_BUGS: tuple[type[Exception], ...] = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.NotImplementedException,
)


class _StoredFiles(NamedTuple):
    """A stored metric's value files by key, their columns and the order of their rows."""

    files: dict[int, Path]
    columns: tuple[str, ...]
    sorted_by: tuple[str, ...]

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(self.files.values())


def _opaque(info: MetricInfo) -> BoundMetric:
    """A stand-in definition for a stored metric Vigil does not know."""
    from vigil.compute.aggregators import aggregator_from_name
    from vigil.compute.metric import MetricDefinition
    from vigil.compute.quantities import Magnitude

    per_source = info.granularity == "source"
    definition = MetricDefinition(
        name=info.name,
        description=info.description,
        quantity=Magnitude() if per_source else None,
        reducer=None if per_source else _StoredOnly(),
        max_granularity=info.granularity,  # type: ignore[arg-type]
        table=info.table,
        unit=info.unit,
        aggregator=aggregator_from_name(info.aggregate, outlier_threshold=1.0),
    )
    return definition.bind(None)


class _StoredOnly(GroupReducer):
    """The reducer of a stored fit whose definition is unknown: it cannot be recomputed."""

    def columns(self, band: str | None) -> frozenset[str]:
        return frozenset()

    def reduce(self, get: Any, band: str | None) -> float:
        raise GranularityError("this fit is stored only at its own granularity")

    def describe(self, band: str | None) -> str:
        return "stored fit"


def _tail_counts_sql(inner: str, bounds: Sequence[tuple[float, bool]]) -> str:
    """Per bound, the rows of *inner* beyond it.

    The parameters are the bounds' thresholds, then *inner*'s, then the edges of the
    tails: the lowest threshold counted upwards, the highest counted downwards. Only the
    tails are read: a row group whose values all lie between them is skipped on its
    minimum and maximum (stored values are sorted, so most are).
    """
    parts = []
    for _, up in bounds:
        parts.append(
            "count(*) FILTER (WHERE value >= ?)" if up else "count(*) FILTER (WHERE value <= ?)"
        )
    counts = ", ".join(parts)
    tails = []
    if any(up for _, up in bounds):
        tails.append("value >= ?")
    if not all(up for _, up in bounds):
        tails.append("value <= ?")
    return f"SELECT {counts} FROM ({inner}) WHERE {' OR '.join(tails)}"


def _normalise(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Same dtypes from both engines: integer keys as int64, band as object."""
    frame = frame.reset_index(drop=True)
    for key in keys:
        if key == "band":
            frame[key] = frame[key].astype(object)
        else:
            frame[key] = frame[key].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    frame["count"] = frame["count"].astype("int64")
    return frame[[*keys, "value", "count"]]
