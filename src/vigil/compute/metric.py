"""A metric: compute -> select -> aggregate, templated over bands.

`MetricDefinition` composes the actions; ``{band}`` in its name and in its actions'
columns makes it a template that `MetricDefinition.bind` turns into one concrete metric
per band (`BoundMetric`). A metric that is not per source has a `GroupReducer` (a fit over
the selected sources of a group) instead of a quantity, and a maximum granularity.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.compute.actions import (
    BAND,
    Aggregator,
    BoolArray,
    ColumnGetter,
    ColumnSql,
    FloatArray,
    Quantity,
    Selector,
    expand,
)
from vigil.compute.aggregators import Median, aggregator_from_name
from vigil.compute.granularity import LEVELS, Level, Table, check_group_keys
from vigil.compute.quantities import Magnitude

__all__ = [
    "AcceptableRange",
    "BoundMetric",
    "GroupReducer",
    "MetricDefinition",
]


@dataclass(frozen=True, slots=True)
class AcceptableRange:
    """The values of a metric that are acceptable for a dataset (either bound optional)."""

    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")

    def contains(self, value: float) -> bool | None:
        """Whether *value* is acceptable (None when it is not a number)."""
        if value is None or not math.isfinite(value):
            return None
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)

    def to_dict(self) -> dict[str, float]:
        """The ``acceptable`` mapping of ``vigil-repo.yaml``."""
        out: dict[str, float] = {}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out


class GroupReducer(ABC):
    """The computation of a metric that is not per source: one number from a group.

    Attributes
    ----------
    unit
        Unit of the result.
    min_count
        Fewest selected sources for a result; fewer give NaN.
    """

    unit: str = ""
    min_count: int = 1

    @abstractmethod
    def columns(self, band: str | None) -> frozenset[str]:
        """The wide column names read."""

    @abstractmethod
    def reduce(self, get: ColumnGetter, band: str | None) -> float:
        """The metric of one group, from the arrays of its selected sources."""

    @abstractmethod
    def describe(self, band: str | None) -> str:
        """One line for people."""


@dataclass(frozen=True)
class MetricDefinition:
    """A metric as a composition of actions.

    Parameters
    ----------
    name
        The metric's name; ``{band}`` makes it a template (``psf_size_residual_{band}``).
    description
        One sentence for people.
    quantity
        The per-source compute action (for a per-source metric).
    selectors
        The select actions, all of which a source must pass.
    aggregator
        The default aggregate of the per-source values.
    reducer
        For a metric that is not per source: the fit over a group (instead of *quantity*).
    max_granularity
        ``source`` for per-source metrics; the finest level (``patch``, ``tract``,
        ``detector``, ``visit``, ``dataset``) of a reducer metric.
    table
        The table it is computed on: ``objects`` (coadd) or ``sources`` (visits).
    unit
        The unit of its values (default: the quantity's or the reducer's).
    acceptable
        The acceptable range of its aggregates, unless a repository says otherwise.
    outlier_threshold
        The distance from zero beyond which a value is an outlier (``outlier_fraction``).
    magnitude
        The magnitude kept beside each per-source value, for plots against magnitude.
    bands
        The bands it applies to (None: every band of the repository).
    """

    name: str
    description: str
    quantity: Quantity | None = None
    selectors: tuple[Selector, ...] = ()
    aggregator: Aggregator = field(default_factory=Median)
    reducer: GroupReducer | None = None
    max_granularity: Level = "source"
    table: Table = "objects"
    unit: str | None = None
    acceptable: AcceptableRange | None = None
    outlier_threshold: float | None = None
    magnitude: Quantity = field(default_factory=Magnitude)
    bands: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.quantity is None) == (self.reducer is None):
            raise ValueError(f"metric {self.name!r}: give either a quantity or a reducer")
        if self.max_granularity not in LEVELS:
            raise ValueError(f"metric {self.name!r}: unknown granularity {self.max_granularity!r}")
        if self.reducer is not None and self.max_granularity == "source":
            raise ValueError(
                f"metric {self.name!r} is a fit over many sources: declare its"
                " max_granularity (patch, tract, detector, visit or dataset)"
            )
        if self.quantity is not None and self.max_granularity != "source":
            raise ValueError(f"metric {self.name!r} is per source: its granularity is 'source'")
        if self.reducer is not None:
            check_group_keys(self.name, self.table, self.max_granularity, [])

    @property
    def templated(self) -> bool:
        """Whether the name holds ``{band}``."""
        return BAND in self.name

    @property
    def per_source(self) -> bool:
        """Whether the metric has one value per source."""
        return self.quantity is not None

    @property
    def effective_unit(self) -> str:
        """The unit of its values."""
        if self.unit is not None:
            return self.unit
        action = self.quantity if self.quantity is not None else self.reducer
        return action.unit if action is not None else ""

    def match(self, name: str) -> str | bool | None:
        """The band that makes *name* an instance of this definition.

        Returns the band for a template, None for an exact match of a plain definition,
        and False when *name* is not an instance.
        """
        if not self.templated:
            return None if name == self.name else False
        head, _, tail = self.name.partition(BAND)
        pattern = re.escape(head) + r"(?P<band>[A-Za-z0-9]+)" + re.escape(tail)
        found = re.fullmatch(pattern, name)
        if found is None:
            return False
        band = found.group("band")
        if self.bands is not None and band not in self.bands:
            return False
        return band

    def bind(self, band: str | None) -> BoundMetric:
        """The concrete metric of *band* (None for a metric that is not templated)."""
        if self.templated and band is None:
            raise ValueError(f"metric {self.name!r} is templated over bands: give a band")
        if not self.templated and band is not None:
            raise ValueError(f"metric {self.name!r} is not templated over bands")
        return BoundMetric(self, band)


@dataclass(frozen=True)
class BoundMetric:
    """One concrete metric: a definition and its band."""

    definition: MetricDefinition
    band: str | None

    @property
    def name(self) -> str:
        """The concrete name (``psf_size_residual_i``)."""
        return expand(self.definition.name, self.band)

    @property
    def table(self) -> Table:
        """The table it is computed on."""
        return self.definition.table

    @property
    def unit(self) -> str:
        """The unit of its values."""
        return self.definition.effective_unit

    @property
    def per_source(self) -> bool:
        """Whether it has one value per source."""
        return self.definition.per_source

    @property
    def max_granularity(self) -> Level:
        """The finest level it may be aggregated at."""
        return self.definition.max_granularity

    def selection_columns(self) -> frozenset[str]:
        """The columns the selection reads."""
        out: frozenset[str] = frozenset()
        for selector in self.definition.selectors:
            out |= selector.columns(self.band)
        return out

    def optional_columns(self) -> frozenset[str]:
        """The columns the selection reads when the table has them (`Selector`)."""
        out: frozenset[str] = frozenset()
        for selector in self.definition.selectors:
            out |= selector.optional_columns(self.band)
        return out

    def value_columns(self) -> frozenset[str]:
        """The columns the compute step reads (quantity or reducer)."""
        d = self.definition
        action = d.quantity if d.quantity is not None else d.reducer
        assert action is not None
        return action.columns(self.band)

    def magnitude_columns(self) -> frozenset[str]:
        """The columns of the magnitude kept beside per-source values."""
        return self.definition.magnitude.columns(self.band) if self.per_source else frozenset()

    def columns(self) -> frozenset[str]:
        """Every column it reads: compute, select and the magnitude for plots."""
        return self.value_columns() | self.selection_columns() | self.magnitude_columns()

    def selection(self) -> list[str]:
        """The selection for people, one condition a line."""
        return [selector.describe(self.band) for selector in self.definition.selectors]

    def where_sql(self, col: ColumnSql) -> str:
        """The selection as one DuckDB condition."""
        parts = [selector.sql(col, self.band) for selector in self.definition.selectors]
        return " AND ".join(parts) if parts else "TRUE"

    def value_sql(self, col: ColumnSql) -> str:
        """The per-source value as a DuckDB expression."""
        quantity = self.definition.quantity
        if quantity is None:
            raise ValueError(f"metric {self.name!r} is not per source")
        return quantity.sql(col, self.band)

    def magnitude_sql(self, col: ColumnSql) -> str:
        """The plotting magnitude as a DuckDB expression."""
        return self.definition.magnitude.sql(col, self.band)

    def mask(self, get: ColumnGetter, size: int) -> BoolArray:
        """The selection as a boolean array over *size* rows."""
        keep = np.ones(size, dtype=bool)
        for selector in self.definition.selectors:
            keep &= selector.mask(get, self.band)
        return keep

    def evaluate(self, get: ColumnGetter) -> FloatArray:
        """The per-source values (NaN where undefined), before selection."""
        quantity = self.definition.quantity
        if quantity is None:
            raise ValueError(f"metric {self.name!r} is not per source")
        return quantity.evaluate(get, self.band)

    def reduce(self, get: ColumnGetter, count: int) -> float:
        """The reducer's result for one group of *count* selected sources."""
        reducer = self.definition.reducer
        if reducer is None:
            raise ValueError(f"metric {self.name!r} is per source")
        if count < reducer.min_count:
            return float("nan")
        return reducer.reduce(get, self.band)

    def aggregator(self, stat: str | None = None) -> Aggregator:
        """The aggregator called *stat* (default: the metric's own)."""
        if stat is None:
            return self.definition.aggregator
        return aggregator_from_name(stat, outlier_threshold=self.definition.outlier_threshold)

    def check_group_keys(self, by: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """Validate a grouping against the table and the maximum granularity."""
        return check_group_keys(self.name, self.table, self.max_granularity, by)

    def describe(self) -> dict[str, Any]:
        """What ``vigil-repo.yaml`` records of the metric."""
        d = self.definition
        compute = d.quantity if d.quantity is not None else d.reducer
        assert compute is not None
        return {
            "definition": d.name,
            "band": self.band,
            "table": d.table,
            "unit": self.unit,
            "description": d.description,
            "compute": compute.describe(self.band),
            "selection": self.selection(),
            "aggregate": d.aggregator.name,
            "granularity": d.max_granularity,
        }
