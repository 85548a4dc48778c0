"""Where each detector sits in the focal plane, derived from its sources' sky positions.

A repository holds no camera geometry, so the layout is measured from the sources:

1. The **boresight** of a visit is the mean position of its sources: the direction of
   the sum of their unit vectors on the sphere (so a visit across RA 0/360 or near a
   pole has a sensible centre).
2. Each source is put in the **focal-plane frame** of its visit by the gnomonic
   (tangent-plane) projection about that boresight, in degrees: ``x`` grows toward
   increasing RA (east), ``y`` toward the north celestial pole. A source 90 degrees or
   more from the boresight has no projection (NaN).
3. A detector's **box** in a visit is the minimum to maximum of its sources' ``x`` and
   ``y`` (the box around them, not their hull).
4. The **layout** of a selection of visits is, per detector, the median of each edge of
   its boxes over those visits, so that one sparse or clipped visit does not distort it.

The camera's rotation on the sky is not known either: visits taken at different
rotator angles give rotated boxes, and their median box is wider than the detector.
Every function takes and returns pandas frames or numpy arrays, with no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from vigil.compute.metric import AcceptableRange

__all__ = [
    "BORESIGHT_COLUMNS",
    "FRAME_COLUMNS",
    "LAYOUT_COLUMNS",
    "SUM_COLUMNS",
    "boresights",
    "combine_frames",
    "combine_sums",
    "detector_frames",
    "detector_medians",
    "gnomonic",
    "layout",
    "vector_sums",
    "worst_visit",
]

Array = npt.NDArray[np.float64]

SUM_COLUMNS = ("visit", "vx", "vy", "vz", "sources")
"""The columns of `vector_sums`: the sums of the sources' unit vectors per visit."""

BORESIGHT_COLUMNS = ("visit", "ra", "dec", "sources")
"""The columns of `boresights`, in degrees."""

FRAME_COLUMNS = ("visit", "detector", "x_min", "x_max", "y_min", "y_max", "sources")
"""The columns of `detector_frames`: each detector's box in its visit's focal plane."""

LAYOUT_COLUMNS = ("detector", "x_min", "x_max", "y_min", "y_max", "x", "y", "visits")
"""The columns of `layout`: the median box per detector, its centre and how many visits."""


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="float64") for column in columns})


def _unit_vectors(ra: Array, dec: Array) -> tuple[Array, Array, Array]:
    ra_rad, dec_rad = np.radians(ra), np.radians(dec)
    cos_dec = np.cos(dec_rad)
    return cos_dec * np.cos(ra_rad), cos_dec * np.sin(ra_rad), np.sin(dec_rad)


def gnomonic(
    ra: npt.ArrayLike, dec: npt.ArrayLike, ra0: npt.ArrayLike, dec0: npt.ArrayLike
) -> tuple[Array, Array]:
    """The gnomonic projection of (*ra*, *dec*) about (*ra0*, *dec0*), all in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        ``x`` (toward increasing RA) and ``y`` (toward the north), in degrees of the
        tangent plane; NaN for a point 90 degrees or more from the centre.
    """
    ra_rad, dec_rad = np.radians(np.asarray(ra, "float64")), np.radians(np.asarray(dec, "float64"))
    ra0_rad = np.radians(np.asarray(ra0, "float64"))
    dec0_rad = np.radians(np.asarray(dec0, "float64"))
    delta = ra_rad - ra0_rad
    cos_c = np.sin(dec0_rad) * np.sin(dec_rad) + np.cos(dec0_rad) * np.cos(dec_rad) * np.cos(delta)
    ahead = cos_c > 0
    safe = np.where(ahead, cos_c, 1.0)
    x = np.cos(dec_rad) * np.sin(delta) / safe
    y = (
        np.cos(dec0_rad) * np.sin(dec_rad) - np.sin(dec0_rad) * np.cos(dec_rad) * np.cos(delta)
    ) / safe
    x = np.where(ahead, np.degrees(x), np.nan)
    y = np.where(ahead, np.degrees(y), np.nan)
    return x, y


def _finite(sources: pd.DataFrame) -> pd.DataFrame:
    """The rows of *sources* with a finite position."""
    ra = sources["coord_ra"].to_numpy(dtype="float64")
    dec = sources["coord_dec"].to_numpy(dtype="float64")
    return sources[np.isfinite(ra) & np.isfinite(dec)]


def vector_sums(sources: pd.DataFrame) -> pd.DataFrame:
    """The sums of the unit vectors of the sources of each visit (`SUM_COLUMNS`).

    *sources* has ``visit``, ``coord_ra`` and ``coord_dec`` (degrees); rows without a
    finite position are left out. Sums of parts of a visit add up (`combine_sums`).
    """
    sources = _finite(sources)
    if sources.empty:
        return _empty(SUM_COLUMNS)
    vx, vy, vz = _unit_vectors(
        sources["coord_ra"].to_numpy(dtype="float64"),
        sources["coord_dec"].to_numpy(dtype="float64"),
    )
    visits, group = np.unique(sources["visit"].to_numpy(dtype="int64"), return_inverse=True)
    return pd.DataFrame(
        {
            "visit": visits,
            "vx": np.bincount(group, weights=vx, minlength=len(visits)),
            "vy": np.bincount(group, weights=vy, minlength=len(visits)),
            "vz": np.bincount(group, weights=vz, minlength=len(visits)),
            "sources": np.bincount(group, minlength=len(visits)),
        }
    )


def combine_sums(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The `vector_sums` of several parts of the sources, added per visit."""
    frames = [part for part in parts if not part.empty]
    if not frames:
        return _empty(SUM_COLUMNS)
    combined = pd.concat(frames, ignore_index=True).groupby("visit", sort=True).sum()
    return combined.reset_index()[list(SUM_COLUMNS)]


def boresights(sums: pd.DataFrame) -> pd.DataFrame:
    """The boresight of each visit of *sums* (`vector_sums`): ``ra`` in [0, 360) and
    ``dec``, in degrees (`BORESIGHT_COLUMNS`).

    A visit whose sources' unit vectors cancel out (sources spread evenly over the
    sphere) has no mean position: NaN.
    """
    if sums.empty:
        return _empty(BORESIGHT_COLUMNS)
    vx, vy, vz = (sums[c].to_numpy(dtype="float64") for c in ("vx", "vy", "vz"))
    norm = np.sqrt(vx**2 + vy**2 + vz**2)
    scale = sums["sources"].to_numpy(dtype="float64")
    # Sums cancelling to within rounding of their terms point nowhere.
    defined = norm > 1e-9 * np.maximum(scale, 1.0)
    ra = np.where(defined, np.degrees(np.arctan2(vy, vx)) % 360.0, np.nan)
    dec = np.where(
        defined, np.degrees(np.arcsin(np.clip(vz / np.where(defined, norm, 1.0), -1, 1))), np.nan
    )
    return pd.DataFrame(
        {"visit": sums["visit"].to_numpy(), "ra": ra, "dec": dec, "sources": sums["sources"]}
    )[list(BORESIGHT_COLUMNS)]


def detector_frames(sources: pd.DataFrame, centres: pd.DataFrame | None = None) -> pd.DataFrame:
    """The box of each detector of each visit in that visit's focal plane (`FRAME_COLUMNS`).

    Parameters
    ----------
    sources
        ``visit``, ``detector``, ``coord_ra`` and ``coord_dec`` (degrees).
    centres
        The visits' `boresights`; by default those of *sources* themselves (give them
        when *sources* is only a part of some visits).

    Returns
    -------
    pandas.DataFrame
        One row per visit and detector, by visit then detector; the boxes of the
        parts of a visit combine with `combine_frames`. Sources of a visit without a
        boresight, or too far from it, are left out.
    """
    sources = _finite(sources)
    if centres is None:
        centres = boresights(vector_sums(sources))
    if sources.empty or centres.empty:
        return _empty(FRAME_COLUMNS)
    visit = sources["visit"].to_numpy(dtype="int64")
    where = pd.Index(centres["visit"].to_numpy(dtype="int64")).get_indexer(visit)
    centre_ra = np.where(where >= 0, centres["ra"].to_numpy(dtype="float64")[where], np.nan)
    centre_dec = np.where(where >= 0, centres["dec"].to_numpy(dtype="float64")[where], np.nan)
    x, y = gnomonic(
        sources["coord_ra"].to_numpy(dtype="float64"),
        sources["coord_dec"].to_numpy(dtype="float64"),
        centre_ra,
        centre_dec,
    )
    placed = np.isfinite(x) & np.isfinite(y)
    if not placed.any():
        return _empty(FRAME_COLUMNS)
    visit, x, y = visit[placed], x[placed], y[placed]
    detector = sources["detector"].to_numpy(dtype="int64")[placed]
    # Reductions over runs of one (visit, detector) in sorted order: pandas' grouped
    # aggregations cost more than the projection at this size.
    order = np.lexsort((detector, visit))
    visit, detector, x, y = visit[order], detector[order], x[order], y[order]
    new_group = np.r_[True, (visit[1:] != visit[:-1]) | (detector[1:] != detector[:-1])]
    starts = np.flatnonzero(new_group)
    frame = pd.DataFrame(
        {
            "visit": visit[starts],
            "detector": detector[starts],
            "x_min": np.minimum.reduceat(x, starts),
            "x_max": np.maximum.reduceat(x, starts),
            "y_min": np.minimum.reduceat(y, starts),
            "y_max": np.maximum.reduceat(y, starts),
            "sources": np.diff(np.r_[starts, len(x)]),
        }
    )
    return frame[list(FRAME_COLUMNS)]


def combine_frames(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The `detector_frames` of several parts of the sources as one: the box around a
    detector's boxes in a visit, and their sources added."""
    frames = [part for part in parts if not part.empty]
    if not frames:
        return _empty(FRAME_COLUMNS)
    combined = (
        pd.concat(frames, ignore_index=True)
        .groupby(["visit", "detector"], sort=True)
        .agg(
            x_min=("x_min", "min"),
            x_max=("x_max", "max"),
            y_min=("y_min", "min"),
            y_max=("y_max", "max"),
            sources=("sources", "sum"),
        )
        .reset_index()
    )
    return combined[list(FRAME_COLUMNS)]


def layout(frames: pd.DataFrame, visits: Iterable[int] | None = None) -> pd.DataFrame:
    """The median box of each detector over the *visits* of *frames* (`LAYOUT_COLUMNS`).

    Parameters
    ----------
    frames
        `detector_frames`.
    visits
        The visits to take the median over; every visit of *frames* when None.

    Returns
    -------
    pandas.DataFrame
        One row per detector, by detector: the median of each edge, the centre of that
        box (``x``, ``y``) and ``visits``, how many visits had the detector.
    """
    if visits is not None:
        frames = frames[frames["visit"].isin(list(visits))]
    if frames.empty:
        return _empty(LAYOUT_COLUMNS)
    out = (
        frames.groupby("detector", sort=True)
        .agg(
            x_min=("x_min", "median"),
            x_max=("x_max", "median"),
            y_min=("y_min", "median"),
            y_max=("y_max", "median"),
            visits=("visit", "nunique"),
        )
        .reset_index()
    )
    out["x"] = (out["x_min"] + out["x_max"]) / 2
    out["y"] = (out["y_min"] + out["y_max"]) / 2
    return out[list(LAYOUT_COLUMNS)]


def detector_medians(values: pd.DataFrame) -> pd.DataFrame:
    """The median over visits of each detector's value.

    Parameters
    ----------
    values
        ``visit``, ``detector``, ``value`` and ``count`` (an aggregate per visit and
        detector).

    Returns
    -------
    pandas.DataFrame
        ``detector``, ``value`` (the median of its finite values; NaN when it has none),
        ``count`` (sources, summed over visits) and ``visits`` (visits with a finite
        value), by detector.
    """
    columns = ("detector", "value", "count", "visits")
    if values.empty:
        return _empty(columns)
    numbers = pd.to_numeric(values["value"], errors="coerce").to_numpy(dtype="float64")
    valued = np.isfinite(numbers)
    # An infinite value would drag a median with it: it counts as no value.
    finite = values.assign(value=np.where(valued, numbers, np.nan), valued=valued)
    out = (
        finite.groupby("detector", sort=True)
        .agg(value=("value", "median"), count=("count", "sum"), visits=("valued", "sum"))
        .reset_index()
    )
    out["visits"] = out["visits"].astype("int64")
    return out[list(columns)]


def worst_visit(
    values: pd.DataFrame, detector: int, acceptable: AcceptableRange | None
) -> int | None:
    """The visit in which *detector*'s value is the worst.

    With an *acceptable* range, the value farthest outside it (or, when all are
    inside, the closest to leaving it); without one, the value farthest from the
    median of the detector's values. Ties go to the first visit.

    Parameters
    ----------
    values
        ``visit``, ``detector`` and ``value`` (an aggregate per visit and detector).
    detector
        The detector.
    acceptable
        The metric's acceptable range, or None.

    Returns
    -------
    int or None
        The visit; the detector's first visit when none of its values is a number;
        None when the detector has no row.
    """
    rows = values[values["detector"] == detector].sort_values("visit", kind="stable")
    if rows.empty:
        return None
    numbers = pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype="float64")
    finite = np.isfinite(numbers)
    if not finite.any():
        return int(rows["visit"].iloc[0])
    if acceptable is not None and (acceptable.min is not None or acceptable.max is not None):
        low = (
            acceptable.min - numbers
            if acceptable.min is not None
            else np.full_like(numbers, -np.inf)
        )
        high = (
            numbers - acceptable.max
            if acceptable.max is not None
            else np.full_like(numbers, -np.inf)
        )
        badness = np.maximum(low, high)
    else:
        badness = np.abs(numbers - np.median(numbers[finite]))
    badness = np.where(finite, badness, -np.inf)
    return int(rows["visit"].iloc[int(np.argmax(badness))])
