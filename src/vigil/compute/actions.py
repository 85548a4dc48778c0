"""The three kinds of action a metric is made of: compute, select and aggregate.

Every action declares the columns it reads (`Action.columns`), written in the *wide*
convention of a coadd object table (``i_psfFlux``) and templated over bands with
``{band}`` (``{band}_psfFlux``), so that an engine reads only those columns. Each action
renders itself twice, with the same meaning:

- as a DuckDB SQL expression (`sql`), given a function that turns a wide column name into
  an SQL expression for the table at hand (a coadd table spells ``i_psfFlux``, a visit
  table ``psfFlux`` with a ``band`` column);
- as a NumPy computation (`evaluate`, `mask`, `reduce`), given a function that returns
  the array of a wide column name. The Dask engine and the tests use it.

Null and non-finite inputs never count: an SQL expression yields NULL (or NaN) where NumPy
yields NaN, a selection rejects rows whose tested value is not finite, and aggregates see
only finite values.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "BAND",
    "Action",
    "Aggregator",
    "BoolArray",
    "ColumnGetter",
    "ColumnSql",
    "FloatArray",
    "Quantity",
    "Selector",
    "as_float",
    "expand",
    "expand_all",
    "sql_number",
]

BAND = "{band}"
"""The placeholder of band templating in column and metric names."""

ColumnSql = Callable[[str], str]
"""Turns a wide column name (``i_psfFlux``) into an SQL expression for one table."""

ColumnGetter = Callable[[str], npt.NDArray[np.generic]]
"""Returns the values of a wide column name as a NumPy array."""

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def expand(template: str, band: str | None) -> str:
    """Replace ``{band}`` in *template* by *band*.

    Raises
    ------
    ValueError
        When the template needs a band and none is given.
    """
    if BAND not in template:
        return template
    if band is None:
        raise ValueError(f"{template!r} is templated over bands: give a band")
    return template.replace(BAND, band)


def expand_all(templates: Iterable[str], band: str | None) -> frozenset[str]:
    """`expand` every template of *templates* into a set of column names."""
    return frozenset(expand(template, band) for template in templates)


def sql_number(value: float) -> str:
    """An SQL literal of a finite float that DuckDB reads as a DOUBLE."""
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return f"CAST({float(value)!r} AS DOUBLE)"


def as_float(values: npt.NDArray[np.generic]) -> FloatArray:
    """*values* as float64, nulls (None in object arrays) as NaN."""
    if values.dtype == object:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.asarray(values, dtype=np.float64)


@runtime_checkable
class Action(Protocol):
    """What every action has: the columns it reads, for one band."""

    def columns(self, band: str | None) -> frozenset[str]:
        """The wide column names read when the action runs for *band*."""
        ...

    def describe(self, band: str | None) -> str:
        """One line for people (``i_extendedness < 0.5``)."""
        ...


class Quantity(ABC):
    """A compute action: one value per source (a magnitude difference, a residual, ...)."""

    unit: str = ""

    @abstractmethod
    def columns(self, band: str | None) -> frozenset[str]:
        """The wide column names this quantity reads."""

    @abstractmethod
    def sql(self, col: ColumnSql, band: str | None) -> str:
        """The quantity as a DuckDB expression (NULL or NaN where undefined)."""

    @abstractmethod
    def evaluate(self, get: ColumnGetter, band: str | None) -> FloatArray:
        """The quantity as a float64 array (NaN where undefined)."""

    @abstractmethod
    def describe(self, band: str | None) -> str:
        """One line for people."""


class Selector(ABC):
    """A select action: keeps the rows for which it holds."""

    @abstractmethod
    def columns(self, band: str | None) -> frozenset[str]:
        """The wide column names this selector reads."""

    def optional_columns(self, band: str | None) -> frozenset[str]:
        """The wide column names read when the table has them (none by default); a
        selector whose optional column is absent keeps every row."""
        return frozenset()

    @abstractmethod
    def sql(self, col: ColumnSql, band: str | None) -> str:
        """The condition as a DuckDB boolean expression (NULL counts as false)."""

    @abstractmethod
    def mask(self, get: ColumnGetter, band: str | None) -> BoolArray:
        """The condition as a boolean array."""

    @abstractmethod
    def describe(self, band: str | None) -> str:
        """The condition for people (``i_extendedness < 0.5``)."""


class Aggregator(ABC):
    """An aggregate action: one number from the values of a group."""

    name: str = ""

    def columns(self, band: str | None) -> frozenset[str]:
        """Aggregators read only the computed value."""
        return frozenset()

    @abstractmethod
    def sql(self, value: str) -> str:
        """The DuckDB aggregate expression over the expression *value*."""

    @abstractmethod
    def reduce(self, values: FloatArray) -> float:
        """The aggregate of *values* (finite floats; NaN when undefined)."""

    @property
    def quantile(self) -> float | None:
        """The quantile (0 to 1) this aggregator is, DuckDB's ``quantile_cont``; None
        for an aggregator that is not one."""
        return None

    def describe(self, band: str | None = None) -> str:
        """The aggregator's name."""
        return self.name
