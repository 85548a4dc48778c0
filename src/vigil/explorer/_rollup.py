"""Pure helpers of the explorer app: the quick-look roll-up and the sky positions.

Nothing here draws: each function takes a `Repository` and returns a pandas DataFrame,
so the app, the notebooks and the tests share one computation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import pandas as pd

from vigil.compute.dask_cluster import DaskStalledError
from vigil.compute.errors import ComputeError
from vigil.compute.files import FileProblem
from vigil.compute.granularity import DRILL_KEYS, level_keys
from vigil.compute.plan import WhereValue
from vigil.explorer._primary import no_primary_reason
from vigil.explorer._ranking import median_tail_log_probability
from vigil.explorer.query import MetricInfo, Repository

__all__ = [
    "ROLLUP_COLUMNS",
    "WORST_CANDIDATES",
    "RangeStatus",
    "drill_levels",
    "group_label",
    "metric_problems",
    "positions",
    "rank_groups",
    "rollup",
    "rollup_cached",
    "rollup_levels",
]


class RangeStatus(StrEnum):
    """How a metric or a group stands against its acceptable range.

    ``unknown``: the metric's aggregation failed, or some of its files cannot be read,
    so that what is shown may leave out a problem (the roll-up's ``reason`` says why).
    """

    OK = "ok"
    BAD = "bad"
    NO_RANGE = "no range"
    NO_DATA = "no data"
    UNKNOWN = "unknown"


ROLLUP_COLUMNS = [
    "metric",
    "table",
    "value",
    "acceptable",
    "groups",
    "out_of_range",
    "worst",
    "worst_value",
    "worst_count",
    "status",
    "reason",
    "worst_data_id",
]
"""Columns of `rollup`."""

_PASSING = "passing"
"""A row's (and the roll-up's ``attrs``) mark that a metric is unknown for a reason that
may pass (a stalled Dask cluster): such a roll-up is computed again next time."""

WORST_CANDIDATES = 32
"""Out-of-range groups (the farthest out) whose medians are tested for significance."""

_LEVELS: dict[str, list[tuple[str, ...]]] = {
    table: [keys[: depth + 1] for depth in range(len(keys))] for table, keys in DRILL_KEYS.items()
}


def drill_levels(info: MetricInfo) -> list[tuple[str, ...]]:
    """The groupings a metric is drilled through, coarse to fine (within its granularity)."""
    levels = _LEVELS[info.table]
    if info.granularity in ("source", "dataset"):
        return levels
    allowed = [level for level in levels if info.granularity in level]
    fine = next((i for i, level in enumerate(levels) if info.granularity in level), None)
    return levels[: fine + 1] if fine is not None else allowed


_ROLLUPS: dict[tuple[str, float], pd.DataFrame] = {}


def rollup_cached(repo: Repository) -> pd.DataFrame:
    """`rollup` of *repo*, computed once per repository folder and configuration."""
    config = repo.layout.config_path
    key = (str(repo.path.resolve()), config.stat().st_mtime if config.exists() else 0.0)
    if key in _ROLLUPS:
        return _ROLLUPS[key].copy()
    frame = rollup(repo)
    if not frame.attrs.get(_PASSING):
        _ROLLUPS[key] = frame
    return frame.copy()


def rollup_levels(info: MetricInfo) -> list[tuple[str, ...]]:
    """The groupings the quick look computes for a metric.

    The dataset, and the drill levels when the metric has an acceptable range: without
    one no group can be out of range. A fit is judged at its own granularity only
    (coarser levels would refit it from the catalogue; the dataset's value is that refit,
    as `Repository.aggregate` gives it).
    """
    levels: list[tuple[str, ...]] = [()]
    per_source = info.granularity in ("source", "dataset")
    if info.acceptable is None:
        return levels
    drill = drill_levels(info)
    if not per_source:
        own = tuple(level_keys(info.granularity))
        drill = [level for level in drill if level == own] or drill[-1:]
    return levels + drill


def group_label(keys: Sequence[str], row: Mapping[str, object]) -> str:
    """``tract 9814, patch 40`` for a group's keys."""
    return ", ".join(f"{key} {_key_text(row[key])}" for key in keys)


def _key_text(value: object) -> str:
    # A row of mixed columns holds its integer keys as floats.
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _range_text(info: MetricInfo) -> str:
    acceptable = info.acceptable
    if acceptable is None:
        return ""
    low = "" if acceptable.min is None else f"{acceptable.min:g}"
    high = "" if acceptable.max is None else f"{acceptable.max:g}"
    return f"[{low}, {high}]"


def _excess(info: MetricInfo, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """How far each value lies outside the acceptable range (negative inside; NaN: none)."""
    acceptable = info.acceptable
    if acceptable is None:
        return np.full(len(values), np.nan)
    below = (
        (acceptable.min - values) if acceptable.min is not None else np.full(len(values), -np.inf)
    )
    above = (
        (values - acceptable.max) if acceptable.max is not None else np.full(len(values), -np.inf)
    )
    return np.maximum(below, above)


def rank_groups(
    repo: Repository,
    info: MetricInfo,
    frame: pd.DataFrame,
    where: Mapping[str, WhereValue] | None = None,
    finer: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The groups of an aggregate, worst first.

    Groups out of range come first, the least likely by chance first
    (`vigil.explorer._ranking`: the metric's values under *where* are the reference);
    then the others: those holding most out-of-range groups of the next level first,
    then those closest to leaving the range. Without a range, the groups farthest from
    the median of the groups come first.

    Parameters
    ----------
    repo
        The repository.
    info
        The metric.
    frame
        An aggregate of it (`Repository.aggregate`).
    where
        The filter the aggregate was made with.
    finer
        The aggregate at the next level down (same filter), to count the out-of-range
        groups inside each group.

    Returns
    -------
    pandas.DataFrame
        *frame* sorted, with ``excess`` (distance out of range, negative inside, NaN
        without a range), ``log_p`` (natural log of the chance probability; NaN when
        not tested) and ``bad_below`` (out-of-range groups of *finer* inside).
    """
    out = frame.reset_index(drop=True).copy()
    keys = [c for c in out.columns if c not in ("value", "count", "acceptable")]
    values = out["value"].to_numpy(dtype="float64")
    excess = _excess(info, values)
    log_p = np.full(len(out), np.nan)
    bad = np.flatnonzero(np.nan_to_num(excess, nan=-1.0) > 0)
    if len(bad) and info.granularity == "source" and info.acceptable is not None:
        top = bad[np.argsort(-excess[bad], kind="stable")][:WORST_CANDIDATES]
        high = info.acceptable.max
        bounds = [(float(values[i]), high is not None and values[i] > high) for i in top]
        total, beyond = repo.tail_counts(info.name, bounds, where)
        counts = out["count"].to_numpy()
        for i, n in zip(top, beyond, strict=True):
            log_p[i] = median_tail_log_probability(int(counts[i]), n, total)
    below = np.zeros(len(out), dtype=np.int64)
    if finer is not None and keys and len(finer):
        flagged = finer[finer["acceptable"].eq(False).fillna(False)]
        if len(flagged):
            per_group = flagged.groupby(keys).size().rename("_below").reset_index()
            below = (
                out[keys].merge(per_group, on=keys, how="left")["_below"].fillna(0).to_numpy()
            ).astype(np.int64)
    if info.acceptable is None:
        centre = np.nanmedian(values) if len(values) else 0.0
        first = np.zeros(len(out))
        third = -np.abs(values - centre)
    else:
        # Out of range: tested ones by probability, untested after them; then the rest.
        first = np.where(np.nan_to_num(excess, nan=-1.0) > 0, np.nan_to_num(log_p, nan=0.0), 1.0)
        third = -np.nan_to_num(excess, nan=-np.inf)
    order = np.lexsort((np.nan_to_num(third, nan=np.inf), -below, first))
    out["excess"] = excess
    out["log_p"] = log_p
    out["bad_below"] = below
    return out.iloc[order].reset_index(drop=True)


def rollup(repo: Repository, workers: int | None = None) -> pd.DataFrame:
    """Every metric rolled up: the dataset value and its worst group.

    The metrics are rolled up side by side, the largest first (a fit, whose dataset value
    is refitted from its table, before all): a median is reduced on one core once its
    values are read, so one metric's reduction overlaps another's scan.
    The header figures (`Repository.summary`, cached) are read in the same pool.

    Parameters
    ----------
    repo
        The repository.
    workers
        Metrics rolled up at once (default: one per core).

    Returns
    -------
    pandas.DataFrame
        One row per metric (`ROLLUP_COLUMNS`): the dataset aggregate ``value``, its
        ``acceptable`` range as text, ``groups`` (at the finest level judged; NA for a
        metric without range), ``out_of_range`` (groups out of the range, summed over the
        levels), ``worst`` (at the coarsest level that has a group out of range, the
        group least likely to be so by chance, `rank_groups`: ``visit 1236``),
        ``worst_value``, ``worst_count`` (its sources), ``status``: ``ok``, ``bad``
        (the dataset value or a group is out of range), ``no range``, ``no data`` (no
        value at all) or ``unknown`` (the aggregation failed, or some of the metric's
        files cannot be read: an ``ok`` would hide what they hold), ``reason`` (why it is
        ``unknown``, or which files a ``bad`` metric was judged without; empty otherwise)
        and ``worst_data_id`` (the worst group's keys as a dict, or None).
    """
    infos = repo.metrics()
    by_cost = sorted(range(len(infos)), key=lambda i: _cost(infos[i]))
    rows: list[dict[str, object]] = [{} for _ in infos]
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        # The header figures are shown beside the roll-up: read them meanwhile.
        header = pool.submit(repo.summary)
        done = {pool.submit(_rollup_row, repo, infos[i]): i for i in by_cost}
        for future, i in done.items():
            rows[i] = future.result()
        header.result()
    passing = any(row.pop(_PASSING, False) for row in rows)
    frame = pd.DataFrame(rows, columns=ROLLUP_COLUMNS)
    frame.attrs[_PASSING] = passing
    for column in ("groups", "worst_count"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _cost(info: MetricInfo) -> tuple[bool, int]:
    """A metric's place in the order of the roll-up, the largest work first: a fit, whose
    dataset value is refitted from its table's rows (`rollup_levels`), then the others
    by values times levels."""
    refit = info.granularity not in ("source", "dataset")  # the dataset level always is
    return not refit, -(info.rows or 0) * len(rollup_levels(info))


def _rollup_row(repo: Repository, info: MetricInfo) -> dict[str, object]:
    """One metric's row of `rollup`."""
    row: dict[str, object] = {
        "metric": info.name,
        "table": info.table,
        "value": math.nan,
        "acceptable": _range_text(info),
        "groups": pd.NA,
        "out_of_range": 0,
        "worst": "",
        "worst_value": math.nan,
        "worst_count": pd.NA,
        "status": RangeStatus.NO_RANGE if info.acceptable is None else RangeStatus.OK,
        "reason": "",
        "worst_data_id": None,
    }
    out_of_range = 0
    try:
        levels = rollup_levels(info)
        frames = repo.aggregate_levels(info.name, levels) if levels else []
        for level, frame in zip(levels, frames, strict=True):
            if not level:
                if not frame.empty:
                    row["value"] = float(frame["value"].iloc[0])
                continue
            row["groups"] = len(frame)
            bad = frame[frame["acceptable"].eq(False).fillna(False)]
            out_of_range += len(bad)
            if row["worst"] or bad.empty:
                continue  # the coarsest level out of range names the culprit
            worst = rank_groups(repo, info, bad).iloc[0]
            row["worst"] = group_label(level, worst)
            row["worst_value"] = float(worst["value"])
            row["worst_count"] = int(worst["count"])
            row["worst_data_id"] = {key: int(worst[key]) for key in level}
    except ComputeError as exc:
        row["status"] = RangeStatus.UNKNOWN
        row["reason"] = f"cannot be computed: {exc}"
        # A stalled cluster may recover (workers restarted, memory freed): not kept.
        row[_PASSING] = isinstance(exc, DaskStalledError)
        return row
    row["out_of_range"] = out_of_range
    whole_bad = bool(
        np.nan_to_num(_excess(info, np.array([row["value"]], dtype=float)), nan=-1.0)[0] > 0
    )
    if info.acceptable is not None and (whole_bad or out_of_range > 0):
        row["status"] = RangeStatus.BAD
    empty = [len(f) == 0 or f["count"].sum() == 0 for f in frames]
    if frames and all(empty):
        row["status"] = RangeStatus.NO_DATA
        row["reason"] = no_primary_reason(repo, info)
    unreadable = metric_problems(repo, info)
    if unreadable:
        names = "; ".join(f"{problem.path.name}: {problem.message}" for problem in unreadable)
        row["reason"] = f"{len(unreadable)} unreadable file(s) left out ({names})"
        if row["status"] != RangeStatus.BAD:
            row["status"] = RangeStatus.UNKNOWN
    return row


def metric_problems(repo: Repository, info: MetricInfo) -> list[FileProblem]:
    """The unreadable files behind *info*'s values: its own value files when it is
    stored, else those of the table it is computed from."""
    if info.stored:
        folder = repo.layout.metric_dir(info.name)
        return [problem for problem in repo.problems if problem.path.parent == folder]
    return list(repo.tables()[info.table].problems)


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
        Equality filters on dataId columns (``{"tract": 9813}``); a tract or visit
        filter reads only that tract's or visit's file.

    Returns
    -------
    pandas.DataFrame
        *by*, ``ra``, ``dec`` (degrees) and ``rows``.
    """
    return repo.positions(table, by, where)  # type: ignore[arg-type]
