"""Running aggregate plans on Dask: the same plan as DuckDB, for data beyond one machine.

``dask.dataframe.read_parquet`` reads the plan's files and only its columns; each
partition computes and selects in NumPy (`vigil.compute.actions`' ``evaluate`` and
``mask``), filters, keeps only the group keys and what the reduction reads, and the
groups are reduced with the aggregator's NumPy form: where their file is read when they
lie within one tract or visit (a file holds one), else after a shuffle. The whole
dataset's built-in aggregate (a median, a percentile, ``sigma_mad``, a mean, a count, an
outlier fraction) is computed on a cluster from the values each worker keeps, sorted,
without gathering them (`vigil.compute._dask_select`): no worker needs the memory of a
whole column. A fit, or an aggregate a plugin adds, gathers what it reads into one
partition. The result has the same columns, order and values as
`vigil.compute.engine.run_aggregate`. Pass a ``distributed.Client`` to run on a cluster
(`vigil.compute.dask_cluster`); otherwise Dask's local threaded scheduler runs it. On a
cluster whose workers are all paused (out of memory), or gone, for
`vigil.compute._dask_wait.STALL_GRACE` seconds, the computation is cancelled and is a
`vigil.compute.dask_cluster.DaskStalledError`, never a silent hang.

Every partition's frame has the columns and dtypes of the frame Dask is told to expect
(its ``meta``), in a fixed order: the workers are other processes, whose sets of column
names iterate in another order than the client's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

from vigil.compute._dask_select import Parts, dataset_aggregate, reducible, sorted_values
from vigil.compute._dask_wait import results
from vigil.compute.actions import Aggregator, FloatArray, as_float
from vigil.compute.engine import AGGREGATE_COLUMNS, reduce_groups
from vigil.compute.granularity import DATA_ID_COLUMNS, ID_COLUMN, PARTITION_COLUMN
from vigil.compute.metric import BoundMetric
from vigil.compute.plan import AggregatePlan, Range, Source, WhereValue, physical_columns
from vigil.compute.sql import parquet_paths

__all__ = [
    "compute",
    "read_rows",
    "run_aggregate_dask",
    "run_aggregate_levels_dask",
    "source_rows",
    "where_mask",
]

_ALL = "__all__"

T = TypeVar("T")


def where_mask(frame: pd.DataFrame, where: Mapping[str, WhereValue]) -> np.ndarray:
    """The rows of *frame* that pass *where* (as `vigil.compute.plan.render_where`)."""
    keep = np.ones(len(frame), dtype=bool)
    for name, value in where.items():
        column = frame[name]
        if isinstance(value, Range):
            values = as_float(column.to_numpy())
            with np.errstate(invalid="ignore"):
                if value.min is not None:
                    keep &= values >= value.min
                if value.max is not None:
                    keep &= values <= value.max
        elif isinstance(value, str | int | float):
            keep &= (column == value).to_numpy(dtype=bool, na_value=False)
        else:
            keep &= column.isin(list(value)).to_numpy(dtype=bool, na_value=False)
    return keep


def source_rows(
    metric: BoundMetric,
    source: Source,
    frame: pd.DataFrame,
    where: Mapping[str, WhereValue],
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """The per-source rows of one partition: what DuckDB's inner query returns, filtered
    by *where* (and, for per-source values, finite), with the *extra* table columns."""
    table = metric.table
    if source == "stored":
        out = frame.copy()
        if "value" in out:
            out["value"] = as_float(out["value"].to_numpy())
    else:

        def get(wide: str) -> np.ndarray:
            (name,) = physical_columns(table, metric.band, [wide])
            return cast(np.ndarray, frame[name].to_numpy())

        keep = metric.mask(get, len(frame))
        if table == "sources" and metric.band is not None:
            keep &= (frame["band"] == metric.band).to_numpy(dtype=bool, na_value=False)
        columns: dict[str, Any] = {c: frame[c].to_numpy()[keep] for c in DATA_ID_COLUMNS[table]}
        columns["band"] = np.full(int(keep.sum()), metric.band, dtype=object)
        if metric.per_source:
            columns[ID_COLUMN[table]] = frame[ID_COLUMN[table]].to_numpy()[keep]
            columns["coord_ra"] = frame["coord_ra"].to_numpy()[keep]
            columns["coord_dec"] = frame["coord_dec"].to_numpy()[keep]
            columns["mag"] = metric.definition.magnitude.evaluate(get, metric.band)[keep]
            columns["value"] = metric.evaluate(get)[keep]
        else:
            for name in sorted(physical_columns(table, metric.band, metric.value_columns())):
                columns[name] = frame[name].to_numpy()[keep]
        for name in extra:
            if name not in columns:
                columns[name] = frame[name].to_numpy()[keep]
        out = pd.DataFrame(columns)
    out = out[where_mask(out, where)]
    if metric.per_source:
        # A fit's stored NaN (too few sources) stays: its count says why.
        out = out[np.isfinite(as_float(out["value"].to_numpy()))]
    return out


def read_rows(
    files: Sequence[Any],
    columns: Sequence[str],
    rows: Callable[[pd.DataFrame], pd.DataFrame],
) -> Any:
    """A Dask DataFrame of ``rows(partition)`` over the Parquet *files* (their *columns*).

    ``rows`` runs once on an empty frame of the files' schema, here, to tell Dask the
    columns and dtypes every partition has; each partition is then cast to them.
    """
    import dask.dataframe as dd

    # fsspec expands globs in the paths as DuckDB does: escape them the same way.
    # One partition per file: a file holds one tract or visit, so a group within one
    # never spans partitions (`run_aggregate_levels_dask` reduces those in place).
    frame = dd.read_parquet(parquet_paths(files), columns=list(columns), split_row_groups=False)
    meta = rows(frame._meta)

    def conform(part: pd.DataFrame) -> pd.DataFrame:
        out = rows(part)[list(meta.columns)]
        return out.astype(meta.dtypes.to_dict()) if len(out) else meta

    return frame.map_partitions(conform, meta=meta)


def compute(collection: Any, client: Any = None) -> Any:
    """The value of a Dask *collection*, on *client* when given.

    Raises
    ------
    vigil.compute.dask_cluster.DaskStalledError
        The cluster of *client* could not go on (`vigil.compute._dask_wait.results`).
    """
    if client is None:
        return collection.compute()
    (value,) = results(client, [client.compute(collection)])
    return value


def _reducer(plan: AggregatePlan) -> Callable[[pd.DataFrame], pd.Series]:
    metric = plan.metric
    if plan.reduces_in_python:

        def fit(group: pd.DataFrame) -> pd.Series:
            reduced = reduce_groups(metric, group, [])
            return pd.Series({"value": reduced["value"].iloc[0], "count": float(len(group))})

        return fit
    aggregator = plan.reducer

    def aggregate(group: pd.DataFrame) -> pd.Series:
        values = as_float(group["value"].to_numpy())
        return pd.Series({"value": aggregator.reduce(values), "count": float(len(values))})

    return aggregate


def _kept(plan: AggregatePlan, group_keys: Sequence[str]) -> list[str]:
    """The columns a partition hands on to the shuffle: keys and what the reduction reads."""
    metric = plan.metric
    if plan.reduces_in_python:
        reads = sorted(physical_columns(metric.table, metric.band, metric.value_columns()))
    else:
        reads = ["value"]
    return [*group_keys, *(c for c in reads if c not in group_keys)]


def run_aggregate_dask(plan: AggregatePlan, client: Any = None) -> pd.DataFrame:
    """The aggregate of *plan*, computed by Dask (on *client* when given)."""
    (result,) = run_aggregate_levels_dask(plan, [plan.keys], client)
    return result


def run_aggregate_levels_dask(
    plan: AggregatePlan, levels: Sequence[Sequence[str]], client: Any = None
) -> list[pd.DataFrame]:
    """The aggregates of *plan* grouped by each of *levels* (subsets of its keys), as
    `run_aggregate_dask` gives each, computed together: the rows are read and computed
    once for every level."""
    if not plan.files:
        empty = pd.DataFrame({"value": [], "count": []})
        return [
            empty.assign(**{k: [] for k in level})[[*level, *AGGREGATE_COLUMNS]].astype(
                {"value": "float64", "count": "int64"}
            )
            for level in levels
        ]
    if plan.reads_stored_fits:
        wanted = [*plan.keys, "value", "count"]

        def stored(part: pd.DataFrame) -> pd.DataFrame:
            return source_rows(plan.metric, plan.source, part, plan.where)[wanted]

        graphs = [read_rows(plan.files, plan.read_columns(), stored)]
    else:
        kept = _kept(plan, [*plan.keys, _ALL])

        def rows(part: pd.DataFrame) -> pd.DataFrame:
            out = source_rows(plan.metric, plan.source, part, plan.where)
            return out.assign(**{_ALL: np.int8(0)})[kept]

        frame = read_rows(plan.files, plan.read_columns(), rows)
        graphs = [_grouped(plan, frame, list(level) or [_ALL]) for level in levels]
    spread = (
        client is not None
        and not plan.reads_stored_fits
        and not plan.reduces_in_python
        and any(not level for level in levels)
        and reducible(plan.reducer)
    )
    if client is None:
        from dask.base import compute as compute_together

        together: Any = compute_together  # not annotated
        computed = list(together(*graphs))
    elif spread:
        # The dataset's value from the sorted values each worker keeps, read with the
        # other levels' rows (`vigil.compute._dask_select`), instead of gathered.
        at = [i for i, level in enumerate(levels) if level]
        values = frame["value"].map_partitions(_sorted_series, meta=("value", "f8"))
        held = client.persist([*(graphs[i] for i in at), values])
        computed = [_dataset_row(plan, FutureParts(client, held[-1]))] * len(levels)
        for i, graph in zip(at, held[:-1], strict=True):
            computed[i] = pd.concat(results(client, _futures(graph)), ignore_index=True)
        del held, values
    else:
        computed = results(client, client.compute(graphs))
    if plan.reads_stored_fits:
        (result,) = computed
        return [_shaped(result.sort_values(list(plan.keys)) if plan.keys else result, plan.keys)]
    out = []
    for level, result in zip(levels, computed, strict=True):
        if spread and not level:
            out.append(result)
            continue
        keys = list(level) or [_ALL]
        if not set(keys) <= set(result.columns):
            result = result.reset_index()
        elif result.duplicated(keys).any():
            # A file held rows of several tracts or visits: reduce after a shuffle.
            graph = frame.groupby(keys).apply(_reducer(plan), meta={"value": "f8", "count": "f8"})
            result = compute(graph, client).reset_index()
        result = result.sort_values(keys).drop(columns=[_ALL], errors="ignore")
        out.append(_shaped(result, level))
    return out


def _sorted_series(values: pd.Series) -> pd.Series:
    return pd.Series(sorted_values(values.to_numpy()), name="value")


def _dataset_row(plan: AggregatePlan, parts: Parts) -> pd.DataFrame:
    """The dataset's aggregate of *plan*, one row (none without values), from *parts*."""
    value, count = dataset_aggregate(plan.reducer, parts)
    row = {"value": [value], "count": [count]} if count else {"value": [], "count": []}
    return _shaped(pd.DataFrame(row), [])


def _futures(collection: Any) -> list[Any]:
    """The futures holding the partitions of a persisted Dask *collection*."""
    from distributed import futures_of

    found: Any = futures_of  # not annotated
    return list(found(collection))


def _on_array(function: Callable[[FloatArray], Any], part: Any) -> Any:
    return function(np.asarray(part, dtype=np.float64))


class FutureParts:
    """`vigil.compute._dask_select.Parts` that are on a cluster: the partitions of a
    persisted Dask collection, or the futures of arrays made from them."""

    def __init__(self, client: Any, held: Any) -> None:
        self.client = client
        self.futures = held if isinstance(held, list) else _futures(held)

    def each(self, function: Callable[[FloatArray], T]) -> list[T]:
        return cast(list[T], results(self.client, self._map(function)))

    def derived(self, function: Callable[[FloatArray], FloatArray]) -> FutureParts:
        return FutureParts(self.client, self._map(function))

    def _map(self, function: Callable[[FloatArray], Any]) -> list[Any]:
        return cast(list[Any], self.client.map(partial(_on_array, function), self.futures))


def _grouped(plan: AggregatePlan, frame: Any, keys: list[str]) -> Any:
    """The Dask graph of *frame*'s groups by *keys* reduced: in each partition when the
    keys name the table's partition (each file is one tract or visit), in one partition
    for the whole dataset, else after a shuffle of the groups."""
    reducer = _reducer(plan)
    if keys == [_ALL]:
        # One group: its rows are gathered into one partition, without a shuffle, and
        # only what the reduction reads: the values alone (8 bytes a row) unless a fit
        # reads more, so that one worker holds the dataset's column, not its rows.
        if not plan.reduces_in_python:
            frame = frame[[_ALL, "value"]]
        frame = frame.repartition(npartitions=1)
    elif PARTITION_COLUMN[plan.metric.table] not in keys:
        return frame.groupby(keys).apply(reducer, meta={"value": "f8", "count": "f8"})
    meta = frame._meta[keys].assign(value=np.zeros(0), count=np.zeros(0))

    def local(part: pd.DataFrame) -> pd.DataFrame:
        if part.empty:
            return meta
        if not plan.reduces_in_python:
            return _reduced_in_place(plan.reducer, part, keys)[list(meta.columns)]
        groups = part.groupby(keys, sort=True)[[c for c in part.columns if c not in keys]]
        return groups.apply(reducer).reset_index()[list(meta.columns)]

    return frame.map_partitions(local, meta=meta)


def _reduced_in_place(aggregator: Aggregator, part: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The groups of *part* by *keys* (sorted; rows whose key is missing left out, as
    pandas' groupby does) with the *aggregator*'s value of each and its count: each
    group's values, in their order in *part*, are a slice of one array, not a frame."""
    grouped = part.groupby(keys, sort=True)
    codes = grouped.ngroup().to_numpy()
    kept = codes >= 0
    order = np.argsort(codes[kept], kind="stable")
    values = as_float(part["value"].to_numpy())[kept][order]
    counts = np.bincount(codes[kept], minlength=grouped.ngroups)
    ends = np.cumsum(counts)
    starts = ends - counts
    reduced = [aggregator.reduce(values[a:b]) for a, b in zip(starts, ends, strict=True)]
    out = grouped.size().reset_index()[keys]
    return out.assign(value=np.asarray(reduced, dtype=np.float64), count=counts.astype("f8"))


def _shaped(result: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    result = result[[*keys, *AGGREGATE_COLUMNS]].reset_index(drop=True)
    result["value"] = result["value"].astype("float64")
    result["count"] = result["count"].astype("int64")
    return result
