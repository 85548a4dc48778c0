"""Query plans of the explorer: which files, columns and groups answer a question.

`aggregate_plan` and `values_plan` choose between a metric's stored values and its
table (the catalogue, computed on demand) and name only the files a tract/visit filter
needs; the helpers after them shape what the engines return.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vigil.compute.errors import ComputeError, GranularityError, RepositoryError
from vigil.compute.files import FileInfo
from vigil.compute.granularity import GROUP_KEYS, ID_COLUMN, PARTITION_COLUMN, Table, level_keys
from vigil.compute.metric import BoundMetric, GroupReducer
from vigil.compute.plan import AggregatePlan, Range, ValuesPlan, WhereValue, partition_keys

from ._files import RepositoryFiles
from ._metrics import MetricInfo

__all__ = [
    "aggregate_plan",
    "frozen_where",
    "judged",
    "normalise",
    "opaque",
    "tail_counts_sql",
    "values_plan",
]


def frozen_where(where: Mapping[str, WhereValue] | None) -> tuple[tuple[str, Hashable], ...]:
    """*where* as a cache key."""
    if not where:
        return ()
    items: list[tuple[str, Hashable]] = []
    for key, value in sorted(where.items()):
        if isinstance(value, str | int | float | Range):
            items.append((key, value))
        else:
            items.append((key, tuple(value)))
    return tuple(items)


def aggregate_plan(
    files: RepositoryFiles,
    info: MetricInfo,
    bound: BoundMetric | None,
    keys: tuple[str, ...],
    where: Mapping[str, WhereValue],
    stat: str | None,
    *,
    repository: str,
) -> AggregatePlan:
    """How to aggregate *info* by *keys*: from its stored values when they answer the
    grouping, else from its table.

    Raises
    ------
    GranularityError
        A stored metric Vigil does not know, asked for another grouping than its own.
    RepositoryError
        The repository (called *repository* in the message) has no table for it.
    """
    table = info.table
    partitions = partition_keys(table, where)
    if info.stored and (bound is None or bound.per_source or _fit_level(bound, keys)):
        if bound is None:
            bound = opaque(info)
        stored = files.metric_files(info.name, table, partitions)
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
    index = files.tables()[table]
    if not index.files:
        raise RepositoryError(f"repository {repository!r} has no {table} table for {info.name!r}")
    chosen = index.select(partitions, bound.band if table == "sources" else None)
    return AggregatePlan(
        bound,
        "catalogue",
        tuple(f.path for f in chosen),
        index.columns,
        keys,
        where,
        bound.aggregator(stat) if bound.per_source else None,
    )


def _fit_level(bound: BoundMetric, keys: tuple[str, ...]) -> bool:
    """Whether a fit's stored groups answer a grouping by *keys* as they are."""
    level = level_keys(bound.max_granularity)
    return bool(level) and set(keys) - {"band"} == set(level)


def values_plan(
    files: RepositoryFiles,
    info: MetricInfo,
    bound: BoundMetric | None,
    where: Mapping[str, WhereValue],
    columns: Sequence[str],
    fields: Sequence[str] | None,
    *,
    limit: int | None,
    sample: int | None = None,
    seed: int = 0,
) -> ValuesPlan:
    """How to read the per-source values of *info* in a selection.

    Raises
    ------
    GranularityError
        The metric is a fit: it has no per-source values.
    ComputeError
        An extra column or an output field that does not exist.
    """
    bound = bound or opaque(info)
    if not bound.per_source:
        raise GranularityError(
            f"metric {info.name!r} is a fit per {info.granularity}: it has no per-source"
            " values; use aggregate()"
        )
    table = info.table
    partitions = partition_keys(table, where)
    extra = tuple(columns)
    tables = files.tables()
    unknown = [c for c in extra if c not in tables[table].columns]
    if unknown:
        raise ComputeError(f"the {table} table has no column {', '.join(unknown)}")
    fraction = None
    if info.stored and sample is None:
        stored = files.metric_files(info.name, table, partitions)
        paths, available = stored.paths, stored.columns
        join = tables[table].select(partitions) if extra else []
    elif info.stored:
        # A sample's share of rows needs the row counts: read the footers.
        index = files.metric_index(info.name, table)
        chosen = index.select(partitions)
        paths, available = tuple(f.path for f in chosen), index.columns
        join = tables[table].select(partitions) if extra else []
        fraction = _sample_fraction(sample, chosen, where, table, info.stored)
    else:
        index = tables[table]
        chosen = index.select(partitions, bound.band if table == "sources" else None)
        paths, available = tuple(f.path for f in chosen), index.columns
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
        _fields(fields, table, extra),
    )


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


def opaque(info: MetricInfo) -> BoundMetric:
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
        max_granularity=info.granularity,
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


def tail_counts_sql(inner: str, bounds: Sequence[tuple[float, bool]]) -> str:
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
    return f"SELECT {counts} FROM ({inner}) WHERE {' OR '.join(tails)}"  # noqa: S608


def normalise(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
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


def judged(info: MetricInfo, frame: pd.DataFrame) -> pd.DataFrame:
    """*frame* with ``acceptable``: each value against the metric's range."""
    acceptable = info.acceptable
    values = frame["value"].to_numpy(dtype="float64")
    verdicts = pd.array([None] * len(frame), dtype="boolean")
    if acceptable is not None and len(frame):
        inside = np.ones(len(frame), dtype=bool)
        if acceptable.min is not None:
            inside &= values >= acceptable.min
        if acceptable.max is not None:
            inside &= values <= acceptable.max
        verdicts = pd.array(inside, dtype="boolean")
        verdicts[~np.isfinite(values)] = pd.NA
    frame["acceptable"] = verdicts
    return frame
