"""PSF ellipticity residuals and rho statistics of a repository's visit sources, per band.

The stars of one band are the visit sources (``sources/``) with a positive PSF flux and
error, ``psfFlux_flag`` not set (when the column exists), ``extendedness == 0`` and PSF
S/N at least ``snr_min``; their second moments (``ixx``, ``iyy``, ``ixy``) and the PSF
model's (``ixxPSF``, ``iyyPSF``, ``ixyPSF``) give the residuals, their summary, the rho
statistics (pairs within each visit) and a binned map of the residual, with the
estimators of `vigil.compute.psf_stats`. Only the needed columns are read, with DuckDB.
"""

# SQL here is assembled from fixed column names, escaped literals (`string_literal`,
# `file_list`) and ? parameters only.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vigil.compute._visit_sources import HasLayout, band_sources, cuts_text, repo_layout
from vigil.compute.engine import connect
from vigil.compute.errors import ComputeError
from vigil.compute.psf_stats import (
    ResidualMap,
    ResidualSummary,
    RhoStatistics,
    residual_map,
    rho_statistics,
    shapes,
    summarize,
)
from vigil.compute.sql import quote_identifier

__all__ = ["MOMENT_COLUMNS", "PsfError", "PsfReport", "psf_report"]

MOMENT_COLUMNS = ("ixx", "iyy", "ixy", "ixxPSF", "iyyPSF", "ixyPSF")
"""The second moments of the source and of the PSF model that the residuals need."""

_NAME = "PSF residuals"


class PsfError(ComputeError):
    """PSF residuals cannot be computed from the repository's sources."""

    status_code = 422
    code = "psf_error"


@dataclass(frozen=True)
class PsfReport:
    """The PSF residuals of one band: summary, rho statistics, map, and what they used.

    ``stars``: stars with usable moments (the summary and map use them all; the rho
    statistics a sample of at most ``rho.max_stars``); ``visits``: visits they come from;
    ``cuts``: sources left out at each step, in order.
    """

    band: str
    stars: int
    visits: int
    summary: ResidualSummary
    rho: RhoStatistics
    map: ResidualMap
    cuts: dict[str, int] = field(default_factory=dict)
    parameters: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """What was computed on, for titles: "N stars from V visits, band b"."""
        visits = "visit" if self.visits == 1 else "visits"
        return f"{self.stars:,} stars from {self.visits} {visits}, band {self.band}"

    def cut_text(self) -> str:
        """The sources left out, for people ("" when none was)."""
        return cuts_text(self.cuts, zeros=False)


def psf_report(
    root_or_repo: Path | str | HasLayout,
    band: str,
    *,
    snr_min: float = 50.0,
    max_stars: int = 20_000,
    seed: int = 0,
    min_sep: float = 0.5,
    max_sep: float = 100.0,
    bins: int = 12,
    cells: int = 12,
) -> PsfReport:
    """The PSF ellipticity residuals and rho statistics of the stars of *band*.

    Parameters
    ----------
    root_or_repo
        A repository folder, or an object with its ``layout`` (a
        `vigil.explorer.Repository`).
    band
        The band of the visits.
    snr_min
        A star's PSF S/N (``psfFlux / psfFluxErr``) is at least this.
    max_stars, seed
        The rho statistics use at most *max_stars* stars, a uniform sample drawn with
        *seed* when there are more.
    min_sep, max_sep, bins
        The rho statistics' separation bins (arcmin, log-spaced).
    cells
        The residual map's cells per side.

    Raises
    ------
    PsfError
        No sources in *band*, or no star passing the cuts with usable moments.
    MissingColumnsError
        The visit tables lack a needed column (the moments, ``extendedness``, ...).
    """
    needed = ["visit", "band", "coord_ra", "coord_dec", "psfFlux", "psfFluxErr", "extendedness"]
    sources = band_sources(
        repo_layout(root_or_repo),
        band,
        [*needed, *MOMENT_COLUMNS],
        metric=_NAME,
        needs=f"{_NAME} need",
        error=PsfError,
    )
    moment_sql = ", ".join(quote_identifier(column) for column in MOMENT_COLUMNS)
    con = connect()
    try:
        con.execute(
            "CREATE TEMP TABLE src AS SELECT visit, coord_ra, coord_dec,"
            f" {moment_sql},"
            " isfinite(psfFlux) AND psfFlux > 0 AND psfFluxErr > 0"
            f" AND NOT {sources.flag_sql()} AS good,"
            " coalesce(extendedness = 0, false) AS star,"
            " coalesce(psfFlux / psfFluxErr >= ?, false) AS bright"
            f" FROM {sources.rows_sql()}",
            [snr_min],
        )
        counts = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE good),"
            " count(*) FILTER (WHERE good AND star),"
            " count(*) FILTER (WHERE good AND star AND bright) FROM src"
        ).fetchone()
        rows = con.execute(
            f"SELECT visit, coord_ra, coord_dec, {moment_sql} FROM src"
            " WHERE good AND star AND bright ORDER BY visit"
        ).fetchnumpy()
    finally:
        con.close()
    assert counts is not None
    total, good, star, bright = (int(c) for c in counts)
    moments = [np.asarray(rows[c], dtype=np.float64) for c in MOMENT_COLUMNS]
    stars = shapes(*moments)
    ra = np.asarray(rows["coord_ra"], dtype=np.float64)
    dec = np.asarray(rows["coord_dec"], dtype=np.float64)
    placed = stars.valid & np.isfinite(ra) & np.isfinite(dec)
    cuts = {
        "sources flagged or without positive flux": total - good,
        "sources not stars (extendedness not 0)": good - star,
        f"stars with S/N below {snr_min:g}": star - bright,
        "stars without usable moments or position": int((~placed).sum()),
    }
    if not placed.any():
        raise PsfError(
            f"{_NAME}: no star of band {band!r} passes the cuts ({total:,} sources;"
            f" {cuts_text(cuts)})"
        )
    visit = np.asarray(rows["visit"])[placed]
    kept = stars.take(np.flatnonzero(placed))
    ra, dec = ra[placed], dec[placed]
    rho = rho_statistics(
        ra,
        dec,
        kept,
        groups=visit,
        min_sep=min_sep,
        max_sep=max_sep,
        bins=bins,
        max_stars=max_stars,
        seed=seed,
    )
    return PsfReport(
        band=band,
        stars=len(kept),
        visits=len(np.unique(visit)),
        summary=summarize(kept),
        rho=rho,
        map=residual_map(ra, dec, kept.de1, kept.de2, cells=cells),
        cuts=cuts,
        parameters={"snr_min": snr_min, "max_stars": max_stars, "seed": seed, "cells": cells},
    )
