"""PSF ellipticity residuals and rho statistics of stars: arrays in, dataclasses out.

Shapes
    From the second moments of a star (``ixx``, ``iyy``, ``ixy``) and of the PSF model at
    its position (``ixxPSF``, ...), the distortion ellipticity of faro and analysis_tools,
    ``e1 = (ixx - iyy) / T``, ``e2 = 2 ixy / T`` with the trace ``T = ixx + iyy``; the
    residual ``de = e_star - e_psf``, and the size residual ``dT/T = (T - T_psf) / T_psf``.
    A star whose six moments are not all finite, or whose ``T`` or ``T_psf`` is not
    positive, is invalid (NaN everywhere, left out of every statistic).

Rho statistics (Rowe 2010; rho3-5 of Jarvis et al. 2016, as analysis_tools computes them)
    The xi+ correlation ``<a b>(theta) = sum(a1_i b1_j + a2_i b2_j) / n`` over the pairs
    (i, j) of distinct stars whose separation is in a log-spaced bin (arcmin), with
    ``e`` the star's ellipticity, ``de`` its residual and ``q = e dT/T``:
    rho1 = <de de>, rho2 = <e de>, rho3 = <q q>, rho4 = <de q>, rho5 = <e q>. xi+ does not
    depend on the frame the ellipticities are projected on, so no rotation to the pair's
    direction is needed (on the scale of a tract the sphere's parallel transport is
    negligible). Nothing is subtracted: a constant residual ``de`` gives rho1 = |de|^2 at
    every separation. With *groups* (the visit of each source) only pairs of the same
    group count, so that residuals of two exposures are never correlated with each other.

    Estimator and cost: the stars (at most *max_stars*, a uniform sample drawn with
    *seed*) are taken group by group. A group with at most *exact_pairs* (2 million)
    pairs has every pair within the largest separation listed by a k-d tree on the unit
    sphere (SciPy's ``cKDTree.query_pairs``) and binned exactly. A larger group is summed
    onto a grid of *grid_cells* (512) cells a side over its extent on the tangent plane;
    the correlations of the gridded components at every cell offset come from FFTs
    (7 forward, 11 inverse, on at most about 1,024 x 1,024 cells), an offset counting at
    the distance of its cell centres (off by at most sqrt(2) cells, under 9 % of any
    separation it is used for), and pairs closer than `EXACT_CELLS` (16) cells are again
    counted exactly. The cost is bounded whatever the area: about a second for 20,000
    stars in one group. The separation of a bin is its geometric centre.

    Error: the shot noise of TreeCorr, ``sigma^2 = 2 V_a V_b / n`` with ``V`` the variance
    per component of each field about its mean and ``n`` the distinct pairs of the bin
    (ordered pairs for a cross-correlation). It ignores sample variance and the correlation
    of pairs sharing a star, so it underestimates the error of a correlated field.

Distortion has a shear responsivity near 2: analysis_tools divides ellipticities by 2
before correlating, so its rho values are a quarter of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from vigil.compute._pair_sums import (
    ARCMIN_PER_RADIAN,
    EXACT_CELLS,
    exact_sums,
    grid_sums,
    unit_vectors,
)

__all__ = [
    "RHO_NAMES",
    "ResidualMap",
    "ResidualSummary",
    "RhoStatistics",
    "Shapes",
    "residual_map",
    "rho_statistics",
    "shapes",
    "summarize",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

RHO_NAMES = ("rho1", "rho2", "rho3", "rho4", "rho5")
"""The rho statistics computed, in order."""


@dataclass(frozen=True)
class Shapes:
    """Ellipticities and residuals of stars, NaN where a star's moments are unusable."""

    e1: FloatArray
    e2: FloatArray
    e1_psf: FloatArray
    e2_psf: FloatArray
    de1: FloatArray
    """``e1 - e1_psf``."""
    de2: FloatArray
    dsize: FloatArray
    """``(T - T_psf) / T_psf``."""
    valid: npt.NDArray[np.bool_]
    """Whether the star's six moments are finite and both traces positive."""

    def __len__(self) -> int:
        return len(self.valid)

    def take(self, index: npt.NDArray[np.intp]) -> Shapes:
        """The stars at *index*."""
        return Shapes(
            e1=self.e1[index],
            e2=self.e2[index],
            e1_psf=self.e1_psf[index],
            e2_psf=self.e2_psf[index],
            de1=self.de1[index],
            de2=self.de2[index],
            dsize=self.dsize[index],
            valid=self.valid[index],
        )


def _moments(
    ixx: ArrayLike, iyy: ArrayLike, ixy: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """e1, e2, the trace divided by the star's largest moment, that moment, and validity.

    Dividing by the largest moment first keeps huge and tiny moments (1e300, 1e-300)
    from overflowing or losing precision in the sums.
    """
    xx, yy, xy = (np.asarray(a, dtype=np.float64) for a in (ixx, iyy, ixy))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        scale = np.fmax(np.fmax(np.abs(xx), np.abs(yy)), np.abs(xy))
        finite = np.isfinite(xx) & np.isfinite(yy) & np.isfinite(xy) & (scale > 0)
        scale = np.where(finite, scale, 1.0)
        xx, yy, xy = xx / scale, yy / scale, xy / scale
        trace = xx + yy
        ok = finite & (trace > 0)
        e1 = np.where(ok, (xx - yy) / trace, np.nan)
        e2 = np.where(ok, 2.0 * xy / trace, np.nan)
    return e1, e2, trace, scale, ok


def shapes(
    ixx: ArrayLike,
    iyy: ArrayLike,
    ixy: ArrayLike,
    ixx_psf: ArrayLike,
    iyy_psf: ArrayLike,
    ixy_psf: ArrayLike,
) -> Shapes:
    """The ellipticities of stars and of their PSF models, and the residuals.

    Parameters
    ----------
    ixx, iyy, ixy
        The stars' second moments (any consistent unit, e.g. pixels squared).
    ixx_psf, iyy_psf, ixy_psf
        The PSF model's second moments at each star, in the same unit.
    """
    e1, e2, trace, scale, ok = _moments(ixx, iyy, ixy)
    e1_psf, e2_psf, trace_psf, scale_psf, ok_psf = _moments(ixx_psf, iyy_psf, ixy_psf)
    valid = ok & ok_psf
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # T / T_psf as (trace / trace_psf) * (scale / scale_psf): each ratio stays finite.
        ratio = (trace / np.where(valid, trace_psf, 1.0)) * (scale / scale_psf)
        dsize = np.where(valid & np.isfinite(ratio), ratio - 1.0, np.nan)
    valid &= np.isfinite(dsize)
    nan = np.full(len(valid), np.nan)
    e1, e2 = np.where(valid, e1, nan), np.where(valid, e2, nan)
    e1_psf, e2_psf = np.where(valid, e1_psf, nan), np.where(valid, e2_psf, nan)
    return Shapes(
        e1=e1,
        e2=e2,
        e1_psf=e1_psf,
        e2_psf=e2_psf,
        de1=e1 - e1_psf,
        de2=e2 - e2_psf,
        dsize=dsize,
        valid=valid,
    )


@dataclass(frozen=True)
class ResidualSummary:
    """Mean, median and RMS (about zero) of the residuals over the valid stars; NaN
    without any."""

    stars: int
    mean_de1: float
    mean_de2: float
    median_de1: float
    median_de2: float
    rms_de1: float
    rms_de2: float
    mean_dsize: float
    median_dsize: float
    rms_dsize: float

    def rows(self) -> list[tuple[str, float, float, float]]:
        """``(quantity, mean, median, RMS)`` for e1, e2 and the size residual."""
        return [
            ("e1 residual", self.mean_de1, self.median_de1, self.rms_de1),
            ("e2 residual", self.mean_de2, self.median_de2, self.rms_de2),
            ("size residual dT/T", self.mean_dsize, self.median_dsize, self.rms_dsize),
        ]


def _stats(values: FloatArray) -> tuple[float, float, float]:
    if len(values) == 0:
        return (np.nan, np.nan, np.nan)
    return (
        float(np.mean(values)),
        float(np.median(values)),
        float(np.sqrt(np.mean(values**2))),
    )


def summarize(stars: Shapes) -> ResidualSummary:
    """The residual summary of *stars* (their valid ones)."""
    mean1, median1, rms1 = _stats(stars.de1[stars.valid])
    mean2, median2, rms2 = _stats(stars.de2[stars.valid])
    mean_s, median_s, rms_s = _stats(stars.dsize[stars.valid])
    return ResidualSummary(
        stars=int(stars.valid.sum()),
        mean_de1=mean1,
        mean_de2=mean2,
        median_de1=median1,
        median_de2=median2,
        rms_de1=rms1,
        rms_de2=rms2,
        mean_dsize=mean_s,
        median_dsize=median_s,
        rms_dsize=rms_s,
    )


@dataclass(frozen=True)
class RhoStatistics:
    """rho1-rho5 (xi+) in log-spaced separation bins, with their shot-noise errors.

    ``edges`` and ``theta`` (the bins' geometric centres) are in arcmin; ``pairs`` the
    distinct pairs of each bin; ``rho[name]`` and ``sigma[name]`` are NaN in a bin without
    pairs. ``stars`` were used, drawn at random (``seed``) from ``available`` when there
    were more than ``max_stars``; ``groups`` is the number of groups (visits) the pairs
    were formed in.
    """

    edges: FloatArray
    theta: FloatArray
    pairs: npt.NDArray[np.int64]
    rho: dict[str, FloatArray]
    sigma: dict[str, FloatArray]
    stars: int
    available: int
    max_stars: int
    seed: int
    groups: int
    parameters: dict[str, float] = field(default_factory=dict)

    @property
    def sampled(self) -> bool:
        """Whether the stars are a sample of those available."""
        return self.stars < self.available

    def describe(self, groups: str = "groups") -> str:
        """What the statistics were computed on, for people; *groups* names the groups
        (``"visits"``)."""
        sample = (
            f"a uniform sample (seed {self.seed}) of {self.stars:,} of {self.available:,} stars"
            if self.sampled
            else f"{self.stars:,} stars"
        )
        within = f", pairs within each of {self.groups} {groups}" if self.groups > 1 else ""
        return (
            f"{sample}{within}; {int(self.pairs.sum()):,} pairs at"
            f" {self.edges[0]:g}-{self.edges[-1]:g} arcmin"
        )


_FIELDS = ("e", "de", "q")
"""The correlated fields: the star's ellipticity, its residual, and e dT/T."""

_RHO_FIELDS = {
    "rho1": ("de", "de"),
    "rho2": ("e", "de"),
    "rho3": ("q", "q"),
    "rho4": ("de", "q"),
    "rho5": ("e", "q"),
}

_PRODUCTS = [
    (2 * _FIELDS.index(first) + k, 2 * _FIELDS.index(second) + k)
    for first, second in _RHO_FIELDS.values()
    for k in range(2)
]
"""The products of components summed: (component of a, component of b), two per rho."""


def _components(stars: Shapes) -> list[FloatArray]:
    """e1, e2, de1, de2, q1, q2 of *stars* (`_FIELDS` order)."""
    q1, q2 = stars.e1 * stars.dsize, stars.e2 * stars.dsize
    return [stars.e1, stars.e2, stars.de1, stars.de2, q1, q2]


def rho_statistics(
    ra: ArrayLike,
    dec: ArrayLike,
    stars: Shapes,
    *,
    groups: ArrayLike | None = None,
    min_sep: float = 0.5,
    max_sep: float = 100.0,
    bins: int = 12,
    max_stars: int = 20_000,
    seed: int = 0,
    exact_pairs: int = 2_000_000,
    grid_cells: int = 512,
) -> RhoStatistics:
    """rho1-rho5 of *stars* at *ra*, *dec* (degrees), in *bins* log bins (arcmin).

    Parameters
    ----------
    ra, dec
        The stars' positions, degrees.
    stars
        Their shapes (`shapes`); invalid stars and those without a finite position are
        left out.
    groups
        A label per star (its visit): only pairs of the same label count. None: one group.
    min_sep, max_sep, bins
        The separation range, arcmin, cut into *bins* bins equal in log(separation).
    max_stars, seed
        At most *max_stars* stars, a uniform sample drawn with *seed* when there are more.
    exact_pairs, grid_cells
        A group with at most *exact_pairs* pairs has every pair counted exactly; a larger
        one is put on a grid of *grid_cells* cells a side over its extent, its pairs
        closer than `EXACT_CELLS` cells counted exactly and the others by cell offset.

    Raises
    ------
    ValueError
        When the bins are not ``0 < min_sep < max_sep`` (at most 180 degrees) with at
        least one bin, or *max_stars* is below 1.
    """
    if not (0 < min_sep < max_sep <= 180 * 60) or bins < 1:
        raise ValueError(
            f"rho statistics need 0 < min_sep < max_sep <= 10800 arcmin and bins >= 1,"
            f" not min_sep={min_sep}, max_sep={max_sep}, bins={bins}"
        )
    if max_stars < 1 or grid_cells < 2 * EXACT_CELLS:
        raise ValueError(
            f"max_stars must be at least 1 and grid_cells at least {2 * EXACT_CELLS},"
            f" not {max_stars} and {grid_cells}"
        )
    ra_a, dec_a = np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64)
    label = np.zeros(len(ra_a), np.int64) if groups is None else np.asarray(groups)
    if not (len(ra_a) == len(dec_a) == len(label) == len(stars)):
        raise ValueError(
            f"ra ({len(ra_a)}), dec ({len(dec_a)}), groups ({len(label)}) and stars"
            f" ({len(stars)}) must have the same length"
        )
    usable = np.flatnonzero(stars.valid & np.isfinite(ra_a) & np.isfinite(dec_a))
    available = len(usable)
    if available > max_stars:
        rng = np.random.default_rng(seed)
        usable = np.sort(rng.choice(usable, max_stars, replace=False))
    chosen = stars.take(usable)
    xyz = unit_vectors(ra_a[usable], dec_a[usable])
    _, group_of = np.unique(label[usable], return_inverse=True)
    edges = np.geomspace(min_sep, max_sep, bins + 1)
    chords = 2.0 * np.sin(edges / ARCMIN_PER_RADIAN / 2.0)
    components = _components(chosen)
    ordered = np.zeros(bins)
    totals = [np.zeros(bins) for _ in _PRODUCTS]
    grouped = 0
    for group in range(int(group_of.max()) + 1 if len(usable) else 0):
        members = np.flatnonzero(group_of == group)
        grouped += 1
        if len(members) < 2:
            continue
        points = xyz[members]
        parts = [values[members] for values in components]
        if len(members) * (len(members) - 1) / 2 <= exact_pairs:
            counts, sums = exact_sums(points, chords, parts, _PRODUCTS, chords[-1])
        else:
            counts, sums, start = grid_sums(points, edges, parts, _PRODUCTS, grid_cells)
            below = 2.0 * np.sin(start / ARCMIN_PER_RADIAN / 2.0)
            near_counts, near_sums = exact_sums(points, chords, parts, _PRODUCTS, below)
            counts = counts + near_counts
            sums = [far + near for far, near in zip(sums, near_sums, strict=True)]
        ordered += counts
        for total, part in zip(totals, sums, strict=True):
            total += part
    fields = {name: (components[2 * k], components[2 * k + 1]) for k, name in enumerate(_FIELDS)}
    variance = {name: _variance(*values) for name, values in fields.items()}
    rho: dict[str, FloatArray] = {}
    sigma: dict[str, FloatArray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for index, (name, (a, b)) in enumerate(_RHO_FIELDS.items()):
            summed = totals[2 * index] + totals[2 * index + 1]
            rho[name] = np.where(ordered > 0, summed / ordered, np.nan)
            independent = ordered / 2 if a == b else ordered
            sigma[name] = np.where(
                ordered > 0, np.sqrt(2 * variance[a] * variance[b] / independent), np.nan
            )
    return RhoStatistics(
        edges=edges,
        theta=np.sqrt(edges[:-1] * edges[1:]),
        pairs=np.rint(ordered / 2).astype(np.int64),
        rho=rho,
        sigma=sigma,
        stars=len(usable),
        available=available,
        max_stars=max_stars,
        seed=seed,
        groups=grouped,
        parameters={
            "min_sep": min_sep,
            "max_sep": max_sep,
            "bins": bins,
            "exact_pairs": exact_pairs,
            "grid_cells": grid_cells,
        },
    )


def _variance(first: FloatArray, second: FloatArray) -> float:
    """The variance per component of a two-component field, about its mean."""
    if len(first) == 0:
        return np.nan
    return float((np.var(first) + np.var(second)) / 2)


@dataclass(frozen=True)
class ResidualMap:
    """The mean ellipticity residual in cells of RA and Dec (cells with stars only).

    ``ra``, ``dec``: cell centres (degrees); ``de1``, ``de2``: mean residuals;
    ``magnitude`` = |de|; ``angle``: the residual's position angle, ``atan2(de2, de1) / 2``
    (radians, in the frame of the moments); ``stars``: stars per cell.
    """

    ra: FloatArray
    dec: FloatArray
    de1: FloatArray
    de2: FloatArray
    magnitude: FloatArray
    angle: FloatArray
    stars: npt.NDArray[np.int64]


def residual_map(
    ra: ArrayLike, dec: ArrayLike, de1: ArrayLike, de2: ArrayLike, *, cells: int = 12
) -> ResidualMap:
    """The mean residual (*de1*, *de2*) of the stars at *ra*, *dec* in *cells* x *cells*
    cells over their bounding box (stars without finite values left out).

    RA is taken about the stars' mean direction, so that a field across RA 0 stays whole
    (centres may then lie below 0 or above 360).
    """
    if cells < 1:
        raise ValueError(f"cells must be at least 1, not {cells}")
    values = [np.asarray(a, dtype=np.float64) for a in (ra, dec, de1, de2)]
    keep = np.logical_and.reduce([np.isfinite(v) for v in values])
    ra_k, dec_k, de1_k, de2_k = (v[keep] for v in values)
    if len(ra_k) == 0:
        empty = np.array([], dtype=np.float64)
        return ResidualMap(empty, empty, empty, empty, empty, empty, np.array([], np.int64))
    radians = np.radians(ra_k)
    centre = float(np.degrees(np.arctan2(np.sin(radians).mean(), np.cos(radians).mean())))
    ra_k = (ra_k - centre + 180.0) % 360.0 - 180.0 + centre
    ranges = []
    for axis in (ra_k, dec_k):
        low, high = float(axis.min()), float(axis.max())
        if high <= low:  # one star, or all at one place: a cell of an arcmin around it
            low, high = low - 0.5 / 60, high + 0.5 / 60
        ranges.append((low, high))
    count, ra_edges, dec_edges = np.histogram2d(ra_k, dec_k, bins=cells, range=ranges)
    sum1, _, _ = np.histogram2d(ra_k, dec_k, bins=cells, range=ranges, weights=de1_k)
    sum2, _, _ = np.histogram2d(ra_k, dec_k, bins=cells, range=ranges, weights=de2_k)
    filled = count > 0
    ra_centres = (ra_edges[:-1] + ra_edges[1:]) / 2
    dec_centres = (dec_edges[:-1] + dec_edges[1:]) / 2
    grid_ra, grid_dec = np.meshgrid(ra_centres, dec_centres, indexing="ij")
    mean1, mean2 = sum1[filled] / count[filled], sum2[filled] / count[filled]
    return ResidualMap(
        ra=grid_ra[filled],
        dec=grid_dec[filled],
        de1=mean1,
        de2=mean2,
        magnitude=np.hypot(mean1, mean2),
        angle=np.arctan2(mean2, mean1) / 2,
        stars=count[filled].astype(np.int64),
    )
