"""Aggregate actions: median, mean, sigma-MAD, percentiles, count, outlier fraction.

The SQL forms are DuckDB's aggregates; the NumPy forms give the same numbers (percentiles
interpolate linearly between order statistics in both: ``quantile_cont`` and NumPy's
default). `aggregator_from_name` turns the names used in ``vigil-repo.yaml`` and in the
query API (``median``, ``sigma_mad``, ``p90``, ...) into aggregators, those that plugins
add (``vigil.metrics`` entry points, `vigil.plugins`) included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from vigil.compute.actions import Aggregator, FloatArray, sql_number

__all__ = [
    "AGGREGATOR_NAMES",
    "SIGMA_MAD_SCALE",
    "Count",
    "Mean",
    "Median",
    "OutlierFraction",
    "Percentile",
    "SigmaMAD",
    "aggregator_from_name",
    "builtin_aggregator",
]

SIGMA_MAD_SCALE = 1.482602218505602
"""``1 / Phi^-1(3/4)``: scales a median absolute deviation to a Gaussian sigma."""


@dataclass(frozen=True, slots=True)
class Median(Aggregator):
    """The median (interpolated between the two middle values of an even count)."""

    name: str = "median"

    def sql(self, value: str) -> str:
        return f"median({value})"

    @property
    def quantile(self) -> float | None:
        return 0.5

    def reduce(self, values: FloatArray) -> float:
        return float(np.median(values)) if values.size else float("nan")


@dataclass(frozen=True, slots=True)
class Mean(Aggregator):
    """The arithmetic mean."""

    name: str = "mean"

    def sql(self, value: str) -> str:
        return f"avg({value})"

    def reduce(self, values: FloatArray) -> float:
        return float(np.mean(values)) if values.size else float("nan")


@dataclass(frozen=True, slots=True)
class SigmaMAD(Aggregator):
    """A robust standard deviation: 1.4826 times the median absolute deviation."""

    name: str = "sigma_mad"

    def sql(self, value: str) -> str:
        return f"({SIGMA_MAD_SCALE!r} * mad({value}))"

    def reduce(self, values: FloatArray) -> float:
        if not values.size:
            return float("nan")
        return float(SIGMA_MAD_SCALE * np.median(np.abs(values - np.median(values))))


@dataclass(frozen=True, slots=True)
class Percentile(Aggregator):
    """The *q*-th percentile (0 to 100), linearly interpolated."""

    q: float = 50.0
    name: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.q <= 100.0:
            raise ValueError(f"a percentile is between 0 and 100, not {self.q:g}")
        if not self.name:
            object.__setattr__(self, "name", f"p{self.q:g}")

    def sql(self, value: str) -> str:
        return f"quantile_cont({value}, {self.q / 100.0!r})"

    @property
    def quantile(self) -> float | None:
        return self.q / 100.0

    def reduce(self, values: FloatArray) -> float:
        if not values.size:
            return float("nan")
        return float(np.quantile(values, self.q / 100.0))


@dataclass(frozen=True, slots=True)
class Count(Aggregator):
    """How many values the group has."""

    name: str = "count"

    def sql(self, value: str) -> str:
        return f"CAST(count({value}) AS DOUBLE)"

    def reduce(self, values: FloatArray) -> float:
        return float(values.size)


@dataclass(frozen=True, slots=True)
class OutlierFraction(Aggregator):
    """The fraction of values farther than *threshold* from *center*."""

    threshold: float = 1.0
    center: float = 0.0
    name: str = "outlier_fraction"

    def sql(self, value: str) -> str:
        far = f"abs({value} - {sql_number(self.center)}) > {sql_number(self.threshold)}"
        return f"avg(CASE WHEN {far} THEN 1.0 ELSE 0.0 END)"

    def reduce(self, values: FloatArray) -> float:
        if not values.size:
            return float("nan")
        return float(np.mean(np.abs(values - self.center) > self.threshold))


AGGREGATOR_NAMES = ("median", "mean", "sigma_mad", "count", "outlier_fraction", "p<q>")
"""The names `aggregator_from_name` accepts (``p<q>``: a percentile, ``p5``, ``p95``)."""

_PERCENTILE = re.compile(r"p(\d+(?:\.\d+)?)")


def aggregator_from_name(name: str, *, outlier_threshold: float | None = None) -> Aggregator:
    """The aggregator called *name*.

    Parameters
    ----------
    name
        One of `AGGREGATOR_NAMES`, or the name of an aggregator a plugin adds.
    outlier_threshold
        The threshold of ``outlier_fraction`` (the metric's own, usually).

    Raises
    ------
    ValueError
        For an unknown name, or ``outlier_fraction`` without a threshold.
    """
    found = builtin_aggregator(name, outlier_threshold=outlier_threshold)
    if found is not None:
        return found
    from vigil.plugins import load_plugins

    added = load_plugins().aggregators
    if name in added:
        return added[name]
    known = ", ".join([*AGGREGATOR_NAMES, *added])
    raise ValueError(
        f"unknown aggregator {name!r}; use one of {known}, or install the plugin that adds"
        " it (`vigil plugins` lists those installed)"
    )


def builtin_aggregator(name: str, *, outlier_threshold: float | None = None) -> Aggregator | None:
    """The built-in aggregator called *name* (one of `AGGREGATOR_NAMES`), else None.

    Raises
    ------
    ValueError
        For ``outlier_fraction`` without a threshold.
    """
    simple: dict[str, Aggregator] = {
        "median": Median(),
        "mean": Mean(),
        "sigma_mad": SigmaMAD(),
        "count": Count(),
    }
    if name in simple:
        return simple[name]
    if name == "outlier_fraction":
        if outlier_threshold is None:
            raise ValueError("outlier_fraction needs the metric's outlier threshold")
        return OutlierFraction(threshold=outlier_threshold)
    match = _PERCENTILE.fullmatch(name)
    if match:
        return Percentile(q=float(match.group(1)))
    return None
