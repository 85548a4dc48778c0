"""Pure helpers of the explorer app: the quick-look roll-up and the sky positions.

Nothing here draws: each function takes a `Repository` and returns a pandas DataFrame,
so the app, the notebooks and the tests share one computation.
"""

# SQL here is made of fixed column names only; file paths are ? parameters.
# ruff: noqa: S608

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import duckdb
import pandas as pd

from vigil.compute.errors import ComputeError
from vigil.compute.plan import WhereValue
from vigil.explorer.query import MetricInfo, Repository

__all__ = [
    "ROLLUP_COLUMNS",
    "drill_levels",
    "group_label",
    "positions",
    "rollup",
]

ROLLUP_COLUMNS = [
    "metric",
    "table",
    "value",
    "acceptable",
    "groups",
    "out_of_range",
    "worst",
    "worst_value",
    "status",
]
"""Columns of `rollup`."""

_LEVELS: dict[str, list[tuple[str, ...]]] = {
    "objects": [("tract",), ("tract", "patch")],
    "sources": [("visit",), ("visit", "detector")],
}


def drill_levels(info: MetricInfo) -> list[tuple[str, ...]]:
    """The groupings a metric is drilled through, coarse to fine (within its granularity)."""
    levels = _LEVELS[info.table]
    if info.granularity in ("source", "dataset"):
        return levels
    allowed = [level for level in levels if info.granularity in level]
    fine = next((i for i, level in enumerate(levels) if info.granularity in level), None)
    return levels[: fine + 1] if fine is not None else allowed


def group_label(keys: Sequence[str], row: Mapping[str, object]) -> str:
    """``tract 9814, patch 40`` for a group's keys."""
    return ", ".join(f"{key} {row[key]}" for key in keys)


def _range_text(info: MetricInfo) -> str:
    acceptable = info.acceptable
    if acceptable is None:
        return ""
    low = "" if acceptable.min is None else f"{acceptable.min:g}"
    high = "" if acceptable.max is None else f"{acceptable.max:g}"
    return f"[{low}, {high}]"


def _distance(info: MetricInfo, value: float) -> float:
    """How far *value* lies outside the acceptable range (0 inside)."""
    acceptable = info.acceptable
    if acceptable is None or value is None or math.isnan(value):
        return 0.0
    below = (acceptable.min - value) if acceptable.min is not None else 0.0
    above = (value - acceptable.max) if acceptable.max is not None else 0.0
    return max(below, above, 0.0)


def rollup(repo: Repository) -> pd.DataFrame:
    """Every metric rolled up: the dataset value and its worst group at each level.

    Returns
    -------
    pandas.DataFrame
        One row per metric (`ROLLUP_COLUMNS`): the dataset aggregate ``value``, its
        ``acceptable`` range as text, ``groups`` (at the finest level), ``out_of_range``
        (groups out of the range, summed over the levels), ``worst`` (the group furthest
        out of range at the coarsest level that has one, ``visit 1236``),
        ``worst_value`` and ``status``: ``ok``, ``bad`` (the dataset value or a group is
        out of range), ``no range`` or ``error: ...``.
    """
    rows: list[dict[str, object]] = []
    for info in repo.metrics():
        row: dict[str, object] = {
            "metric": info.name,
            "table": info.table,
            "value": math.nan,
            "acceptable": _range_text(info),
            "groups": 0,
            "out_of_range": 0,
            "worst": "",
            "worst_value": math.nan,
            "status": "no range" if info.acceptable is None else "ok",
        }
        try:
            if info.granularity in ("source", "dataset"):
                total = repo.aggregate(info.name)
                if not total.empty:
                    row["value"] = float(total["value"].iloc[0])
            for level in drill_levels(info):
                frame = repo.aggregate(info.name, list(level))
                row["groups"] = len(frame)
                bad = frame[frame["acceptable"].eq(False).fillna(False)]
                row["out_of_range"] = int(row["out_of_range"]) + len(bad)  # type: ignore[call-overload]
                if row["worst"]:
                    continue  # the coarsest level out of range names the culprit
                worst_distance = 0.0
                for _, group in bad.iterrows():
                    distance = _distance(info, float(group["value"]))
                    if distance > worst_distance:
                        worst_distance = distance
                        row["worst"] = group_label(level, group)
                        row["worst_value"] = float(group["value"])
        except ComputeError as exc:
            row["status"] = f"error: {exc}"
            rows.append(row)
            continue
        whole_bad = _distance(info, float(row["value"])) > 0  # type: ignore[arg-type]
        if info.acceptable is not None and (whole_bad or int(row["out_of_range"]) > 0):  # type: ignore[call-overload]
            row["status"] = "bad"
        rows.append(row)
    return pd.DataFrame(rows, columns=ROLLUP_COLUMNS)


def positions(
    repo: Repository, table: str, by: Sequence[str], where: Mapping[str, WhereValue] | None = None
) -> pd.DataFrame:
    """Mean RA/Dec of each group of *table* (patch centres, detector centres, ...).

    Parameters
    ----------
    repo
        The repository.
    table
        ``objects`` or ``sources``.
    by
        Group keys (dataId columns of the table).
    where
        Equality filters on dataId columns (``{"tract": 9813}``).

    Returns
    -------
    pandas.DataFrame
        *by*, ``ra``, ``dec`` (degrees) and ``rows``.
    """
    files = [str(info.path) for info in repo.tables()[table].files.values()]  # type: ignore[index]
    if not files:
        return pd.DataFrame({**{k: [] for k in by}, "ra": [], "dec": [], "rows": []})
    known = {"tract", "patch", "visit", "detector", "band"}
    keys = [k for k in by if k in known]
    conditions = ["TRUE"]
    params: list[object] = [files]
    for key, value in (where or {}).items():
        if key in known and isinstance(value, int | str):
            conditions.append(f'"{key}" = ?')
            params.append(value)
    columns = ", ".join(f'"{k}"' for k in keys)
    select = f"{columns}, " if keys else ""
    group = f" GROUP BY {columns} ORDER BY {columns}" if keys else ""
    query = (
        f"SELECT {select}avg(coord_ra) AS ra, avg(coord_dec) AS dec, count(*) AS rows"
        f" FROM read_parquet(?) WHERE {' AND '.join(conditions)}{group}"
    )
    with duckdb.connect() as con:
        return con.execute(query, params).df()
