"""A compute action, a select action, an aggregator and the metric made of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.compute import Aggregator, MetricDefinition, Quantity, Selector, StarSelector
from vigil.compute.actions import (
    BoolArray,
    ColumnGetter,
    ColumnSql,
    FloatArray,
    as_float,
    expand,
    expand_all,
)


@dataclass(frozen=True)
class FluxRatio(Quantity):
    """CModel flux over PSF flux: one for a point source the PSF model fits."""

    numerator: str = "{band}_cModelFlux"
    denominator: str = "{band}_psfFlux"
    unit: str = ""

    def columns(self, band: str | None) -> frozenset[str]:
        return expand_all([self.numerator, self.denominator], band)

    def sql(self, col: ColumnSql, band: str | None) -> str:
        top = col(expand(self.numerator, band))
        bottom = col(expand(self.denominator, band))
        return f"(CAST({top} AS DOUBLE) / NULLIF(CAST({bottom} AS DOUBLE), 0))"

    def evaluate(self, get: ColumnGetter, band: str | None) -> FloatArray:
        top = as_float(get(expand(self.numerator, band)))
        bottom = as_float(get(expand(self.denominator, band)))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(bottom != 0, top / bottom, np.nan)

    def describe(self, band: str | None) -> str:
        return f"{expand(self.numerator, band)} / {expand(self.denominator, band)}"


@dataclass(frozen=True)
class PositiveFlux(Selector):
    """Sources whose PSF flux is above zero."""

    flux: str = "{band}_psfFlux"

    def columns(self, band: str | None) -> frozenset[str]:
        return expand_all([self.flux], band)

    def sql(self, col: ColumnSql, band: str | None) -> str:
        return f"(CAST({col(expand(self.flux, band))} AS DOUBLE) > 0)"

    def mask(self, get: ColumnGetter, band: str | None) -> BoolArray:
        flux = as_float(get(expand(self.flux, band)))
        with np.errstate(invalid="ignore"):
            return np.asarray(flux > 0, dtype=bool)

    def describe(self, band: str | None) -> str:
        return f"{expand(self.flux, band)} > 0"


@dataclass(frozen=True)
class InterquartileRange(Aggregator):
    """The distance between the first and the third quartiles."""

    name: str = "iqr"

    def sql(self, value: str) -> str:
        return f"quantile_cont({value}, 0.75) - quantile_cont({value}, 0.25)"

    def reduce(self, values: FloatArray) -> float:
        if not values.size:
            return float("nan")
        return float(np.percentile(values, 75) - np.percentile(values, 25))


METRICS = [
    InterquartileRange(),
    MetricDefinition(
        name="example_flux_ratio_{band}",
        description="CModel over PSF flux of point sources with a positive PSF flux.",
        quantity=FluxRatio(),
        selectors=(StarSelector(), PositiveFlux()),
        aggregator=InterquartileRange(),
    ),
]
