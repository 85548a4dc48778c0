"""Live cuts on per-source values: signal-to-noise, magnitude range, stars or galaxies, band.

A `Cuts` is applied to a frame of `Repository.values` (with the cut columns asked for as
*columns*). It reads its columns from the table's names: on the coadd ``objects`` table
each band has its own (``i_psfFlux``, ``i_psfFluxErr``, ``i_extendedness``); the visit
``sources`` table has one band per row (``band``) and unprefixed names (``psfFlux``).

- **S/N**: ``psfFlux / psfFluxErr`` at least `Cuts.snr_min`; a row whose S/N is not a
  finite number (no error, a zero error, an overflow) is cut.
- **Magnitude**: the AB magnitude of ``psfFlux`` (``31.4 - 2.5 log10(flux / nJy)``)
  between `Cuts.mag_min` and `Cuts.mag_max`, both included; without a flux column, the
  frame's ``mag``. A row without a magnitude is cut.
- **Extendedness**: stars have ``extendedness < 0.5``, galaxies ``>= 0.5``; a row whose
  extendedness is NaN is neither, so either cut removes it.
- **Band**: the band whose columns the cuts read (by default the metric's own); on the
  ``sources`` table it also keeps only that band's rows.

A cut whose column the frame lacks is not applied, and `Cuts.apply` says so in the
frame's ``attrs["not_applied"]`` ("no extendedness column: cut not applied") rather than
leaving it out silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from vigil.compute.quantities import flux_to_mag

__all__ = ["EXTENDEDNESS", "STAR_GALAXY_SPLIT", "Cuts"]

Mask = npt.NDArray[np.bool_]
"""Which rows a cut keeps."""

EXTENDEDNESS: Final = ("all", "stars", "galaxies")
"""The extendedness choices: every row, point sources only, extended sources only."""

STAR_GALAXY_SPLIT: Final = 0.5
"""Extendedness below this is a star, at or above it a galaxy."""

_PREFIXED: Final = "objects"
"""The table whose flux and extendedness columns carry their band as a prefix."""


@dataclass(frozen=True)
class Cuts:
    """Cuts on per-source rows; the defaults cut nothing.

    Attributes
    ----------
    snr_min
        Lowest PSF signal-to-noise kept (None: no S/N cut).
    mag_min, mag_max
        The PSF magnitude range kept, ends included (None: open on that side).
    extendedness
        ``"all"``, ``"stars"`` or ``"galaxies"``.
    band
        The band whose columns the cuts read (None: the metric's band).
    """

    snr_min: float | None = None
    mag_min: float | None = None
    mag_max: float | None = None
    extendedness: str = "all"
    band: str | None = None

    def __post_init__(self) -> None:
        if self.extendedness not in EXTENDEDNESS:
            raise ValueError(
                f"extendedness cut {self.extendedness!r} is not one of {', '.join(EXTENDEDNESS)}"
            )
        for name in ("snr_min", "mag_min", "mag_max"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"cut {name} must be a finite number, not {value!r}")
        if self.mag_min is not None and self.mag_max is not None and self.mag_min > self.mag_max:
            raise ValueError(
                f"magnitude cut from {self.mag_min} to {self.mag_max}: the lower end is above"
                " the upper one"
            )

    @property
    def active(self) -> bool:
        """Whether any cut is set."""
        return self.describe() != "no cuts"

    def describe(self) -> str:
        """The cuts in words (``S/N ≥ 10, 18 ≤ mag ≤ 22, stars, band i``; ``no cuts``)."""
        parts = []
        if self.snr_min is not None:
            parts.append(f"S/N ≥ {self.snr_min:g}")
        if self.mag_min is not None and self.mag_max is not None:
            parts.append(f"{self.mag_min:g} ≤ mag ≤ {self.mag_max:g}")
        elif self.mag_min is not None:
            parts.append(f"mag ≥ {self.mag_min:g}")
        elif self.mag_max is not None:
            parts.append(f"mag ≤ {self.mag_max:g}")
        if self.extendedness != "all":
            parts.append(self.extendedness)
        if self.band is not None:
            parts.append(f"band {self.band}")
        return ", ".join(parts) or "no cuts"

    def columns(self, table: str, band: str | None) -> list[str]:
        """The columns of *table* the cuts read, for a metric of *band*.

        Ask `Repository.values` for those the table has (its *columns*); `apply`
        reports the others.
        """
        prefix = self._prefix(table, band)
        if prefix is None:
            return []
        wanted = []
        if self.snr_min is not None or self.mag_min is not None or self.mag_max is not None:
            wanted.append(f"{prefix}psfFlux")
        if self.snr_min is not None:
            wanted.append(f"{prefix}psfFluxErr")
        if self.extendedness != "all":
            wanted.append(f"{prefix}extendedness")
        return wanted

    def apply(self, frame: pd.DataFrame, table: str, band: str | None) -> pd.DataFrame:
        """The rows of *frame* (per-source values of a metric of *band* on *table*) the
        cuts keep.

        Returns
        -------
        pandas.DataFrame
            The kept rows, index reset. ``attrs["cuts"]`` is `describe`,
            ``attrs["before"]`` the rows before the cuts, ``attrs["not_applied"]`` a
            sentence per cut whose column is missing.
        """
        keep = np.ones(len(frame), dtype=bool)
        missing: list[str] = []
        prefix = self._prefix(table, band)
        if prefix is None and self._reads_columns():
            missing.append("no band to read fluxes and extendedness from: cuts not applied")
        else:
            prefix = prefix or ""
            keep &= self._snr(frame, prefix, missing)
            keep &= self._magnitude(frame, prefix, missing)
            keep &= self._extendedness(frame, prefix, missing)
        if self.band is not None and table != _PREFIXED:
            if "band" in frame:
                keep &= (frame["band"] == self.band).to_numpy(dtype=bool)
            else:
                missing.append("no band column: band cut not applied")
        kept = frame.loc[keep].reset_index(drop=True)
        kept.attrs.update(frame.attrs)
        kept.attrs.update(cuts=self.describe(), before=len(frame), not_applied=missing)
        return kept

    # -- one cut each -------------------------------------------------------------------

    def _prefix(self, table: str, band: str | None) -> str | None:
        """How the table's per-band columns begin (None: the band is unknown)."""
        if table != _PREFIXED:
            return ""
        chosen = self.band or band
        return f"{chosen}_" if chosen else None

    def _reads_columns(self) -> bool:
        return (
            self.snr_min is not None
            or self.mag_min is not None
            or self.mag_max is not None
            or self.extendedness != "all"
        )

    def _snr(self, frame: pd.DataFrame, prefix: str, missing: list[str]) -> Mask:
        if self.snr_min is None:
            return np.ones(len(frame), dtype=bool)
        flux, error = f"{prefix}psfFlux", f"{prefix}psfFluxErr"
        if flux not in frame or error not in frame:
            absent = flux if flux not in frame else error
            missing.append(f"no {absent} column: S/N cut not applied")
            return np.ones(len(frame), dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            snr = _floats(frame[flux]) / _floats(frame[error])
        return np.isfinite(snr) & (snr >= self.snr_min)

    def _magnitude(self, frame: pd.DataFrame, prefix: str, missing: list[str]) -> Mask:
        if self.mag_min is None and self.mag_max is None:
            return np.ones(len(frame), dtype=bool)
        flux = f"{prefix}psfFlux"
        if flux in frame:
            mag = flux_to_mag(_floats(frame[flux]))
        elif "mag" in frame:
            mag = _floats(frame["mag"])
        else:
            missing.append(f"no {flux} or mag column: magnitude cut not applied")
            return np.ones(len(frame), dtype=bool)
        keep = np.isfinite(mag)
        if self.mag_min is not None:
            keep &= mag >= self.mag_min
        if self.mag_max is not None:
            keep &= mag <= self.mag_max
        return keep

    def _extendedness(self, frame: pd.DataFrame, prefix: str, missing: list[str]) -> Mask:
        if self.extendedness == "all":
            return np.ones(len(frame), dtype=bool)
        column = f"{prefix}extendedness"
        if column not in frame:
            missing.append(f"no {column} column: {self.extendedness} cut not applied")
            return np.ones(len(frame), dtype=bool)
        values = _floats(frame[column])
        # A NaN compares false both ways: neither a star nor a galaxy.
        if self.extendedness == "stars":
            return np.less(values, STAR_GALAXY_SPLIT)
        return np.greater_equal(values, STAR_GALAXY_SPLIT)


def _floats(values: pd.Series) -> npt.NDArray[np.float64]:
    """*values* as float64 (missing values as NaN)."""
    floats: npt.NDArray[np.float64] = pd.to_numeric(values, errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    return floats
