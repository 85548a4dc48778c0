"""Visit and detector outlines on the sky, and the visits behind a patch.

An outline is the RA/Dec box (minimum to maximum of each coordinate) of the sources a
detector measured in a visit: the box drawn around them, not a convex hull. A visit's
outline is the box around its detectors' boxes; a patch's (a tract's) is the box of its
objects. A detector and a patch overlap when their boxes do, edges included. The boxes
assume that no detector straddles RA 0/360 (a box across it would span the whole sky).

The detector boxes are computed once per repository by one DuckDB query reading only
``visit``, ``band``, ``detector``, ``coord_ra`` and ``coord_dec`` of the sources, and
kept while the source files stay the same (same paths, sizes and modification times).
Both engines read them with DuckDB.

The detectors' boxes in their visits' focal planes (`focal_frames`), in the frame
`vigil.explorer._focal_plane` defines, are measured from the same columns (one DuckDB scan
for the boresights, then the files one at a time) and cached alike.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from vigil.compute.engine import connect
from vigil.compute.errors import ComputeError
from vigil.compute.sql import parquet_paths

from . import _focal_plane
from ._cache import ResultCache

if TYPE_CHECKING:
    from .query import Repository

__all__ = [
    "BOX_COLUMNS",
    "DETECTOR_COLUMNS",
    "MAX_OUTLINES",
    "VISIT_COLUMNS",
    "detector_boxes",
    "detector_outlines",
    "focal_frames",
    "overlapping",
    "patch_boxes",
    "query_detector_boxes",
    "query_focal_frames",
    "query_patch_boxes",
    "tract_detector_outlines",
    "visit_outlines",
    "visits_behind",
]

BOX_COLUMNS = ("ra_min", "ra_max", "dec_min", "dec_max")
"""The columns of a box, in degrees."""

DETECTOR_COLUMNS = ("visit", "band", "detector", *BOX_COLUMNS, "sources")
"""The columns of `detector_boxes`."""

VISIT_COLUMNS = ("visit", "band", "detectors", *BOX_COLUMNS, "sources")
"""The columns of `visit_outlines`."""

MAX_OUTLINES = 2000
"""Detector outlines drawn on a sky map at most (whole visits, first visits first)."""

_CACHE = ResultCache(32)
_CONNECTION: list[duckdb.DuckDBPyConnection] = []
_CONNECTION_LOCK = threading.Lock()

_DETECTOR_QUERY = (
    "SELECT visit, any_value(band) AS band, detector,"
    " min(coord_ra) AS ra_min, max(coord_ra) AS ra_max,"
    " min(coord_dec) AS dec_min, max(coord_dec) AS dec_max, count(*) AS sources"
    " FROM read_parquet(?) WHERE coord_ra IS NOT NULL AND coord_dec IS NOT NULL"
    " GROUP BY visit, detector ORDER BY visit, detector"
)
_POSITION_QUERY = (
    "SELECT visit, detector, coord_ra, coord_dec FROM read_parquet(?)"
    " WHERE coord_ra IS NOT NULL AND coord_dec IS NOT NULL"
)
# `vigil.explorer._focal_plane.vector_sums` (SUM_COLUMNS) of every file in one scan.
_VECTOR_SUM_QUERY = (
    "SELECT visit,"
    " sum(cos(radians(coord_dec)) * cos(radians(coord_ra))) AS vx,"
    " sum(cos(radians(coord_dec)) * sin(radians(coord_ra))) AS vy,"
    " sum(sin(radians(coord_dec))) AS vz, count(*) AS sources"
    " FROM read_parquet(?) WHERE isfinite(coord_ra) AND isfinite(coord_dec)"
    " GROUP BY visit ORDER BY visit"
)
_PATCH_QUERY = (
    "SELECT tract, patch,"
    " min(coord_ra) AS ra_min, max(coord_ra) AS ra_max,"
    " min(coord_dec) AS dec_min, max(coord_dec) AS dec_max, count(*) AS objects"
    " FROM read_parquet(?) WHERE coord_ra IS NOT NULL AND coord_dec IS NOT NULL"
    " GROUP BY tract, patch ORDER BY tract, patch"
)


def _connection() -> duckdb.DuckDBPyConnection:
    with _CONNECTION_LOCK:
        if not _CONNECTION:
            _CONNECTION.append(connect())
        return _CONNECTION[0]


def _run(query: str, paths: Sequence[Path]) -> pd.DataFrame:
    try:
        return _connection().cursor().execute(query, [parquet_paths(paths)]).df()
    except duckdb.Error as exc:
        raise ComputeError(f"cannot read the outlines: {exc}") from exc


def query_detector_boxes(paths: Sequence[Path]) -> pd.DataFrame:
    """The box of each detector of each visit of the source files *paths* (`DETECTOR_COLUMNS`).

    Raises
    ------
    ComputeError
        When DuckDB cannot read the files.
    """
    if not paths:
        return _empty(DETECTOR_COLUMNS)
    frame = _run(_DETECTOR_QUERY, paths)
    frame["visit"] = frame["visit"].astype("int64")
    frame["detector"] = frame["detector"].astype("int64")
    frame["sources"] = frame["sources"].astype("int64")
    return frame[list(DETECTOR_COLUMNS)]


def query_focal_frames(paths: Sequence[Path]) -> pd.DataFrame:
    """The box of each detector of each visit of the source files *paths* in its visit's
    focal plane (`vigil.explorer._focal_plane.FRAME_COLUMNS`).

    The boresights come from one scan of every file; the boxes from the files read one
    at a time, so that only one file's positions are in memory at once.

    Raises
    ------
    ComputeError
        When DuckDB cannot read the files.
    """
    if not paths:
        return _focal_plane.combine_frames([])
    sums = _run(_VECTOR_SUM_QUERY, paths)
    centres = _focal_plane.boresights(sums)
    frame = _focal_plane.combine_frames(
        _focal_plane.detector_frames(_run(_POSITION_QUERY, [path]), centres) for path in paths
    )
    for column in ("visit", "detector", "sources"):
        frame[column] = frame[column].astype("int64")
    return frame


def query_patch_boxes(paths: Sequence[Path]) -> pd.DataFrame:
    """The box of each patch of each tract of the object files *paths*: ``tract``, ``patch``,
    `BOX_COLUMNS` and ``objects``.

    Raises
    ------
    ComputeError
        When DuckDB cannot read the files.
    """
    columns = ("tract", "patch", *BOX_COLUMNS, "objects")
    if not paths:
        return _empty(columns)
    frame = _run(_PATCH_QUERY, paths)
    for column in ("tract", "patch", "objects"):
        frame[column] = frame[column].astype("int64")
    return frame[list(columns)]


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({column: [] for column in columns})


def _files(repo: Repository, table: str) -> tuple[list[Path], Hashable]:
    """The readable files of *table* and a key that changes when one of them does."""
    index = repo.tables()["objects" if table == "objects" else "sources"]
    paths = sorted(info.path for info in index.files.values())
    stamps = []
    for path in paths:
        stat = path.stat()
        stamps.append((str(path), stat.st_size, stat.st_mtime_ns))
    return paths, (str(repo.path.resolve()), table, tuple(stamps))


def detector_boxes(repo: Repository) -> pd.DataFrame:
    """The box of every detector of every visit of *repo* (`DETECTOR_COLUMNS`), cached."""
    paths, key = _files(repo, "sources")
    return _CACHE.get(key, lambda: query_detector_boxes(paths))


def focal_frames(repo: Repository) -> pd.DataFrame:
    """The box of every detector of every visit of *repo* in its visit's focal plane
    (`vigil.explorer._focal_plane.FRAME_COLUMNS`), cached."""
    paths, key = _files(repo, "sources")
    return _CACHE.get(("focal", key), lambda: query_focal_frames(paths))


def patch_boxes(repo: Repository, tract: int | None = None) -> pd.DataFrame:
    """The box of every patch of *repo* (of *tract*), cached: ``tract``, ``patch``,
    `BOX_COLUMNS`, ``objects``."""
    paths, key = _files(repo, "objects")
    frame = _CACHE.get(key, lambda: query_patch_boxes(paths))
    if tract is not None:
        frame = frame[frame["tract"] == tract].reset_index(drop=True)
    return frame


def overlapping(boxes: pd.DataFrame, box: Sequence[float]) -> pd.Series:
    """Whether each box of *boxes* (`BOX_COLUMNS`) overlaps *box* (ra_min, ra_max,
    dec_min, dec_max), edges included."""
    ra_min, ra_max, dec_min, dec_max = box
    return (
        (boxes["ra_min"] <= ra_max)
        & (boxes["ra_max"] >= ra_min)
        & (boxes["dec_min"] <= dec_max)
        & (boxes["dec_max"] >= dec_min)
    )


def _enclosing(boxes: pd.DataFrame) -> tuple[float, float, float, float] | None:
    if boxes.empty:
        return None
    return (
        float(boxes["ra_min"].min()),
        float(boxes["ra_max"].max()),
        float(boxes["dec_min"].min()),
        float(boxes["dec_max"].max()),
    )


def visit_outlines(
    repo: Repository, tract: int | None = None, band: str | None = None
) -> pd.DataFrame:
    """The outline of each visit (`VISIT_COLUMNS`; ``detectors`` counts them) whose
    detectors overlap *tract* (every visit when None), in *band* (any when None)."""
    detectors = detector_boxes(repo)
    if band is not None:
        detectors = detectors[detectors["band"] == band]
    if tract is not None:
        area = _enclosing(patch_boxes(repo, tract))
        if area is None:
            return _empty(VISIT_COLUMNS)
        detectors = detectors[overlapping(detectors, area)]
    if detectors.empty:
        return _empty(VISIT_COLUMNS)
    grouped = detectors.groupby("visit", sort=True)
    frame = grouped.agg(
        band=("band", "first"),
        detectors=("detector", "nunique"),
        ra_min=("ra_min", "min"),
        ra_max=("ra_max", "max"),
        dec_min=("dec_min", "min"),
        dec_max=("dec_max", "max"),
        sources=("sources", "sum"),
    ).reset_index()
    return frame[list(VISIT_COLUMNS)]


def detector_outlines(repo: Repository, visit: int) -> pd.DataFrame:
    """The outline of each detector of *visit* (`DETECTOR_COLUMNS`)."""
    boxes = detector_boxes(repo)
    return boxes[boxes["visit"] == visit].reset_index(drop=True)


def tract_detector_outlines(
    repo: Repository, tract: int | None = None, limit: int = MAX_OUTLINES
) -> pd.DataFrame:
    """The outline of each detector (`DETECTOR_COLUMNS`) that overlaps *tract* (every
    detector when None), of at most *limit* detectors.

    Whole visits are kept, by visit, while they fit in *limit* (the first visit's first
    detectors when it alone does not); ``attrs["total"]`` counts the detectors before
    the cut, ``attrs["truncated"]`` says whether some were left out.
    """
    detectors = detector_boxes(repo)
    if tract is not None:
        area = _enclosing(patch_boxes(repo, tract))
        if area is None:
            detectors = detectors.iloc[:0]
        else:
            detectors = detectors[overlapping(detectors, area)]
    total = len(detectors)
    if total > limit:
        sizes = detectors.groupby("visit", sort=True)["detector"].size()
        visits = sizes.index[sizes.cumsum() <= limit]
        kept = detectors[detectors["visit"].isin(visits)]
        detectors = kept if len(kept) else detectors.iloc[:limit]
    out = detectors.reset_index(drop=True)
    out.attrs.update(total=total, truncated=len(out) < total)
    return out


def visits_behind(repo: Repository, tract: int, patch: int) -> pd.DataFrame:
    """The visits whose detectors overlap patch *patch* of *tract*, with those detectors.

    Returns
    -------
    pandas.DataFrame
        ``visit``, ``band``, ``detectors`` (the overlapping detectors, a sorted list of
        ints) and ``count`` (how many), by visit; empty when the patch has no objects.
    """
    columns = ("visit", "band", "detectors", "count")
    patches = patch_boxes(repo, tract)
    patches = patches[patches["patch"] == patch]
    area = _enclosing(patches)
    if area is None:
        return _empty(columns)
    boxes = detector_boxes(repo)
    behind = boxes[overlapping(boxes, area)]
    if behind.empty:
        return _empty(columns)
    rows = [
        {
            "visit": int(visit),
            "band": str(group["band"].iloc[0]),
            "detectors": sorted(int(d) for d in group["detector"].unique()),
        }
        for visit, group in behind.groupby("visit", sort=True)
    ]
    frame = pd.DataFrame(rows)
    frame["count"] = frame["detectors"].map(len)
    return frame[list(columns)]
