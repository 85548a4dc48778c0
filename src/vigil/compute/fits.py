"""Metrics that are fits over many sources rather than per-source values.

`StellarLocusWidth` measures the width of the stellar locus in the (g - r, r - i) plane,
in the spirit of the SDSS "principal colour" widths (w, x) used by faro's wPerp: the
locus' principal axis is the major eigenvector of the colours' covariance, and the width
is the sigma-MAD of the distances perpendicular to it, after two passes of 3-sigma
clipping. It needs the stars of a whole patch or more, so it has a maximum granularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.compute.actions import ColumnGetter, as_float
from vigil.compute.aggregators import SIGMA_MAD_SCALE
from vigil.compute.metric import GroupReducer
from vigil.compute.quantities import flux_to_mag

__all__ = ["StellarLocusWidth"]


@dataclass(frozen=True, slots=True)
class StellarLocusWidth(GroupReducer):
    """Width of the stellar locus perpendicular to its principal axis, in mmag.

    Parameters
    ----------
    bands
        The three bands of the colour-colour plane (``g - r`` against ``r - i``).
    color_range
        The range of the first colour kept (the locus is straight there).
    flux
        The flux kind of the magnitudes.
    """

    bands: tuple[str, str, str] = ("g", "r", "i")
    color_range: tuple[float, float] = (0.3, 1.1)
    flux: str = "psfFlux"
    unit: str = "mmag"
    min_count: int = 10

    def columns(self, band: str | None) -> frozenset[str]:
        return frozenset(f"{b}_{self.flux}" for b in self.bands)

    def reduce(self, get: ColumnGetter, band: str | None) -> float:
        mags = [flux_to_mag(as_float(get(f"{b}_{self.flux}"))) for b in self.bands]
        c1 = mags[0] - mags[1]
        c2 = mags[1] - mags[2]
        low, high = self.color_range
        with np.errstate(invalid="ignore"):
            keep = np.isfinite(c1) & np.isfinite(c2) & (c1 >= low) & (c1 <= high)
        # The colours as two contiguous columns: the medians, the covariance and the
        # distances run on each column's own memory, not across an (N, 2) array.
        x, y = c1[keep], c2[keep]
        sigma = float("nan")
        for clip in range(3):
            if len(x) < self.min_count:
                return float("nan")
            dx = x - np.median(x)
            dy = y - np.median(y)
            ex = dx - dx.mean()
            ey = dy - dy.mean()
            sxy = float(ex @ ey)
            cov = np.array([[float(ex @ ex), sxy], [sxy, float(ey @ ey)]]) / (len(x) - 1)
            _, vectors = np.linalg.eigh(cov)
            normal = vectors[:, 0]  # eigh sorts eigenvalues ascending: the minor axis
            distance = dx * normal[0] + dy * normal[1]
            deviation = np.abs(distance - np.median(distance))
            sigma = float(SIGMA_MAD_SCALE * np.median(deviation))
            inside = deviation <= 3.0 * sigma
            if clip == 2 or inside.all():
                break
            x, y = x[inside], y[inside]
        return float(1000.0 * sigma)

    def describe(self, band: str | None) -> str:
        g, r, i = self.bands
        low, high = self.color_range
        return (
            f"sigma-MAD perpendicular to the ({g}-{r}, {r}-{i}) stellar locus,"
            f" {low:g} <= {g}-{r} <= {high:g} [mmag]"
        )
