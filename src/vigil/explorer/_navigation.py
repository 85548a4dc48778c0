"""The explorer's navigation queries: visits, tracts, group positions, two sides compared."""

# SQL here is assembled from quoted identifiers and ? parameters only (vigil.compute.sql).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import duckdb
import pandas as pd

from vigil.compute.files import FileInfo, FileProblem, TableIndex
from vigil.compute.granularity import Table
from vigil.compute.plan import WhereValue, partition_keys, quote, render_where
from vigil.compute.repository import sort_bands
from vigil.compute.sql import parquet_paths

from ._metrics import RepoSummary

__all__ = [
    "POSITION_KEYS",
    "query_positions",
    "query_tracts",
    "query_visits",
    "side_by_side",
    "summarise",
]

POSITION_KEYS = frozenset({"tract", "patch", "visit", "detector", "band"})
"""The dataId columns a position can be grouped and filtered by."""

Runner = Callable[[Callable[[], pd.DataFrame]], pd.DataFrame]


def query_visits(
    con: duckdb.DuckDBPyConnection,
    run: Runner,
    sources: TableIndex,
    tract: int | None,
    band: str | None,
) -> pd.DataFrame:
    """The visits of *sources* (of *tract*, in *band*): ``visit``, ``band``, ``sources``,
    ``detectors``; *run* runs the query and turns DuckDB's errors into the repository's."""
    files = sources.select(None, band)
    if not files:
        return pd.DataFrame({"visit": [], "band": [], "sources": [], "detectors": []})
    conditions: list[str] = ["TRUE"]
    params: list[object] = []
    if tract is not None:
        conditions.append("tract = ?")
        params.append(tract)
    if band is not None:
        conditions.append("band = ?")
        params.append(band)
    query = (
        "SELECT visit, any_value(band) AS band, count(*) AS sources,"
        " count(DISTINCT detector) AS detectors FROM read_parquet(?)"
        f" WHERE {' AND '.join(conditions)} GROUP BY visit ORDER BY visit"
    )
    paths = parquet_paths(f.path for f in files)
    return run(lambda: con.cursor().execute(query, [paths, *params]).df())


def position_inputs(
    index: TableIndex, table: Table, by: tuple[str, ...], where: Mapping[str, WhereValue]
) -> tuple[dict[str, int | str], list[FileInfo], list[str]]:
    """What a positions query reads, on any engine: the filters on position keys (single
    values), the files they leave, and the grouping keys among *by*."""
    simple = {k: v for k, v in where.items() if k in POSITION_KEYS and isinstance(v, int | str)}
    files = index.select(partition_keys(table, simple))
    return simple, files, [k for k in by if k in POSITION_KEYS]


def no_positions(keys: Sequence[str]) -> pd.DataFrame:
    """The positions of no row: the columns of `query_positions`, empty."""
    return pd.DataFrame({**{k: [] for k in keys}, "ra": [], "dec": [], "rows": []})


def query_positions(
    con: duckdb.DuckDBPyConnection,
    run: Runner,
    index: TableIndex,
    table: Table,
    by: tuple[str, ...],
    where: Mapping[str, WhereValue],
) -> pd.DataFrame:
    """Mean RA/Dec of each group of *table* by *by*: *by*, ``ra``, ``dec``, ``rows``."""
    simple, files, keys = position_inputs(index, table, by, where)
    if not files:
        return no_positions(keys)
    condition, params = render_where(simple, POSITION_KEYS)
    columns = ", ".join(quote(k) for k in keys)
    select = f"{columns}, " if keys else ""
    group = f" GROUP BY {columns} ORDER BY {columns}" if keys else ""
    query = (
        f"SELECT {select}avg(coord_ra) AS ra, avg(coord_dec) AS dec, count(*) AS rows"
        f" FROM read_parquet(?) WHERE {condition}{group}"
    )
    paths = parquet_paths(f.path for f in files)
    return run(lambda: con.cursor().execute(query, [paths, *params]).df())


def query_tracts(con: duckdb.DuckDBPyConnection, run: Runner, objects: TableIndex) -> pd.DataFrame:
    """The tracts of *objects*: ``tract``, ``patches``, ``objects``."""
    files: list[FileInfo] = list(objects.files.values())
    if not files:
        return pd.DataFrame({"tract": [], "patches": [], "objects": []})
    query = (
        "SELECT tract, count(DISTINCT patch) AS patches, count(*) AS objects"
        " FROM read_parquet(?) GROUP BY tract ORDER BY tract"
    )
    paths = parquet_paths(f.path for f in files)
    return run(lambda: con.cursor().execute(query, [paths]).df())


def side_by_side(mine: pd.DataFrame, theirs: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Two aggregates (keys, ``value``, ``count``) merged on *keys*, as `Repository.compare`
    returns them."""
    keys = list(keys)
    if keys:
        merged = mine.merge(theirs, on=keys, how="outer", suffixes=("", "_other"), indicator=True)
    else:
        merged = pd.concat(
            [mine.reset_index(drop=True), theirs.add_suffix("_other").reset_index(drop=True)],
            axis=1,
        )
        merged["_merge"] = "both"
        if mine.empty:
            merged["_merge"] = "right_only"
        elif theirs.empty:
            merged["_merge"] = "left_only"
    labels = {"both": None, "left_only": "other", "right_only": "this"}
    merged["missing"] = [labels[str(state)] for state in merged["_merge"]]
    merged = merged.drop(columns=["_merge"])
    for column in ("count", "count_other"):
        merged[column] = merged[column].astype("Int64")
    merged["delta"] = merged["value_other"] - merged["value"]
    merged = merged.sort_values(keys).reset_index(drop=True) if keys else merged
    return merged[[*keys, "value", "count", "value_other", "count_other", "delta", "missing"]]


def summarise(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[Table, TableIndex],
    *,
    name: str,
    bands: list[str],
    metrics: int,
    inferred: bool,
    problems: list[FileProblem],
) -> RepoSummary:
    """The header figures of a repository of *tables*: patches counted by one query, the
    rest from the footers."""
    objects, sources = tables["objects"], tables["sources"]
    patches = 0
    if objects.files:
        paths = parquet_paths(info.path for info in objects.files.values())
        row = (
            con.cursor()
            .execute("SELECT count(DISTINCT (tract, patch)) FROM read_parquet(?)", [paths])
            .fetchone()
        )
        patches = int(row[0]) if row else 0
    per_band: dict[str, int] = {}
    for info in sources.files.values():
        for band in info.bands or ("?",):
            per_band[band] = per_band.get(band, 0) + 1
    return RepoSummary(
        name=name,
        tracts=sorted(objects.files),
        patches=patches,
        visits_per_band={b: per_band[b] for b in sort_bands(per_band)},
        objects=objects.rows,
        sources=sources.rows,
        bands=bands,
        metrics=metrics,
        inferred=inferred,
        problems=problems,
    )
