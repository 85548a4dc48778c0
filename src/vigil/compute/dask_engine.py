"""Running aggregate plans on Dask: the same plan as DuckDB, for data beyond one machine.

``dask.dataframe.read_parquet`` reads the plan's files and only its columns; each
partition computes and selects in NumPy (`vigil.compute.actions`' ``evaluate`` and
``mask``), filters, and the groups are reduced with the aggregator's NumPy form after a
shuffle. The result has the same columns, order and values as
`vigil.compute.engine.run_aggregate`. Pass a ``distributed.Client`` (or have one active)
to run on a cluster; otherwise Dask's local threaded scheduler runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from vigil.compute.actions import as_float
from vigil.compute.engine import AGGREGATE_COLUMNS, reduce_groups
from vigil.compute.granularity import DATA_ID_COLUMNS, ID_COLUMN
from vigil.compute.plan import AggregatePlan, Range, WhereValue, physical_columns
from vigil.compute.sql import parquet_paths

__all__ = ["run_aggregate_dask", "where_mask"]

_ALL = "__all__"


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


def _rows(plan: AggregatePlan, frame: pd.DataFrame) -> pd.DataFrame:
    """The per-source rows of one partition: what DuckDB's inner query returns."""
    metric = plan.metric
    table = metric.table
    if plan.source == "stored":
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
            for name in physical_columns(table, metric.band, metric.value_columns()):
                columns[name] = frame[name].to_numpy()[keep]
        out = pd.DataFrame(columns)
    out = out[where_mask(out, plan.where)]
    if metric.per_source:
        # A fit's stored NaN (too few sources) stays: its count says why.
        out = out[np.isfinite(as_float(out["value"].to_numpy()))]
    out[_ALL] = 0
    return out


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


def run_aggregate_dask(plan: AggregatePlan, client: Any = None) -> pd.DataFrame:
    """The aggregate of *plan*, computed by Dask (on *client* when given)."""
    import dask.dataframe as dd

    keys = list(plan.keys)
    empty = pd.DataFrame({**{k: [] for k in keys}, "value": [], "count": []})
    if not plan.files:
        return empty.astype({"value": "float64", "count": "int64"})
    # fsspec expands globs in the paths as DuckDB does: escape them the same way.
    frame = dd.read_parquet(parquet_paths(plan.files), columns=plan.read_columns())
    rows = frame.map_partitions(lambda part: _rows(plan, part))
    if plan.reads_stored_fits:
        future = rows[[*keys, "value", "count"]]
        result = future.compute() if client is None else client.compute(future).result()
        result = result.sort_values(keys) if keys else result
    else:
        group_keys = keys or [_ALL]
        grouped = rows.groupby(group_keys).apply(
            _reducer(plan), meta={"value": "f8", "count": "f8"}
        )
        result = grouped.compute() if client is None else client.compute(grouped).result()
        result = result.reset_index()
        result = result.sort_values(group_keys).drop(columns=[_ALL], errors="ignore")
    result = result[[*keys, *AGGREGATE_COLUMNS]].reset_index(drop=True)
    result["value"] = result["value"].astype("float64")
    result["count"] = result["count"].astype("int64")
    return result
