"""Select actions: primary detections, star/galaxy by extendedness, S/N and magnitude
ranges, flags.

A selector rejects a row whose tested value is null or not finite, in SQL and in NumPy
alike (DuckDB orders NaN above every number, so each comparison is guarded by
``isfinite``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

import numpy as np

from vigil.compute.actions import (
    BoolArray,
    ColumnGetter,
    ColumnSql,
    Selector,
    as_float,
    expand,
    expand_all,
    sql_number,
)
from vigil.compute.errors import MissingColumnsError
from vigil.compute.quantities import mag_to_flux

__all__ = [
    "FlagSelector",
    "GalaxySelector",
    "MagRange",
    "PrimarySelector",
    "SNRange",
    "StarSelector",
]


def _range_text(name: str, low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low:g} <= {name} <= {high:g}"
    if low is not None:
        return f"{name} >= {low:g}"
    if high is not None:
        return f"{name} <= {high:g}"
    return f"{name} is finite"


@dataclass(frozen=True, slots=True)
class _ExtendednessCut(Selector):
    """Point or extended sources, by comparing extendedness with *threshold*."""

    column: str = "{band}_extendedness"
    threshold: float = 0.5
    extended: ClassVar[bool] = False

    @property
    def _operator(self) -> str:
        return ">=" if self.extended else "<"

    def columns(self, band: str | None) -> frozenset[str]:
        return expand_all([self.column], band)

    def sql(self, col: ColumnSql, band: str | None) -> str:
        value = col(expand(self.column, band))
        limit = sql_number(self.threshold)
        return f"(isfinite({value}) AND {value} {self._operator} {limit})"

    def mask(self, get: ColumnGetter, band: str | None) -> BoolArray:
        values = as_float(get(expand(self.column, band)))
        with np.errstate(invalid="ignore"):
            above = values >= self.threshold
            return np.isfinite(values) & (above if self.extended else ~above)

    def describe(self, band: str | None) -> str:
        return f"{expand(self.column, band)} {self._operator} {self.threshold:g}"


@dataclass(frozen=True, slots=True)
class StarSelector(_ExtendednessCut):
    """Point sources: extendedness below *threshold* (0.5: the classifier's boundary)."""


@dataclass(frozen=True, slots=True)
class GalaxySelector(_ExtendednessCut):
    """Extended sources: extendedness at or above *threshold*."""

    extended: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class SNRange(Selector):
    """Sources whose S/N (``flux / error``) lies in ``[low, high]`` (either may be None)."""

    low: float | None = None
    high: float | None = None
    flux: str = "{band}_psfFlux"
    error: str = "{band}_psfFluxErr"

    def columns(self, band: str | None) -> frozenset[str]:
        return expand_all([self.flux, self.error], band)

    def sql(self, col: ColumnSql, band: str | None) -> str:
        # flux >= low * error rather than flux / error >= low: DuckDB pushes the
        # comparisons into the Parquet scan.
        flux, error = col(expand(self.flux, band)), col(expand(self.error, band))
        parts = [f"isfinite({flux})", f"isfinite({error})", f"{error} > 0"]
        if self.low is not None:
            parts.append(f"{flux} >= {sql_number(self.low)} * {error}")
        if self.high is not None:
            parts.append(f"{flux} <= {sql_number(self.high)} * {error}")
        return "(" + " AND ".join(parts) + ")"

    def mask(self, get: ColumnGetter, band: str | None) -> BoolArray:
        flux = as_float(get(expand(self.flux, band)))
        error = as_float(get(expand(self.error, band)))
        with np.errstate(invalid="ignore"):
            keep = np.isfinite(flux) & np.isfinite(error) & (error > 0)
            if self.low is not None:
                keep &= flux >= self.low * error
            if self.high is not None:
                keep &= flux <= self.high * error
        return keep

    def describe(self, band: str | None) -> str:
        return _range_text(f"S/N({expand(self.flux, band)})", self.low, self.high)


@dataclass(frozen=True, slots=True)
class MagRange(Selector):
    """Sources whose AB magnitude of *flux* lies in ``[low, high]``."""

    low: float | None = None
    high: float | None = None
    flux: str = "{band}_psfFlux"

    def _flux_bounds(self) -> tuple[float | None, float | None]:
        """The flux range of the magnitude range (a fainter magnitude is a lower flux)."""
        low = None if self.high is None else float(mag_to_flux(np.array([self.high]))[0])
        high = None if self.low is None else float(mag_to_flux(np.array([self.low]))[0])
        return low, high

    def columns(self, band: str | None) -> frozenset[str]:
        return expand_all([self.flux], band)

    def sql(self, col: ColumnSql, band: str | None) -> str:
        # A range of the flux, not of its magnitude, so that DuckDB pushes it into the scan.
        flux = col(expand(self.flux, band))
        low, high = self._flux_bounds()
        parts = [f"isfinite({flux})", f"{flux} > 0"]
        if low is not None:
            parts.append(f"{flux} >= {sql_number(low)}")
        if high is not None:
            parts.append(f"{flux} <= {sql_number(high)}")
        return "(" + " AND ".join(parts) + ")"

    def mask(self, get: ColumnGetter, band: str | None) -> BoolArray:
        flux = as_float(get(expand(self.flux, band)))
        low, high = self._flux_bounds()
        with np.errstate(invalid="ignore"):
            keep = np.isfinite(flux) & (flux > 0)
            if low is not None:
                keep &= flux >= low
            if high is not None:
                keep &= flux <= high
        return keep

    def describe(self, band: str | None) -> str:
        return _range_text(f"mag({expand(self.flux, band)})", self.low, self.high)


@dataclass(frozen=True, slots=True)
class FlagSelector(Selector):
    """Sources none of whose *flags* is set (a null flag counts as set: unknown is bad)."""

    flags: tuple[str, ...] = (
        "{band}_psfFlux_flag",
        "{band}_pixelFlags_saturated",
        "{band}_pixelFlags_edge",
    )

    def __post_init__(self) -> None:
        if not self.flags:
            raise ValueError("FlagSelector needs at least one flag")

    def columns(self, band: str | None) -> frozenset[str]:
        return expand_all(self.flags, band)

    def sql(self, col: ColumnSql, band: str | None) -> str:
        # "= false" (a null flag gives null: rejected) is pushed into the Parquet scan.
        tests = [f"({col(expand(flag, band))} = false)" for flag in self.flags]
        return "(" + " AND ".join(tests) + ")"

    def mask(self, get: ColumnGetter, band: str | None) -> BoolArray:
        masks = [np.asarray(get(expand(flag, band)) == False, dtype=bool) for flag in self.flags]  # noqa: E712 (a null flag is not False)
        return cast(BoolArray, np.logical_and.reduce(masks))

    def describe(self, band: str | None) -> str:
        return "not " + " | ".join(expand(flag, band) for flag in self.flags)


@dataclass(frozen=True, slots=True)
class PrimarySelector(Selector):
    """Primary detections only: *column* is true.

    A coadd table holds each object of the patch overlaps twice and deblended parents
    beside their children; ``detect_isPrimary`` marks the one row of each object that
    counts. A null flag counts as not primary.

    Parameters
    ----------
    column
        The flag column.
    optional
        Whether a table without *column* is accepted: every row is kept then (a
        multi-band star catalogue such as faro's has no such flag). Otherwise the
        column is required, like any selector's.
    """

    column: str = "detect_isPrimary"
    optional: bool = False

    def columns(self, band: str | None) -> frozenset[str]:
        return frozenset() if self.optional else expand_all([self.column], band)

    def optional_columns(self, band: str | None) -> frozenset[str]:
        return expand_all([self.column], band) if self.optional else frozenset()

    def sql(self, col: ColumnSql, band: str | None) -> str:
        try:
            name = col(expand(self.column, band))
        except MissingColumnsError:
            if not self.optional:
                raise
            return "TRUE"
        # "= true" (a null flag gives null: rejected) is pushed into the Parquet scan.
        return f"({name} = true)"

    def mask(self, get: ColumnGetter, band: str | None) -> BoolArray:
        try:
            flags = get(expand(self.column, band))
        except KeyError:
            if not self.optional:
                raise
            return np.ones((), dtype=bool)  # broadcast: every row kept
        return np.asarray(flags == True, dtype=bool)  # noqa: E712 (a null flag is not True)

    def describe(self, band: str | None) -> str:
        name = expand(self.column, band)
        return f"{name} (when the table has it)" if self.optional else name
