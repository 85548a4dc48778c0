"""The navigation queries of `vigil.explorer._navigation` on Dask, with the same answers.

Each partition is reduced on its worker to one row per group (sums and counts, or the
distinct dataIds with their row counts); only those small frames reach the client, which
adds them up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vigil.compute.dask_engine import compute, read_rows, where_mask
from vigil.compute.files import TableIndex
from vigil.compute.granularity import Table
from vigil.compute.plan import WhereValue

from ._navigation import no_positions, position_inputs

__all__ = ["dask_patches", "dask_positions", "dask_tracts", "dask_visits"]


def _groups(
    index_files: Sequence[Any],
    columns: Sequence[str],
    keys: Sequence[str],
    reduce: Callable[[pd.DataFrame], pd.DataFrame],
    client: Any,
) -> pd.DataFrame:
    """``reduce`` of each partition of *index_files*' *columns*, concatenated."""

    def rows(part: pd.DataFrame) -> pd.DataFrame:
        return reduce(part).reset_index()

    return compute(read_rows(index_files, columns, rows), client)


def dask_positions(
    index: TableIndex,
    table: Table,
    by: tuple[str, ...],
    where: Mapping[str, WhereValue],
    client: Any,
) -> pd.DataFrame:
    """`vigil.explorer._navigation.query_positions` on Dask."""
    simple, files, keys = position_inputs(index, table, by, where)
    if not files:
        return no_positions(keys)
    columns = sorted({*keys, *simple, "coord_ra", "coord_dec"})

    def sums(part: pd.DataFrame) -> pd.DataFrame:
        part = part[where_mask(part, simple)].assign(rows=1)
        wanted = part[[*keys, "coord_ra", "coord_dec", "rows"]]
        if keys:
            return wanted.groupby(keys, sort=False).sum()
        return wanted.drop(columns=keys).sum().to_frame().T.astype({"rows": "int64"})

    parts = _groups([f.path for f in files], columns, keys, sums, client)
    parts = parts.drop(columns=["index"], errors="ignore")
    total = parts.groupby(keys, sort=True).sum().reset_index() if keys else parts.sum().to_frame().T
    out = pd.DataFrame({k: total[k].to_numpy() for k in keys})
    rows = total["rows"].to_numpy(dtype="int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["ra"] = total["coord_ra"].to_numpy(dtype="float64") / rows
        out["dec"] = total["coord_dec"].to_numpy(dtype="float64") / rows
    out["rows"] = rows
    return out[out["rows"] > 0].reset_index(drop=True) if keys else out


def dask_visits(
    sources: TableIndex, tract: int | None, band: str | None, client: Any
) -> pd.DataFrame:
    """`vigil.explorer._navigation.query_visits` on Dask."""
    files = sources.select(None, band)
    if not files:
        return pd.DataFrame({"visit": [], "band": [], "sources": [], "detectors": []})
    where: dict[str, WhereValue] = {}
    if tract is not None:
        where["tract"] = tract
    if band is not None:
        where["band"] = band

    def detectors(part: pd.DataFrame) -> pd.DataFrame:
        part = part[where_mask(part, where)]
        return part.groupby(["visit", "detector"], sort=False).agg(
            band=("band", "first"), rows=("band", "size")
        )

    columns = ["visit", "detector", "band", "tract"]
    parts = _groups([f.path for f in files], columns, ["visit"], detectors, client)
    pairs = parts.groupby(["visit", "detector"], sort=True).agg(
        band=("band", "first"), rows=("rows", "sum")
    )
    out = pairs.groupby("visit", sort=True).agg(
        band=("band", "first"), sources=("rows", "sum"), detectors=("rows", "size")
    )
    return out.reset_index().astype({"visit": "int64", "sources": "int64", "detectors": "int64"})


def _patch_rows(objects: TableIndex, client: Any) -> pd.DataFrame:
    """The objects of each (tract, patch)."""

    def patches(part: pd.DataFrame) -> pd.DataFrame:
        return part.groupby(["tract", "patch"], sort=False).size().to_frame("rows")

    files = [info.path for info in objects.files.values()]
    parts = _groups(files, ["tract", "patch"], ["tract", "patch"], patches, client)
    return parts.groupby(["tract", "patch"], sort=True)["rows"].sum().reset_index()


def dask_tracts(objects: TableIndex, client: Any) -> pd.DataFrame:
    """`vigil.explorer._navigation.query_tracts` on Dask."""
    if not objects.files:
        return pd.DataFrame({"tract": [], "patches": [], "objects": []})
    rows = _patch_rows(objects, client)
    out = rows.groupby("tract", sort=True).agg(patches=("patch", "size"), objects=("rows", "sum"))
    return out.reset_index().astype({"tract": "int64", "patches": "int64", "objects": "int64"})


def dask_patches(objects: TableIndex, client: Any) -> int:
    """How many (tract, patch) the objects of *objects* fall in."""
    return len(_patch_rows(objects, client)) if objects.files else 0
