"""Repeatability metrics of validate_drp / faro from the visit sources: PA1 and AM1.

The sources of one band are matched to their objects by the ``objectId`` column of the
visit tables (a source without one is left out). An object is kept as a *bright star*
as in validate_drp's ``filterSources``: measured in at least two visits, median PSF
S/N over its sources of at least ``snr_min`` (50), median extendedness below
``max_extendedness`` (1.0). Sources with ``psfFlux_flag`` set or a flux that is not
positive are left out first.

``PA1``
    Photometric repeatability (validate_drp ``calcPA1``): for each bright star, the
    difference of the PSF magnitudes of two of its visits drawn at random, divided by
    sqrt(2); PA1 is the RMS of these over the stars, in mmag, averaged over
    ``shuffles`` (50) random draws. The median over stars of each star's magnitude RMS
    is given beside it (``details["median_star_rms"]``).
``AM1``
    Astrometric repeatability at D = 5 arcmin (validate_drp ``calcAMx``): pairs of
    bright stars with magnitudes in ``mag_range`` (17-21.5) whose mean positions are
    4.5 to 5.5 arcmin apart; for each pair its separation in every visit that measured
    both, the RMS (population standard deviation) of those separations over the visits
    (at least two), and AM1 the median over the pairs, in milliarcseconds.

Both read only the columns they need, with DuckDB, from the visit files of the band;
randomness (star and pair sampling, visit pairing) follows ``seed``, and ``max_stars``
/ ``max_pairs`` bound the work on large repositories.
"""

# SQL here is assembled from fixed column names, escaped literals (`string_literal`,
# `file_list`) and ? parameters only.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from scipy.spatial import cKDTree

from vigil.compute._visit_sources import HasLayout, band_sources, cuts_text, repo_layout
from vigil.compute.engine import connect
from vigil.compute.errors import ComputeError
from vigil.compute.quantities import NJY_ZERO_POINT
from vigil.compute.repository import RepoLayout

__all__ = ["RepeatabilityError", "RepeatabilityResult", "am1", "pa1"]

FloatArray = npt.NDArray[np.float64]

MMAG_PER_MAG = 1000.0
MAS_PER_RADIAN = np.degrees(1.0) * 3600.0 * 1000.0


class RepeatabilityError(ComputeError):
    """A repeatability metric cannot be computed from the repository's sources."""

    status_code = 422
    code = "repeatability_error"


@dataclass(frozen=True)
class RepeatabilityResult:
    """The value of PA1 or AM1 in one band, and what it was computed from.

    ``stars``: bright stars used; ``pairs``: random visit pairings drawn per star (PA1)
    or pairs of stars with a separation RMS (AM1); ``visits``: visits of the band;
    ``cuts``: what was left out and how much (sources, then objects, then stars).
    """

    metric: str
    band: str
    value: float
    unit: str
    stars: int
    pairs: int
    visits: int
    cuts: dict[str, int] = field(default_factory=dict)
    parameters: dict[str, float] = field(default_factory=dict)
    details: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for people."""
        cut = cuts_text(self.cuts, zeros=False)
        return (
            f"{self.metric} {self.band}: {self.value:.2f} {self.unit} from {self.stars:,} stars,"
            f" {self.pairs:,} pairs, {self.visits} visits" + (f" (left out: {cut})" if cut else "")
        )


@dataclass
class _Stars:
    """Sources of the selected stars, sorted by star, and the bookkeeping."""

    star: npt.NDArray[np.int64]
    """Index of each source's star (0 .. stars - 1)."""
    visit: npt.NDArray[np.int64]
    mag: FloatArray
    ra: FloatArray
    dec: FloatArray
    stars: int
    visits: int
    cuts: dict[str, int]


def _select_stars(
    metric: str,
    layout: RepoLayout,
    band: str,
    *,
    snr_min: float,
    max_extendedness: float,
    mag_range: tuple[float, float] | None,
    max_stars: int,
    seed: int,
    positions: bool,
) -> _Stars:
    needed = ["objectId", "visit", "band", "psfFlux", "psfFluxErr", "extendedness"]
    if positions:
        needed += ["coord_ra", "coord_dec"]
    sources = band_sources(
        layout, band, needed, metric=metric, needs=f"{metric} needs", error=RepeatabilityError
    )
    extra = ", coord_ra, coord_dec" if positions else ""
    con = connect()
    try:
        con.execute(
            f"CREATE TEMP TABLE src AS SELECT objectId, visit, psfFlux, psfFluxErr,"
            f" extendedness{extra}, objectId IS NOT NULL AND isfinite(psfFlux)"
            f" AND psfFlux > 0 AND psfFluxErr > 0 AND NOT {sources.flag_sql()} AS good"
            f" FROM {sources.rows_sql()}"
        )
        total, good, visits = _one(
            con, "SELECT count(*), count(*) FILTER (WHERE good), count(DISTINCT visit) FROM src"
        )
        if visits < 2:
            raise RepeatabilityError(
                f"{metric} compares visits: band {band!r} has sources of {visits} visit(s),"
                " at least 2 are needed"
            )
        objects = con.execute(
            "SELECT objectId, count(DISTINCT visit) AS n, median(psfFlux / psfFluxErr) AS snr,"
            " median(extendedness) AS ext, median(? - 2.5 * log10(psfFlux))"
            " AS mag FROM src WHERE good GROUP BY objectId ORDER BY objectId",
            [NJY_ZERO_POINT],
        ).fetchnumpy()
        cuts = {"sources flagged, unmatched or without positive flux": int(total - good)}
        keep = np.asarray(objects["n"]) >= 2
        cuts["objects in fewer than 2 visits"] = int((~keep).sum())
        snr = np.asarray(objects["snr"], dtype=float)
        cuts[f"objects with median S/N below {snr_min:g}"] = int((keep & ~(snr >= snr_min)).sum())
        keep &= snr >= snr_min
        ext = np.asarray(objects["ext"], dtype=float)
        cuts[f"objects with extendedness {max_extendedness:g} or more"] = int(
            (keep & ~(ext < max_extendedness)).sum()
        )
        keep &= ext < max_extendedness
        if mag_range is not None:
            mag = np.asarray(objects["mag"], dtype=float)
            inside = (mag >= mag_range[0]) & (mag <= mag_range[1])
            cuts[f"stars outside magnitudes {mag_range[0]:g}-{mag_range[1]:g}"] = int(
                (keep & ~inside).sum()
            )
            keep &= inside
        chosen = np.asarray(objects["objectId"])[keep]
        if len(chosen) == 0:
            raise RepeatabilityError(
                f"{metric}: no object of band {band!r} passes the cuts (" + _cut_text(cuts) + ")"
            )
        if len(chosen) > max_stars:
            rng = np.random.default_rng(seed)
            cuts["stars not sampled"] = len(chosen) - max_stars
            chosen = np.sort(rng.choice(chosen, max_stars, replace=False))
        con.register("chosen", pa.table({"objectId": pa.array(chosen, pa.int64())}))
        rows = con.execute(
            "SELECT s.objectId, s.visit, ? - 2.5 * log10(s.psfFlux) AS mag"
            f"{', s.coord_ra, s.coord_dec' if positions else ''}"
            " FROM src s SEMI JOIN chosen c ON s.objectId = c.objectId WHERE s.good"
            " ORDER BY s.objectId, s.visit",
            [NJY_ZERO_POINT],
        ).fetchnumpy()
    finally:
        con.close()
    ids = np.asarray(rows["objectId"], dtype=np.int64)
    star = np.searchsorted(chosen, ids).astype(np.int64)
    empty = np.full(len(ids), np.nan)
    return _Stars(
        star=star,
        visit=np.asarray(rows["visit"], dtype=np.int64),
        mag=np.asarray(rows["mag"], dtype=float),
        ra=np.asarray(rows["coord_ra"], dtype=float) if positions else empty,
        dec=np.asarray(rows["coord_dec"], dtype=float) if positions else empty,
        stars=len(chosen),
        visits=int(visits),
        cuts=cuts,
    )


def _one(con: duckdb.DuckDBPyConnection, query: str) -> tuple[Any, ...]:
    row = con.execute(query).fetchone()
    assert row is not None
    return tuple(row)


def _cut_text(cuts: dict[str, int]) -> str:
    return cuts_text(cuts) or "no sources"


def pa1(
    root_or_repo: Path | str | HasLayout,
    band: str,
    *,
    snr_min: float = 50.0,
    max_extendedness: float = 1.0,
    shuffles: int = 50,
    max_stars: int = 200_000,
    seed: int = 0,
) -> RepeatabilityResult:
    """PA1, the photometric repeatability of bright stars in *band*, in mmag.

    validate_drp's definition (``calcPA1``): for each star, the magnitude difference of
    two of its visits drawn at random, times 1000 / sqrt(2); the RMS over stars of
    these; the mean of that RMS over *shuffles* draws. ``details`` gives the standard
    deviation of the draws (``rms_std``) and the median over stars of the per-star
    magnitude RMS (``median_star_rms``, sample standard deviation, mmag).

    Parameters
    ----------
    root_or_repo
        A repository folder, or an object with its ``layout`` (a
        `vigil.explorer.Repository`).
    band
        The band of the visits.
    snr_min, max_extendedness
        A star's median PSF S/N is at least *snr_min* and its median extendedness below
        *max_extendedness* (validate_drp's ``brightSnrMin`` and ``safeExtendedness``).
    shuffles
        Random pairings averaged (validate_drp's ``numRandomShuffles``).
    max_stars
        At most this many stars, drawn at random.
    seed
        The seed of the star sample and the pairings.

    Raises
    ------
    RepeatabilityError
        No sources in *band*, fewer than two visits, or no star passing the cuts.
    MissingColumnsError
        The visit tables lack a needed column (``objectId``, ``psfFlux``, ...).
    """
    selected = _select_stars(
        "PA1",
        repo_layout(root_or_repo),
        band,
        snr_min=snr_min,
        max_extendedness=max_extendedness,
        mag_range=None,
        max_stars=max_stars,
        seed=seed,
        positions=False,
    )
    counts = np.bincount(selected.star, minlength=selected.stars)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng([seed, 1])
    scale = MMAG_PER_MAG / np.sqrt(2.0)
    rms = np.empty(shuffles)
    for k in range(shuffles):
        first = np.floor(rng.random(selected.stars) * counts).astype(np.int64)
        second = np.floor(rng.random(selected.stars) * (counts - 1)).astype(np.int64)
        second += second >= first
        diff = selected.mag[starts + first] - selected.mag[starts + second]
        rms[k] = np.sqrt(np.mean((diff * scale) ** 2))
    frame = pd.DataFrame({"star": selected.star, "mag": selected.mag})
    per_star = frame.groupby("star")["mag"].std(ddof=1).to_numpy() * MMAG_PER_MAG
    return RepeatabilityResult(
        metric="PA1",
        band=band,
        value=float(np.mean(rms)),
        unit="mmag",
        stars=selected.stars,
        pairs=selected.stars,
        visits=selected.visits,
        cuts=selected.cuts,
        parameters={
            "snr_min": snr_min,
            "max_extendedness": max_extendedness,
            "shuffles": shuffles,
            "seed": seed,
        },
        details={
            "rms_std": float(np.std(rms)),
            "median_star_rms": float(np.median(per_star)),
        },
    )


def _unit_vectors(ra: FloatArray, dec: FloatArray) -> FloatArray:
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    return np.column_stack(
        [np.cos(dec_r) * np.cos(ra_r), np.cos(dec_r) * np.sin(ra_r), np.sin(dec_r)]
    )


def _separation(ra1: FloatArray, dec1: FloatArray, ra2: FloatArray, dec2: FloatArray) -> FloatArray:
    """Angular separation in radians (haversine: exact to float precision at these scales)."""
    r1, d1, r2, d2 = (np.radians(a) for a in (ra1, dec1, ra2, dec2))
    h = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    out: FloatArray = 2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return out


def am1(
    root_or_repo: Path | str | HasLayout,
    band: str,
    *,
    distance: float = 5.0,
    width: float = 1.0,
    snr_min: float = 50.0,
    max_extendedness: float = 1.0,
    mag_range: tuple[float, float] = (17.0, 21.5),
    max_stars: int = 5_000,
    max_pairs: int = 20_000,
    seed: int = 0,
) -> RepeatabilityResult:
    """AM1, the astrometric repeatability of star pairs about 5 arcmin apart, in mas.

    validate_drp's definition (``calcAMx`` with D = 5 arcmin): pairs of bright stars
    whose mean positions are *distance* ± *width* / 2 arcmin apart; each pair's
    separation in every visit that measured both stars; the RMS of those separations
    over the visits (population standard deviation, at least two visits); the median
    over pairs. ``details`` gives the mean over pairs (``mean_pair_rms``) and the
    common visits per pair (``median_visits_per_pair``).

    Parameters
    ----------
    root_or_repo, band, snr_min, max_extendedness, seed
        As for `pa1`.
    distance, width
        The annulus of pair separations, arcmin.
    mag_range
        The stars' median PSF magnitudes (validate_drp's ``magRange``).
    max_stars, max_pairs
        At most this many stars, then pairs, drawn at random (the work grows with the
        square of the stars' density).

    Raises
    ------
    RepeatabilityError
        As for `pa1`, and when no pair of stars in the annulus shares two visits.
    MissingColumnsError
        The visit tables lack a needed column.
    """
    selected = _select_stars(
        "AM1",
        repo_layout(root_or_repo),
        band,
        snr_min=snr_min,
        max_extendedness=max_extendedness,
        mag_range=mag_range,
        max_stars=max_stars,
        seed=seed,
        positions=True,
    )
    sources = pd.DataFrame(
        {"star": selected.star, "visit": selected.visit, "ra": selected.ra, "dec": selected.dec}
    ).drop_duplicates(["star", "visit"])
    centres = sources.groupby("star")[["ra", "dec"]].mean()
    inner = np.radians((distance - width / 2) / 60.0)
    outer = np.radians((distance + width / 2) / 60.0)
    tree = cKDTree(_unit_vectors(centres["ra"].to_numpy(), centres["dec"].to_numpy()))
    pairs = tree.query_pairs(2 * np.sin(outer / 2), output_type="ndarray")
    stars = centres.index.to_numpy()
    first, second = stars[pairs[:, 0]], stars[pairs[:, 1]]
    apart = _separation(
        centres["ra"].to_numpy()[pairs[:, 0]],
        centres["dec"].to_numpy()[pairs[:, 0]],
        centres["ra"].to_numpy()[pairs[:, 1]],
        centres["dec"].to_numpy()[pairs[:, 1]],
    )
    ring = (apart >= inner) & (apart <= outer)
    first, second = first[ring], second[ring]
    cuts = dict(selected.cuts)
    if len(first) > max_pairs:
        rng = np.random.default_rng([seed, 2])
        take = np.sort(rng.choice(len(first), max_pairs, replace=False))
        cuts["pairs not sampled"] = len(first) - max_pairs
        first, second = first[take], second[take]
    chosen = pd.DataFrame({"pair": np.arange(len(first)), "star": first, "other": second})
    joined = chosen.merge(sources, on="star").merge(
        sources.rename(columns={"star": "other", "ra": "ra2", "dec": "dec2"}),
        on=["other", "visit"],
    )
    joined["sep"] = MAS_PER_RADIAN * _separation(
        joined["ra"].to_numpy(),
        joined["dec"].to_numpy(),
        joined["ra2"].to_numpy(),
        joined["dec2"].to_numpy(),
    )
    grouped = joined.groupby("pair")["sep"]
    shared = grouped.count()
    spread = grouped.std(ddof=0)[shared >= 2]
    cuts["pairs in fewer than 2 common visits"] = int(len(first) - len(spread))
    if spread.empty:
        raise RepeatabilityError(
            f"AM1: no pair of stars of band {band!r} {distance - width / 2:g}-"
            f"{distance + width / 2:g} arcmin apart was measured in 2 common visits ("
            + _cut_text(cuts)
            + ")"
        )
    return RepeatabilityResult(
        metric="AM1",
        band=band,
        value=float(spread.median()),
        unit="mas",
        stars=selected.stars,
        pairs=len(spread),
        visits=selected.visits,
        cuts=cuts,
        parameters={
            "distance": distance,
            "width": width,
            "snr_min": snr_min,
            "max_extendedness": max_extendedness,
            "mag_min": mag_range[0],
            "mag_max": mag_range[1],
            "seed": seed,
        },
        details={
            "mean_pair_rms": float(spread.mean()),
            "median_visits_per_pair": float(shared[shared >= 2].median()),
        },
    )
