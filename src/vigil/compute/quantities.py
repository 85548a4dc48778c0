"""Compute actions: per-source quantities from catalogue columns.

Fluxes are in nJy, so an AB magnitude is ``31.4 - 2.5 log10(flux)``. Undefined values
(the logarithm of a negative flux, a division by zero) come out as NaN or infinity in both
forms, IEEE-style, and are dropped by the engines' ``isfinite(value)``; the SQL has no
guarding ``CASE`` so that DuckDB keeps its fast paths. Second moments are in
pixels squared; a size is the determinant radius ``(Ixx Iyy - Ixy^2)^(1/4)``, which uses
the cross moment and does not depend on the orientation of the source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.compute.actions import (
    ColumnGetter,
    ColumnSql,
    FloatArray,
    Quantity,
    as_float,
    expand,
    expand_all,
)

__all__ = [
    "NJY_ZERO_POINT",
    "Color",
    "MagDiff",
    "Magnitude",
    "PsfSizeResidual",
    "SignalToNoise",
    "flux_to_mag",
    "mag_to_flux",
]

NJY_ZERO_POINT = 31.4
"""AB magnitude of a flux of 1 nJy."""


def flux_to_mag(flux: FloatArray) -> FloatArray:
    """AB magnitudes of fluxes in nJy (NaN where the flux is not positive)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = np.where(flux > 0, flux, np.nan)
        return NJY_ZERO_POINT - 2.5 * np.log10(positive)


def mag_to_flux(mag: FloatArray) -> FloatArray:
    """Fluxes in nJy of AB magnitudes."""
    return np.power(10.0, (NJY_ZERO_POINT - np.asarray(mag, dtype=np.float64)) / 2.5)


def _double(expression: str) -> str:
    return f"CAST({expression} AS DOUBLE)"


def _sql_mag(flux: str) -> str:
    return f"(CASE WHEN {flux} > 0 THEN {NJY_ZERO_POINT!r} - 2.5 * log10({flux}) END)"


@dataclass(frozen=True, slots=True)
class Magnitude(Quantity):
    """AB magnitude of a flux column (``{band}_psfFlux`` by default)."""

    flux: str = "{band}_psfFlux"
    unit: str = "mag"

    def columns(self, band: str | None) -> frozenset[str]:
        return expand_all([self.flux], band)

    def sql(self, col: ColumnSql, band: str | None) -> str:
        return _sql_mag(_double(col(expand(self.flux, band))))

    def evaluate(self, get: ColumnGetter, band: str | None) -> FloatArray:
        return flux_to_mag(as_float(get(expand(self.flux, band))))

    def describe(self, band: str | None) -> str:
        return f"mag({expand(self.flux, band)})"


@dataclass(frozen=True, slots=True)
class MagDiff(Quantity):
    """Difference of two magnitudes of the same source, ``mag(flux1) - mag(flux2)``.

    The default compares the PSF and CModel fluxes: near zero for stars, positive for
    galaxies, offset where the PSF model is wrong.
    """

    flux1: str = "{band}_psfFlux"
    flux2: str = "{band}_cModelFlux"
    unit: str = "mmag"

    @property
    def _scale(self) -> float:
        return 1000.0 if self.unit == "mmag" else 1.0

    def columns(self, band: str | None) -> frozenset[str]:
        return expand_all([self.flux1, self.flux2], band)

    def sql(self, col: ColumnSql, band: str | None) -> str:
        f1 = _double(col(expand(self.flux1, band)))
        f2 = _double(col(expand(self.flux2, band)))
        return f"(-2.5 * (log10({f1}) - log10({f2})) * {self._scale!r})"

    def evaluate(self, get: ColumnGetter, band: str | None) -> FloatArray:
        f1 = as_float(get(expand(self.flux1, band)))
        f2 = as_float(get(expand(self.flux2, band)))
        with np.errstate(divide="ignore", invalid="ignore"):
            return -2.5 * (np.log10(f1) - np.log10(f2)) * self._scale

    def describe(self, band: str | None) -> str:
        return f"mag({expand(self.flux1, band)}) - mag({expand(self.flux2, band)}) [{self.unit}]"


@dataclass(frozen=True, slots=True)
class PsfSizeResidual(Quantity):
    """Fractional difference of a source's size and its PSF model's size, in percent.

    ``100 (r / r_psf - 1)`` with the determinant radius ``r = (Ixx Iyy - Ixy^2)^(1/4)`` of
    the source's second moments and of the PSF model's at its position. Near zero for
    stars when the PSF model is right.
    """

    prefix: str = "{band}_"
    unit: str = "%"

    def _names(self, band: str | None) -> tuple[str, ...]:
        p = expand(self.prefix, band)
        return tuple(p + m for m in ("ixx", "iyy", "ixy", "ixxPSF", "iyyPSF", "ixyPSF"))

    def columns(self, band: str | None) -> frozenset[str]:
        return frozenset(self._names(band))

    def sql(self, col: ColumnSql, band: str | None) -> str:
        xx, yy, xy, pxx, pyy, pxy = (_double(col(n)) for n in self._names(band))
        det = f"({xx} * {yy} - {xy} * {xy})"
        pdet = f"({pxx} * {pyy} - {pxy} * {pxy})"
        return f"(100.0 * (pow({det}, 0.25) / pow({pdet}, 0.25) - 1.0))"

    def evaluate(self, get: ColumnGetter, band: str | None) -> FloatArray:
        xx, yy, xy, pxx, pyy, pxy = (as_float(get(n)) for n in self._names(band))
        det = xx * yy - xy * xy
        pdet = pxx * pyy - pxy * pxy
        with np.errstate(divide="ignore", invalid="ignore"):
            return 100.0 * (np.power(det, 0.25) / np.power(pdet, 0.25) - 1.0)

    def describe(self, band: str | None) -> str:
        p = expand(self.prefix, band)
        return f"100 (detR({p}ixx, {p}iyy, {p}ixy) / detR(PSF) - 1) [%]"


@dataclass(frozen=True, slots=True)
class SignalToNoise(Quantity):
    """Signal-to-noise ratio of a flux, ``flux / fluxErr``."""

    flux: str = "{band}_psfFlux"
    error: str = "{band}_psfFluxErr"
    unit: str = ""

    def columns(self, band: str | None) -> frozenset[str]:
        return expand_all([self.flux, self.error], band)

    def sql(self, col: ColumnSql, band: str | None) -> str:
        flux = _double(col(expand(self.flux, band)))
        error = _double(col(expand(self.error, band)))
        return f"({flux} / {error})"

    def evaluate(self, get: ColumnGetter, band: str | None) -> FloatArray:
        flux = as_float(get(expand(self.flux, band)))
        error = as_float(get(expand(self.error, band)))
        with np.errstate(divide="ignore", invalid="ignore"):
            return flux / error

    def describe(self, band: str | None) -> str:
        return f"{expand(self.flux, band)} / {expand(self.error, band)}"


@dataclass(frozen=True, slots=True)
class Color(Quantity):
    """A colour, ``mag(band1) - mag(band2)`` of one flux kind (PSF by default)."""

    band1: str = "g"
    band2: str = "r"
    flux: str = "psfFlux"
    unit: str = "mag"

    def columns(self, band: str | None) -> frozenset[str]:
        return frozenset({f"{self.band1}_{self.flux}", f"{self.band2}_{self.flux}"})

    def sql(self, col: ColumnSql, band: str | None) -> str:
        m1 = _sql_mag(_double(col(f"{self.band1}_{self.flux}")))
        m2 = _sql_mag(_double(col(f"{self.band2}_{self.flux}")))
        return f"({m1} - {m2})"

    def evaluate(self, get: ColumnGetter, band: str | None) -> FloatArray:
        m1 = flux_to_mag(as_float(get(f"{self.band1}_{self.flux}")))
        m2 = flux_to_mag(as_float(get(f"{self.band2}_{self.flux}")))
        return m1 - m2

    def describe(self, band: str | None) -> str:
        return f"{self.band1} - {self.band2} ({self.flux})"
