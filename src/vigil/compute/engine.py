"""Running plans with DuckDB: aggregates, value tables and the metric files of a repository.

DuckDB reads only the columns a plan names (projection pushdown into the Parquet scan)
and applies filters inside the scan; the aggregate runs in the same query. A fit that is
not an SQL aggregate (`vigil.compute.metric.GroupReducer`) gets the selected rows of its
columns and reduces each group in NumPy.
"""

# SQL here is assembled from quoted identifiers, escaped literals and ? parameters only
# (vigil.compute.sql).
# ruff: noqa: S608

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vigil.compute._ordered import (
    ordered_quantiles,
    quantile_in_bracket,
    quantile_ranks,
    stats_bracket,
)
from vigil.compute.actions import as_float
from vigil.compute.aggregators import Count
from vigil.compute.files import footer
from vigil.compute.metric import BoundMetric
from vigil.compute.plan import AggregatePlan, ValuesPlan, physical_columns, sql_string
from vigil.compute.repository import SORTED_BY_KEY, atomic_path
from vigil.compute.sql import quote_identifier as quote

__all__ = [
    "AGGREGATE_COLUMNS",
    "METRIC_ROW_GROUP",
    "connect",
    "reduce_groups",
    "run_aggregate",
    "run_values",
    "write_query",
]

AGGREGATE_COLUMNS = ("value", "count")
"""The columns an aggregate adds to its group keys."""


def connect(
    threads: int | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that caches Parquet footers between queries."""
    con = duckdb.connect(":memory:")
    con.execute("SET enable_object_cache = true")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = {sql_string(memory_limit)}")
    return con


def _getter(metric: BoundMetric, frame: pd.DataFrame) -> Callable[[str], np.ndarray]:
    def get(wide: str) -> np.ndarray:
        (name,) = physical_columns(metric.table, metric.band, [wide])
        return cast(np.ndarray, frame[name].to_numpy())

    return get


def reduce_groups(metric: BoundMetric, frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Apply *metric*'s fit to each group of the selected rows in *frame*."""
    rows: list[dict[str, object]] = []
    if keys:
        groups = frame.groupby(list(keys), sort=True, dropna=False)
        for values, group in groups:
            key_values = values if isinstance(values, tuple) else (values,)
            row: dict[str, object] = dict(zip(keys, key_values, strict=True))
            row["value"] = metric.reduce(_getter(metric, group), len(group))
            row["count"] = len(group)
            rows.append(row)
    else:
        rows.append(
            {"value": metric.reduce(_getter(metric, frame), len(frame)), "count": len(frame)}
        )
    out = pd.DataFrame(rows, columns=[*keys, *AGGREGATE_COLUMNS])
    out["value"] = out["value"].astype("float64")
    out["count"] = out["count"].astype("int64")
    return out


def run_aggregate(con: duckdb.DuckDBPyConnection, plan: AggregatePlan) -> pd.DataFrame:
    """The aggregate of *plan*: its keys, ``value`` and ``count`` (sources in the group).

    A plan with grouping sets adds ``grouping`` (`AggregatePlan.grouping_id`); the keys a
    row's grouping leaves out are null.
    """
    keys = list(plan.keys)
    if not plan.files:
        empty = pd.DataFrame({**{k: [] for k in keys}, "value": [], "count": []})
        if plan.sets and keys:
            empty["grouping"] = pd.Series([], dtype="int64")
        return empty.astype({"value": "float64", "count": "int64"})
    ordered = _ordered_aggregate(con, plan)
    if ordered is not None:
        return ordered
    query, params = plan.sql()
    frame = con.cursor().execute(query, params).df()
    if plan.reduces_in_python:
        return reduce_groups(plan.metric, frame, keys)
    frame["value"] = as_float(frame["value"].to_numpy())
    frame["count"] = frame["count"].astype("int64")
    return frame


def _ordered_aggregate(con: duckdb.DuckDBPyConnection, plan: AggregatePlan) -> pd.DataFrame | None:
    """*plan*'s quantiles read off rows stored in order (`vigil.compute._ordered`), as
    `run_aggregate` gives them; None when the plan or the rows do not allow it."""
    depths = plan.ordered_depths()
    q = plan.reducer.quantile
    # The whole dataset, unfiltered: the files' footers answer or index it.
    whole = depths == [0] and not plan.where
    if whole and isinstance(plan.reducer, Count):
        # The values are not null: their count is in the footers.
        rows = _footer_rows(plan.files)
        if rows:
            return pd.DataFrame({"value": [float(rows)], "count": [rows]})
    if depths is None or q is None:
        return None
    if whole:
        found = _indexed_quantile(plan.files, q)
        if found is not None:
            value, count = found
            return pd.DataFrame({"value": [value], "count": [count]})
    query, params = plan.rows_sql()
    columns = con.cursor().execute(query, params).fetchnumpy()
    keys = [np.asarray(columns[key]) for key in plan.keys]
    values = np.asarray(columns["value"], dtype=np.float64)
    if not len(values) or any(not np.issubdtype(key.dtype, np.integer) for key in keys):
        return None
    grouped = min(plan.grouped_depth, max(depths))
    levels = ordered_quantiles(keys, values, depths, q, grouped=grouped)
    if levels is None:
        return None
    frames = []
    for level, depth in zip(levels, depths, strict=True):
        frame = pd.DataFrame(
            {
                key: level.keys[i] if i < depth else np.full(len(level.values), np.nan)
                for i, key in enumerate(plan.keys)
            }
        )
        if plan.sets and plan.keys:
            frame["grouping"] = plan.grouping_id(plan.keys[:depth])
        frame["value"] = level.values
        frame["count"] = level.counts
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


METRIC_ROW_GROUP = 8_192
"""Rows per row group of a metric's value files. Their values sorted, each row group's
minimum and maximum index them: a quantile of the whole dataset reads the row groups
around it only (`_indexed_quantile`), and a filter on the value skips the others."""


@dataclass(frozen=True)
class _ValueGroups:
    """The row groups of the ``value`` column of some files, from their footers."""

    footers: list[pq.FileMetaData]
    where: list[tuple[int, int]]  # (file number, row group number) of each
    rows: npt.NDArray[np.int64]
    low: npt.NDArray[np.float64] | None  # None when a row group has no minimum
    high: npt.NDArray[np.float64] | None


def _value_groups(files: Sequence[Path]) -> _ValueGroups | None:
    """The ``value`` row groups of *files*; None when a file cannot be read (DuckDB
    names it), has no ``value`` column, or may hold a null value."""
    footers, where, rows, low, high = [], [], [], [], []
    ranged = True
    try:
        for number, path in enumerate(files):
            metadata = footer(path)
            footers.append(metadata)
            names = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
            if "value" not in names:
                return None
            column = names.index("value")
            for group in range(metadata.num_row_groups):
                stats = metadata.row_group(group).column(column).statistics
                if stats is None or stats.null_count is None or stats.null_count:
                    return None
                ranged = ranged and stats.has_min_max
                if ranged:
                    low.append(stats.min)
                    high.append(stats.max)
                rows.append(metadata.row_group(group).num_rows)
                where.append((number, group))
    except (OSError, pa.ArrowException):
        return None
    return _ValueGroups(
        footers,
        where,
        np.array(rows, dtype=np.int64),
        np.array(low, dtype=np.float64) if ranged else None,
        np.array(high, dtype=np.float64) if ranged else None,
    )


def _footer_rows(files: Sequence[Path]) -> int | None:
    """The rows of *files* by their footers, when every ``value`` is known not null."""
    groups = _value_groups(files)
    return None if groups is None else int(groups.rows.sum())


INDEX_READ_SHARE = 0.25
"""The share of the rows that the row groups around a quantile may hold for it to be
read through the row-group statistics (values sorted within their files hold a few per
cent); above it, the values are not stored in order and DuckDB selects."""


def _indexed_quantile(files: Sequence[Path], q: float) -> tuple[float, int] | None:
    """The *q*-quantile of the ``value`` column of *files* and its count, from the row
    groups' statistics and the few row groups around the quantile.

    The statistics bracket the quantile (`vigil.compute._ordered.stats_bracket`); only
    the row groups that reach into the bracket are read. None when a file has no
    statistics, a null value or no rows at all, or its values are not in order.
    """
    groups = _value_groups(files)
    if groups is None or groups.low is None or groups.high is None:
        return None
    counts, lows, highs = groups.rows, groups.low, groups.high
    total = int(counts.sum())
    if not total:
        return None
    first, last = quantile_ranks(total, q)
    a, b = stats_bracket(lows, highs, counts, first, last)
    near = np.flatnonzero((highs >= a) & (lows <= b))
    if counts[near].sum() > INDEX_READ_SHARE * total:
        return None
    by_file: dict[int, list[int]] = {}
    for i in near.tolist():
        number, group = groups.where[i]
        by_file.setdefault(number, []).append(group)

    def read(item: tuple[int, list[int]]) -> np.ndarray:
        number, chosen = item
        parquet = pq.ParquetFile(files[number], metadata=groups.footers[number])
        table = parquet.read_row_groups(chosen, columns=["value"], use_threads=False)
        return cast(np.ndarray, table.column(0).to_numpy())

    try:
        with ThreadPoolExecutor(min(len(by_file), os.cpu_count() or 1) or 1) as pool:
            parts = list(pool.map(read, by_file.items()))
    except (OSError, pa.ArrowException):
        return None
    values = np.concatenate(parts) if parts else np.zeros(0)
    below = int(counts[highs < a].sum()) + int(np.count_nonzero(values < a))
    value = quantile_in_bracket(values[(values >= a) & (values <= b)], below, total, q)
    return None if value is None else (value, total)


def run_values(con: duckdb.DuckDBPyConnection, plan: ValuesPlan) -> pd.DataFrame:
    """The per-source rows of *plan*."""
    query, params = plan.sql()
    return con.cursor().execute(query, params).df()


def write_query(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: list[object],
    target: Path,
    sorted_by: Sequence[str] = (),
    row_group_size: int = 262_144,
) -> int:
    """Write the rows of *query* to the Parquet file *target* atomically; their count.

    With *sorted_by*, the rows are written in that order and the file's metadata says so
    (`SORTED_BY_KEY`).
    """
    options = f"FORMAT PARQUET, COMPRESSION zstd, ROW_GROUP_SIZE {int(row_group_size)}"
    if sorted_by:
        query = f"SELECT * FROM ({query}) ORDER BY {', '.join(quote(c) for c in sorted_by)}"
        metadata = sql_string(",".join(sorted_by))
        options += f", KV_METADATA {{{sql_string(SORTED_BY_KEY)}: {metadata}}}"
    with atomic_path(target) as temporary:
        # COPY answers with the number of rows it wrote.
        rows = (
            con.cursor()
            .execute(f"COPY ({query}) TO {sql_string(str(temporary))} ({options})", params)
            .fetchone()
        )
    return int(rows[0]) if rows else 0
