"""Query plans: what to read and compute for an aggregate or a table of values.

A plan is engine-neutral: the files, the physical columns to read, the per-source value
(compute and select, from the catalogue or from stored metric values), the filters and the
grouping. `AggregatePlan.sql` renders it for DuckDB; `vigil.compute.dask_engine` runs the
same plan with ``dask.dataframe.read_parquet(columns=plan.read_columns())``.

Tables: a coadd object table spells a band's column ``i_psfFlux``; a visit table spells it
``psfFlux`` and has a ``band`` column. `column_resolver` maps the actions' wide names onto
a table, so one metric definition runs on both.
"""

# SQL here is assembled from quoted identifiers, escaped literals and ? parameters only
# (vigil.compute.sql).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vigil.compute.actions import Aggregator, ColumnSql
from vigil.compute.errors import ComputeError, MissingColumnsError
from vigil.compute.granularity import DATA_ID_COLUMNS, ID_COLUMN, PARTITION_COLUMN, Table
from vigil.compute.metric import BoundMetric
from vigil.compute.sql import file_list as sql_files
from vigil.compute.sql import quote_identifier as quote
from vigil.compute.sql import string_literal as sql_string

__all__ = [
    "VALUE_COLUMNS",
    "AggregatePlan",
    "Range",
    "ValuesPlan",
    "WhereValue",
    "absent_optional_columns",
    "column_resolver",
    "partition_keys",
    "quote",
    "render_where",
    "sql_files",
    "sql_string",
]

VALUE_COLUMNS: tuple[str, ...] = ("coord_ra", "coord_dec", "mag", "value")
"""The columns a per-source value table has besides its dataId and id columns."""


@dataclass(frozen=True, slots=True)
class Range:
    """A closed interval for a ``where`` filter (either bound may be None)."""

    min: float | None = None
    max: float | None = None


WhereValue = int | float | str | Range | Sequence[int | float | str]
"""A filter value: equal to a scalar, one of a list, or inside a `Range`."""

Source = Literal["stored", "catalogue"]


def column_resolver(
    table: Table, band: str | None, available: Iterable[str], metric: str
) -> ColumnSql:
    """A function mapping the actions' wide column names onto *table*'s columns.

    Raises
    ------
    MissingColumnsError
        From the returned function, for a column the table does not have.
    """
    names = set(available)

    def physical(wide: str) -> str:
        if table == "sources" and band is not None and wide.startswith(f"{band}_"):
            return wide[len(band) + 1 :]
        return wide

    def col(wide: str) -> str:
        name = physical(wide)
        if name not in names:
            raise MissingColumnsError(metric, table, [name])
        return quote(name)

    return col


def physical_columns(table: Table, band: str | None, wide: Iterable[str]) -> set[str]:
    """The table's names of wide column names."""
    out = set()
    for name in wide:
        if table == "sources" and band is not None and name.startswith(f"{band}_"):
            out.add(name[len(band) + 1 :])
        else:
            out.add(name)
    return out


def missing_columns(metric: BoundMetric, available: Iterable[str]) -> list[str]:
    """The columns *metric* reads that a table with *available* columns lacks."""
    needed = physical_columns(metric.table, metric.band, metric.columns())
    needed |= set(DATA_ID_COLUMNS[metric.table])
    if metric.per_source:
        needed |= {ID_COLUMN[metric.table], "coord_ra", "coord_dec"}
    if metric.table == "sources" and metric.band is not None:
        needed.add("band")
    return sorted(needed - set(available))


def absent_optional_columns(metric: BoundMetric, available: Iterable[str]) -> list[str]:
    """The optional columns of *metric*'s selection a table with *available* columns
    lacks: the selectors that read them keep every row of that table."""
    optional = physical_columns(metric.table, metric.band, metric.optional_columns())
    return sorted(optional - set(available))


def partition_keys(table: Table, where: Mapping[str, WhereValue]) -> list[int] | None:
    """The tracts or visits a filter restricts a table to (None: all)."""
    column = PARTITION_COLUMN[table]
    value = where.get(column)
    if value is None or isinstance(value, Range):
        return None
    try:
        if isinstance(value, str | int | float):
            return [int(value)]
        return [int(v) for v in value]
    except (TypeError, ValueError, OverflowError):
        raise ComputeError(
            f"{column} must be a whole number or a list of them, not {value!r}"
        ) from None


def render_where(where: Mapping[str, WhereValue], allowed: Iterable[str]) -> tuple[str, list[Any]]:
    """An SQL condition and its parameters for *where*.

    Raises
    ------
    ComputeError
        For a column outside *allowed* or a malformed value.
    """
    allowed = tuple(allowed)
    parts: list[str] = []
    params: list[Any] = []
    for name, value in where.items():
        if name not in allowed:
            raise ComputeError(f"cannot filter on {name!r}: filter on {', '.join(allowed)}")
        column = quote(name)
        if isinstance(value, Range):
            if value.min is not None:
                parts.append(f"{column} >= ?")
                params.append(value.min)
            if value.max is not None:
                parts.append(f"{column} <= ?")
                params.append(value.max)
        elif isinstance(value, str | int | float):
            parts.append(f"{column} = ?")
            params.append(value)
        else:
            values = list(value)
            if not values:
                parts.append("FALSE")
                continue
            parts.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
    return (" AND ".join(parts) if parts else "TRUE"), params


@dataclass(frozen=True)
class _Inner:
    """The per-source rows of a plan: dataId, id, coordinates, magnitude and value."""

    metric: BoundMetric
    source: Source
    files: tuple[Path, ...]
    available: tuple[str, ...]
    extra: tuple[str, ...] = ()

    @property
    def table(self) -> Table:
        return self.metric.table

    def base_columns(self) -> list[str]:
        table = self.table
        columns = [*DATA_ID_COLUMNS[table], "band"]
        if self.metric.per_source:
            return [*columns, ID_COLUMN[table], "coord_ra", "coord_dec", "mag", "value"]
        return [*columns, "value"]

    def output_columns(self) -> list[str]:
        columns = self.base_columns()
        return columns + [c for c in self.extra if c not in columns]

    def read_columns(self) -> list[str]:
        """The physical columns read from the files."""
        m = self.metric
        table = self.table
        if self.source == "stored":
            wanted = set(self.output_columns())
            return sorted(wanted & set(self.available))
        needed = physical_columns(table, m.band, m.columns()) | set(DATA_ID_COLUMNS[table])
        needed |= physical_columns(table, m.band, m.optional_columns()) & set(self.available)
        if m.per_source:
            needed |= {ID_COLUMN[table], "coord_ra", "coord_dec"}
        if table == "sources" and m.band is not None:
            needed.add("band")
        needed |= set(self.extra)
        return sorted(needed)

    def sql(self) -> str:
        m = self.metric
        table = self.table
        scan = f"read_parquet({sql_files(self.files)})"
        if self.source == "stored":
            present = set(self.available)
            select = [
                quote(c) if c in present else f"NULL AS {quote(c)}" for c in self.output_columns()
            ]
            return f"SELECT {', '.join(select)} FROM {scan}"
        col = column_resolver(table, m.band, self.available, m.name)
        band_literal = "NULL" if m.band is None else sql_string(m.band)
        select = [quote(c) for c in DATA_ID_COLUMNS[table]]
        select.append(f"CAST({band_literal} AS VARCHAR) AS band")
        if m.per_source:
            select += [
                quote(ID_COLUMN[table]),
                quote("coord_ra"),
                quote("coord_dec"),
                f"{m.magnitude_sql(col)} AS mag",
                f"{m.value_sql(col)} AS value",
            ]
        else:
            select += [col(c) for c in sorted(m.value_columns())]
        base = self.base_columns()
        select += [quote(extra) for extra in self.extra if extra not in base]
        condition = m.where_sql(col)
        if table == "sources" and m.band is not None:
            condition = f"{quote('band')} = {sql_string(m.band)} AND {condition}"
        return f"SELECT {', '.join(select)} FROM {scan} WHERE {condition}"


@dataclass(frozen=True)
class AggregatePlan:
    """One aggregate of one metric: group the per-source values, reduce each group.

    Parameters
    ----------
    metric
        The concrete metric.
    source
        ``stored`` (read ``metrics/<name>/``) or ``catalogue`` (compute from the table).
    files
        The files to read (already pruned by tract, visit and band).
    available
        The columns the files have.
    keys
        The grouping (validated against the metric's granularity).
    where
        Filters on dataId columns, ``coord_ra``, ``coord_dec``, ``mag`` and ``value``.
    aggregator
        How a group's values become one number.
    sets
        Several groupings answered by one scan (``((), ("tract",), ("tract",
        "patch"))``), each a subset of *keys*; the result has a ``grouping`` column
        (`grouping_id`) telling them apart. Empty: group by *keys* only.
    sorted_by
        The columns the stored files' rows are sorted by (``("tract", "patch",
        "value")``, from their metadata), read in file order; empty when unknown.
    """

    metric: BoundMetric
    source: Source
    files: tuple[Path, ...]
    available: tuple[str, ...]
    keys: tuple[str, ...]
    where: Mapping[str, WhereValue] = field(default_factory=dict)
    aggregator: Aggregator | None = None
    sets: tuple[tuple[str, ...], ...] = ()
    sorted_by: tuple[str, ...] = ()

    def grouping_id(self, keys: Sequence[str]) -> int:
        """The ``grouping`` value of the rows of grouping *keys* (DuckDB's ``GROUPING``)."""
        width = len(self.keys)
        return sum(1 << (width - 1 - i) for i, key in enumerate(self.keys) if key not in keys)

    @property
    def inner(self) -> _Inner:
        return _Inner(self.metric, self.source, self.files, self.available)

    @property
    def reduces_in_python(self) -> bool:
        """Whether groups are reduced by the metric's fit rather than an SQL aggregate."""
        return not self.metric.per_source and self.source == "catalogue"

    @property
    def reads_stored_fits(self) -> bool:
        """Whether the plan reads a fit's stored results at its own granularity."""
        return not self.metric.per_source and self.source == "stored"

    def ordered_depths(self) -> list[int] | None:
        """The groupings as numbers of leading keys, when they can be read off rows in
        their stored order (`vigil.compute._ordered`); None otherwise.

        That is when the plan reads stored per-source values, every grouping is a prefix
        of the keys, and the files' rows are grouped by the keys' first ones with the
        values sorted within each group (`sorted_by` ends with ``value``): the files of
        ``vigil compute``, one per tract or visit, sorted by value. A grouping by
        nothing needs no order.
        """
        if self.source != "stored" or not self.metric.per_source:
            return None
        sets = self.sets or (self.keys,)
        if any(tuple(level) != self.keys[: len(level)] for level in sets):
            return None
        if self.keys and not self.grouped_depth:
            return None
        return [len(level) for level in sets]

    @property
    def grouped_depth(self) -> int:
        """How many leading keys the stored rows are grouped by, with their values
        sorted within each group (0: unknown)."""
        order = self.sorted_by
        if len(order) < 2 or order[-1] != "value" or self.keys[: len(order) - 1] != order[:-1]:
            return 0
        return len(order) - 1

    def filter_columns(self) -> tuple[str, ...]:
        """The columns *where* may name."""
        inner = self.inner.output_columns()
        return tuple(c for c in inner if c != ID_COLUMN[self.metric.table])

    def read_columns(self) -> list[str]:
        """The physical columns read from the files."""
        if self.reads_stored_fits:
            wanted = {*self.keys, *self.where, "value", "count"}
            return sorted(wanted & set(self.available))
        return self.inner.read_columns()

    def sql(self) -> tuple[str, list[Any]]:
        """The DuckDB query and its parameters.

        For a fit recomputed from the catalogue, the query returns the selected rows
        (keys and the fit's columns) and the caller reduces each group.
        """
        keys = ", ".join(quote(k) for k in self.keys)
        if self.reduces_in_python:
            condition, params = render_where(self.where, self.filter_columns())
            # The fit reads its keys and its own columns: the other keys and the band
            # (a constant) are not sent back: a quarter off a dataset's refit.
            table = self.metric.table
            unused = [c for c in (*DATA_ID_COLUMNS[table], "band") if c not in self.keys]
            exclude = f" EXCLUDE ({', '.join(quote(c) for c in unused)})" if unused else ""
            return f"SELECT *{exclude} FROM ({self.inner.sql()}) WHERE {condition}", params
        if self.reads_stored_fits:
            condition, params = render_where(self.where, self.filter_columns())
            columns = [*(quote(k) for k in self.keys), "value", "count"]
            scan = f"read_parquet({sql_files(self.files)})"
            order = f" ORDER BY {keys}" if self.keys else ""
            return f"SELECT {', '.join(columns)} FROM {scan} WHERE {condition}{order}", params
        group = f" GROUP BY {keys} ORDER BY {keys}" if self.keys else ""
        head = f"{keys}, " if self.keys else ""
        if self.sets and self.keys:
            # One scan answers every grouping: the per-source values are read once.
            sets = ", ".join("(" + ", ".join(quote(k) for k in s) + ")" for s in self.sets)
            group = f" GROUP BY GROUPING SETS ({sets})"
            head = f"{keys}, GROUPING({keys}) AS grouping, "
        rows, params = self.rows_sql()
        query = (
            f"SELECT {head}{self.reducer.sql('value')} AS value, count(*) AS count"
            f" FROM ({rows}){group}"
        )
        return query, params

    @property
    def reducer(self) -> Aggregator:
        """The aggregator: the plan's, else the metric's own."""
        return self.aggregator or self.metric.aggregator()

    def rows_sql(self) -> tuple[str, list[Any]]:
        """The query of the per-source rows the aggregate reduces: the keys and ``value``,
        in the files' order, and its parameters."""
        condition, params = render_where(self.where, self.filter_columns())
        columns = ", ".join([*(quote(k) for k in self.keys), "value"])
        # Stored values are finite by construction: no filter to evaluate.
        finite = "" if self.source == "stored" else "isfinite(value) AND "
        return f"SELECT {columns} FROM ({self.inner.sql()}) WHERE {finite}{condition}", params


@dataclass(frozen=True)
class ValuesPlan:
    """The per-source values of one metric, filtered, with extra catalogue columns.

    ``extra`` columns come from the metric's table: for ``catalogue`` plans they are read
    beside the computed value; for ``stored`` plans they are joined on the id column from
    *join_files*. A *sample* takes the rows with the smallest hash of id and *seed*: a
    uniform random sample, the same for the same seed; *sample_fraction*, a share of the
    rows comfortably above *sample*, lets the scan drop most rows before the ordering.
    *fields* keeps only those output columns (fewer to read and convert).
    """

    metric: BoundMetric
    source: Source
    files: tuple[Path, ...]
    available: tuple[str, ...]
    where: Mapping[str, WhereValue] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    join_files: tuple[Path, ...] = ()
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    sample_fraction: float | None = None
    fields: tuple[str, ...] | None = None

    def sql(self) -> tuple[str, list[Any]]:
        """The DuckDB query and its parameters."""
        own = self.source == "catalogue"
        inner = _Inner(
            self.metric, self.source, self.files, self.available, self.extra if own else ()
        )
        allowed = inner.base_columns()
        condition, params = render_where(self.where, allowed)
        query = f"SELECT * FROM ({inner.sql()}) WHERE isfinite(value) AND {condition}"
        if self.extra and not own:
            ident = quote(ID_COLUMN[self.metric.table])
            extra = ", ".join(f"j.{quote(c)}" for c in self.extra)
            joined = f"read_parquet({sql_files(self.join_files)})"
            query = (
                f"SELECT v.*, {extra} FROM ({query}) v"
                f" LEFT JOIN (SELECT {ident}, {', '.join(quote(c) for c in self.extra)}"
                f" FROM {joined}) j USING ({ident})"
            )
        if self.sample is not None:
            # A hash of the id and the seed orders rows at random, the same way whatever
            # the threads do; the known share of rows, when given, prefilters cheaply.
            ident = quote(ID_COLUMN[self.metric.table])
            key = f"hash({ident}, {int(self.seed)})"
            prefilter = ""
            if self.sample_fraction is not None and self.sample_fraction < 1.0:
                threshold = min(2**64 - 1, int(self.sample_fraction * 2**64))
                prefilter = f" WHERE {key} < {threshold}::UBIGINT"
            query = f"SELECT * FROM ({query}){prefilter} ORDER BY {key} LIMIT {int(self.sample)}"
        if self.limit is not None:
            query = f"SELECT * FROM ({query}) LIMIT {int(self.limit)}"
        if self.fields is not None:
            query = f"SELECT {', '.join(quote(f) for f in self.fields)} FROM ({query})"
        return query, params
