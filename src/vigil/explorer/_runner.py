"""Running a repository's queries: plans (`_plans`) on DuckDB or Dask, retried without
the unreadable files of a stored metric.

On Dask, the aggregates and per-source values run as `vigil.compute.dask_engine` and
`vigil.compute.dask_values` run a plan; the files' errors then come from PyArrow on the
workers and are the repository's `RepositoryError` as DuckDB's are.

A stored metric's value files are listed without reading their footers (`_files`); when
a query over them fails, `QueryRunner.retry_stored` reads them one by one, so that each
unreadable one becomes a problem of the repository, and runs the query again without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, Literal, TypeVar

import duckdb
import pandas as pd
import pyarrow as pa

from vigil.compute.engine import run_aggregate, run_values
from vigil.compute.errors import ComputeError, RepositoryError
from vigil.compute.granularity import check_group_keys
from vigil.compute.metric import BoundMetric
from vigil.compute.plan import AggregatePlan, ValuesPlan, WhereValue
from vigil.compute.registry import MetricRegistry

from ._files import RepositoryFiles, run_query
from ._metrics import MetricInfo, bound_metric
from ._plans import aggregate_plan, judged, normalise, values_plan

__all__ = ["Engine", "QueryRunner", "default_engine", "engine_default"]

T = TypeVar("T")

Engine = Literal["duckdb", "dask"]

_DEFAULT_ENGINE: ContextVar[tuple[Engine, Any]] = ContextVar(
    "vigil_explorer_engine", default=("duckdb", None)
)


def engine_default() -> tuple[Engine, Any]:
    """The engine and Dask client of `default_engine` here (``duckdb`` outside one)."""
    return _DEFAULT_ENGINE.get()


@contextmanager
def default_engine(engine: Engine, dask_client: Any = None) -> Iterator[None]:
    """Make *engine* (with *dask_client*) the engine of the `Repository` objects opened
    inside the block without one of their own.

    ``vigil explore --dask`` opens its cluster and serves the explorer inside this block,
    so that the repositories the explorer opens run on the cluster.
    """
    if engine not in ("duckdb", "dask"):
        raise ComputeError(f"unknown engine {engine!r}; use duckdb or dask")
    token = _DEFAULT_ENGINE.set((engine, dask_client))
    try:
        yield
    finally:
        _DEFAULT_ENGINE.reset(token)


class QueryRunner:
    """Plans and runs the aggregates and per-source queries of one repository.

    Parameters
    ----------
    name
        The repository's name now (for messages; it changes when its file is reloaded).
    con
        The repository's DuckDB connection (a cursor per query).
    files
        The repository's files.
    registry
        Where metric definitions are looked up.
    engine
        What runs aggregates: ``duckdb`` or ``dask``.
    dask_client
        With ``dask``: a ``distributed.Client``, or None for Dask's threaded scheduler.
    """

    def __init__(
        self,
        name: Callable[[], str],
        con: duckdb.DuckDBPyConnection,
        files: RepositoryFiles,
        registry: MetricRegistry,
        engine: Engine,
        dask_client: Any,
    ) -> None:
        self.name = name
        self.con = con
        self.files = files
        self.registry = registry
        self.engine: Engine = engine
        self.dask_client = dask_client

    def run(self, query: Callable[[], T]) -> T:
        """``query()``, DuckDB's (and on Dask, PyArrow's) errors about files as the
        repository's `RepositoryError`."""
        if self.engine == "duckdb":
            return run_query(self.name(), query)
        try:
            return run_query(self.name(), query)
        except (OSError, pa.ArrowException) as exc:
            raise RepositoryError(
                f"repository {self.name()!r}: a file cannot be read on Dask ({exc})"
            ) from None

    def retry_stored(self, info: MetricInfo, query: Callable[[], T]) -> T:
        """``query()``; if it fails on a stored metric's files not yet checked, check
        them (each unreadable one becomes a problem) and run it again."""
        try:
            return self.run(query)
        except RepositoryError:
            if not info.stored or self.files.checked(info.name, info.table):
                raise
            self.files.metric_index(info.name, info.table)
        return self.run(query)

    def bound(self, name: str) -> BoundMetric | None:
        """The registry's definition of metric *name* (None for one Vigil does not know)."""
        return bound_metric(self.registry, name)

    def group_keys(self, info: MetricInfo, by: Sequence[str]) -> tuple[str, ...]:
        """*by* checked against the table and granularity of *info*."""
        bound = self.bound(info.name)
        if bound is not None:
            return bound.check_group_keys(tuple(by))
        return check_group_keys(info.name, info.table, info.granularity, by)

    def aggregate_plan(
        self,
        info: MetricInfo,
        keys: tuple[str, ...],
        where: Mapping[str, WhereValue],
        stat: str | None,
        sets: tuple[tuple[str, ...], ...] = (),
    ) -> AggregatePlan:
        """How to aggregate *info* by *keys* (`vigil.explorer._plans.aggregate_plan`)."""
        plan = aggregate_plan(
            self.files, info, self.bound(info.name), keys, where, stat, repository=self.name()
        )
        return replace(plan, sets=sets) if sets else plan

    def aggregate(
        self,
        info: MetricInfo,
        by: Sequence[str],
        where: Mapping[str, WhereValue],
        stat: str | None,
    ) -> pd.DataFrame:
        """*info* aggregated by *by*, as `Repository.aggregate` answers it (not cached)."""
        keys = self.group_keys(info, by)

        def query() -> pd.DataFrame:
            # The plan is made again on the second try: it then leaves bad files out.
            plan = self.aggregate_plan(info, keys, where, stat)
            if self.engine == "dask":
                from vigil.compute.dask_engine import run_aggregate_dask

                return run_aggregate_dask(plan, self.dask_client)
            return run_aggregate(self.con, plan)

        return judged(info, normalise(self.retry_stored(info, query), keys))

    def values(self, info: MetricInfo, plan: Callable[[], ValuesPlan]) -> pd.DataFrame:
        """The rows of the values plan ``plan()`` of *info* (made again on a retry)."""

        def query() -> pd.DataFrame:
            if self.engine == "dask":
                from vigil.compute.dask_values import run_values_dask

                return run_values_dask(plan(), self.dask_client)
            return run_values(self.con, plan())

        return self.retry_stored(info, query)

    def aggregate_sets(
        self, info: MetricInfo, levels: Sequence[Sequence[str]], where: Mapping[str, WhereValue]
    ) -> list[pd.DataFrame]:
        """*info* aggregated at each of *levels*, in one scan (grouping sets; on Dask, one
        read of the rows for every level) when its aggregate is an SQL one, else level by
        level."""
        checked = [self.group_keys(info, level) for level in levels]
        union = tuple(dict.fromkeys(key for level in checked for key in level))
        plan = self.aggregate_plan(info, union, where, None)
        if plan.reduces_in_python or plan.reads_stored_fits or not union:
            return [self.aggregate(info, level, where, None) for level in checked]
        if self.engine == "dask":
            from vigil.compute.dask_engine import run_aggregate_levels_dask

            frames = self.retry_stored(
                info,
                lambda: run_aggregate_levels_dask(
                    self.aggregate_plan(info, union, where, None), checked, self.dask_client
                ),
            )
            return [
                judged(info, normalise(frame, level))
                for frame, level in zip(frames, checked, strict=True)
            ]
        sets = tuple(checked)
        frame = self.retry_stored(
            info,
            lambda: run_aggregate(self.con, self.aggregate_plan(info, union, where, None, sets)),
        )
        plan = replace(plan, sets=sets)
        out = []
        for level in checked:
            part = frame[frame["grouping"] == plan.grouping_id(level)]
            part = part.sort_values(list(level)) if level else part
            out.append(judged(info, normalise(part, level)))
        return out

    def values_plan(
        self,
        info: MetricInfo,
        where: Mapping[str, WhereValue],
        columns: Sequence[str],
        fields: Sequence[str] | None,
        *,
        limit: int | None,
        sample: int | None = None,
        seed: int = 0,
    ) -> ValuesPlan:
        """Which rows and columns give the per-source values of *info*."""
        return values_plan(
            self.files,
            info,
            self.bound(info.name),
            where,
            columns,
            fields,
            limit=limit,
            sample=sample,
            seed=seed,
        )
