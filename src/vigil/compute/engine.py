"""Running plans with DuckDB: aggregates, value tables and the metric files of a repository.

DuckDB reads only the columns a plan names (projection pushdown into the Parquet scan)
and applies filters inside the scan; the aggregate runs in the same query. A fit that is
not an SQL aggregate (`vigil.compute.metric.GroupReducer`) gets the selected rows of its
columns and reduces each group in NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from vigil.compute.actions import as_float
from vigil.compute.metric import BoundMetric
from vigil.compute.plan import AggregatePlan, ValuesPlan, physical_columns, sql_string
from vigil.compute.repository import atomic_path

__all__ = [
    "AGGREGATE_COLUMNS",
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
        return frame[name].to_numpy()

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
    query, params = plan.sql()
    frame = con.cursor().execute(query, params).df()
    if plan.reduces_in_python:
        return reduce_groups(plan.metric, frame, keys)
    frame["value"] = as_float(frame["value"].to_numpy())
    frame["count"] = frame["count"].astype("int64")
    return frame


def run_values(con: duckdb.DuckDBPyConnection, plan: ValuesPlan) -> pd.DataFrame:
    """The per-source rows of *plan*."""
    query, params = plan.sql()
    return con.cursor().execute(query, params).df()


def write_query(
    con: duckdb.DuckDBPyConnection, query: str, params: list[object], target: Path
) -> int:
    """Write the rows of *query* to the Parquet file *target* atomically; their count."""
    with atomic_path(target) as temporary:
        # COPY answers with the number of rows it wrote.
        rows = (
            con.cursor()
            .execute(
                f"COPY ({query}) TO {sql_string(str(temporary))}"
                " (FORMAT PARQUET, COMPRESSION zstd, ROW_GROUP_SIZE 262144)",
                params,
            )
            .fetchone()
        )
    return int(rows[0]) if rows else 0
