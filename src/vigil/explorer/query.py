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
query needs and only the files its tract/visit filter names. ``engine="dask"`` runs every
query on a Dask cluster instead (aggregates, per-source values, the quick look's tail
counts, visits, tracts, positions and the patch count), with the same plans and answers;
`default_engine` sets the engine of the repositories opened inside it (``vigil explore
--dask``). A file that cannot be read is left out and named in `Repository.problems`.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from vigil.compute.dask_cluster import DaskCluster, open_cluster
from vigil.compute.dask_values import tail_counts_dask
from vigil.compute.engine import connect
from vigil.compute.errors import ComputeError, UnknownMetricError
from vigil.compute.files import FileProblem, TableIndex
from vigil.compute.granularity import GROUP_KEYS, ID_COLUMN, Table
from vigil.compute.plan import Range, ValuesPlan, WhereValue
from vigil.compute.registry import MetricRegistry, default_registry
from vigil.compute.repository import RepoConfig, RepoLayout, sort_bands

from ._cache import ResultCache
from ._dask_navigation import dask_patches, dask_positions, dask_tracts, dask_visits
from ._files import RepositoryFiles
from ._metrics import MetricInfo, RepoSummary, metric_infos
from ._navigation import (
    query_positions,
    query_tracts,
    query_visits,
    side_by_side,
    summarise,
)
from ._plans import frozen_where, tail_counts_sql
from ._runner import Engine, QueryRunner, default_engine, engine_default

__all__ = [
    "DEFAULT_VALUES_LIMIT",
    "MetricInfo",
    "Range",
    "RepoSummary",
    "Repository",
    "default_engine",
]

DEFAULT_VALUES_LIMIT = 200_000
"""Rows `Repository.values` returns at most unless told otherwise (then ``truncated``)."""

_CACHE_SIZE = 256
_BAND_COLUMN = re.compile(r"(?P<band>[A-Za-z0-9]+)_psfFlux")
T = TypeVar("T")


class Repository:
    """A data repository opened for queries.

    Parameters
    ----------
    path
        The repository's folder.
    engine
        ``duckdb`` or ``dask``; default: `default_engine`'s, else ``duckdb``.
    dask_client
        With ``engine="dask"``: a ``distributed.Client``, a
        `vigil.compute.dask_cluster.DaskCluster`, or what ``--dask`` takes (``local``,
        ``local:N``, a scheduler address; `vigil.compute.dask_cluster.open_cluster`,
        closed with the repository); None uses Dask's local threaded scheduler.
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
        engine: Engine | None = None,
        dask_client: Any = None,
        registry: MetricRegistry | None = None,
        threads: int | None = None,
    ) -> None:
        if engine is None:
            engine, default_client = engine_default()
            dask_client = default_client if dask_client is None else dask_client
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
        self._cluster: DaskCluster | None = None
        if engine == "dask" and isinstance(dask_client, str):
            self._cluster = open_cluster(dask_client)
            dask_client = self._cluster.client
        elif isinstance(dask_client, DaskCluster):
            dask_client = dask_client.client
        self.dask_client = dask_client
        self.registry = registry or default_registry()
        self._con: duckdb.DuckDBPyConnection = connect(threads)
        self._lock = threading.RLock()
        self._cache = ResultCache(_CACHE_SIZE)
        self._files = RepositoryFiles(self.layout)
        self._infos: dict[str, MetricInfo] | None = None
        self._runner = QueryRunner(
            lambda: self.name, self._con, self._files, self.registry, engine, dask_client
        )

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the DuckDB connection (and the Dask cluster opened from a text)."""
        self._con.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def clear_cache(self) -> None:
        """Forget cached results, keeping the file lists."""
        self._cache.clear()

    def refresh(self) -> None:
        """Forget cached file lists and results (after files changed)."""
        with self._lock:
            self._cache.clear()
            self._files.forget()
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
        return self._files.tables()

    @property
    def problems(self) -> list[FileProblem]:
        """Files that cannot be read (left out of every answer)."""
        return self._files.problems

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
        if self.engine == "dask":
            # The patches are counted on the cluster, the rest read from the footers.
            objects = tables["objects"]
            tables = {**tables, "objects": dataclasses.replace(objects, files={})}
        summary = summarise(
            self._con,
            tables,
            name=self.name,
            bands=self.bands(),
            metrics=len(self.metrics()),
            inferred=self.inferred,
            problems=self.problems,
        )
        if self.engine == "dask":
            summary = dataclasses.replace(
                summary,
                tracts=sorted(objects.files),
                objects=objects.rows,
                patches=self._run(lambda: dask_patches(objects, self.dask_client)),
            )
        return summary

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
                self._infos = metric_infos(self.config, self._files, self.registry, self.bands())
            return self._infos

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
        key = ("aggregate", metric, tuple(by), frozen_where(where), stat, self.engine)
        return self._cached(
            key, lambda: self._runner.aggregate(self.metric(metric), by, where or {}, stat)
        )

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
        keys = [
            ("aggregate", metric, level, frozen_where(where), None, self.engine) for level in wanted
        ]
        missing = [level for level, key in zip(wanted, keys, strict=True) if key not in self._cache]
        if len(missing) > 1:
            frames = self._runner.aggregate_sets(self.metric(metric), missing, where or {})
            for level, frame in zip(missing, frames, strict=True):
                key = ("aggregate", metric, level, frozen_where(where), None, self.engine)
                self._cache.put(key, frame)
        return [self.aggregate(metric, list(level), where) for level in wanted]

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
            frame = self._runner.values(self.metric(metric), build)
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

        def count() -> tuple[Any, ...] | None:
            plan = self._values_plan(metric, where or {}, (), ("value",), limit=None)
            if not plan.files:
                return None
            if self.engine == "dask":
                total, counts = tail_counts_dask(plan, bounds, self.dask_client)
                return (total, *counts)
            inner, params = plan.sql()
            # The count of stored values needs no scan: the files' footers hold it.
            total = int(self.aggregate(metric, [], where, stat="count")["count"].sum())
            if not bounds:
                return (total,)
            query = tail_counts_sql(inner, bounds)
            beyond = self._con.cursor().execute(query, [*values, *params, *edges]).fetchone()
            return (total, *beyond) if beyond else None

        key = ("tail", metric, tuple(bounds), frozen_where(where))
        row = self._cached(key, lambda: self._runner.retry_stored(self.metric(metric), count))
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
        return self._runner.values_plan(
            info, where, columns, fields, limit=limit, sample=sample, seed=seed
        )

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
        return side_by_side(mine, theirs, keys)

    def visits(self, tract: int | None = None, band: str | None = None) -> pd.DataFrame:
        """The visits (of *tract*, in *band*): ``visit``, ``band``, ``sources``, ``detectors``."""
        key = ("visits", tract, band)
        sources = self.tables()["sources"]
        if self.engine == "dask":
            return self._cached(
                key, lambda: self._run(lambda: dask_visits(sources, tract, band, self.dask_client))
            )
        return self._cached(key, lambda: query_visits(self._con, self._run, sources, tract, band))

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
        key = ("positions", table, tuple(by), frozen_where(where))
        index = self.tables()[table]
        if self.engine == "dask":
            client = self.dask_client
            return self._cached(
                key,
                lambda: self._run(
                    lambda: dask_positions(index, table, tuple(by), where or {}, client)
                ),
            )
        return self._cached(
            key,
            lambda: query_positions(self._con, self._run, index, table, tuple(by), where or {}),
        )

    def tracts(self) -> pd.DataFrame:
        """The tracts: ``tract``, ``patches``, ``objects``."""
        objects = self.tables()["objects"]
        if self.engine == "dask":
            return self._cached(
                ("tracts",), lambda: self._run(lambda: dask_tracts(objects, self.dask_client))
            )
        return self._cached(("tracts",), lambda: query_tracts(self._con, self._run, objects))

    # -- internals -----------------------------------------------------------------------

    def _cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        return self._cache.get(key, compute)

    def _run(self, query: Callable[[], T]) -> T:
        return self._runner.run(query)
