"""What changed between two reruns: every metric of either repository, ranked by change.

Two repositories of the same data (a rerun with new code, a branch against the main
line) are summarised metric by metric (`summarise`) in the same selection (a tract for
the coadd metrics, a visit for the visit metrics, or everything), and the two summaries
are set side by side (`rank_changes`):

- the change is ``Δ = value in B - value in A``;
- its size is ``|Δ| / sigma_A``, where ``sigma_A`` is the robust sigma (1.4826 times the median
  absolute deviation) of A's values per group at the metric's finest level (patches of
  the selection, detectors of a visit): a change of 3 is three times the scatter of the
  metric between patches. Without a spread (fewer than two finite group values, or all
  of them equal) the size is the relative change ``|Δ| / |A|``, and without that either
  (A is 0) there is none;
- the rows are ranked by size, largest first; then those without a size (largest
  ``|Δ|`` first), then the metrics one repository lacks (``missing in B``: never
  dropped, never compared with a 0), then those neither has a value of.

`rank_changes` is pure (two frames in, one out); `summarise` asks a `Repository`.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pandas as pd

from vigil.compute.aggregators import SIGMA_MAD_SCALE
from vigil.compute.errors import ComputeError
from vigil.compute.plan import WhereValue
from vigil.explorer._primary import no_primary_reason
from vigil.explorer._rollup import RangeStatus, drill_levels, metric_problems
from vigil.explorer.query import MetricInfo, Repository

__all__ = [
    "MISSING",
    "OVERVIEW_COLUMNS",
    "SCALE_RELATIVE",
    "SCALE_SIGMA",
    "SUMMARY_COLUMNS",
    "rank_changes",
    "rerun_overview",
    "robust_sigma",
    "selection_title",
    "selection_where",
    "side_status",
    "summarise",
]

MISSING = "missing"
"""The status of a metric on the side that does not have it."""

SCALE_SIGMA = "sigmas of A's groups"
"""The ``scale`` of a size measured in A's robust sigma per group."""

SCALE_RELATIVE = "relative to A"
"""The ``scale`` of a size that is the relative change."""

SUMMARY_COLUMNS = ["metric", "table", "value", "spread", "status", "note"]
"""Columns of `summarise`."""

OVERVIEW_COLUMNS = [
    "metric",
    "table",
    "value_a",
    "value_b",
    "change",
    "size",
    "scale",
    "status_a",
    "status_b",
    "note",
]
"""Columns of `rank_changes`."""


def robust_sigma(values: npt.ArrayLike) -> float:
    """1.4826 times the median absolute deviation of the finite *values*.

    NaN when fewer than two values are finite (a spread needs two); 0 for equal values.
    """
    array = np.asarray(values, dtype="float64")
    finite = array[np.isfinite(array)]
    if len(finite) < 2:
        return math.nan
    return float(SIGMA_MAD_SCALE * np.median(np.abs(finite - np.median(finite))))


def side_status(value: float, groups_out: int, info: MetricInfo) -> RangeStatus:
    """How one repository's value stands: ``no data`` without a finite value, ``no
    range`` without an acceptable range, ``bad`` when it or one of its *groups_out*
    groups is out of range, ``ok`` otherwise."""
    if not math.isfinite(value):
        return RangeStatus.NO_DATA
    if info.acceptable is None:
        return RangeStatus.NO_RANGE
    verdict = bool(info.acceptable.contains(value))
    return RangeStatus.OK if verdict and groups_out == 0 else RangeStatus.BAD


def selection_where(
    info: MetricInfo, tract: int | None, visit: int | None
) -> dict[str, WhereValue]:
    """The filter of a metric in the selection: the tract for a coadd metric, the visit
    for a visit metric (nothing when that one is not chosen)."""
    key, chosen = ("tract", tract) if info.table == "objects" else ("visit", visit)
    return {} if chosen is None else {key: int(chosen)}


def selection_title(tract: int | None, visit: int | None) -> str:
    """``tract 9813`` / ``every tract`` and ``visit 1228`` / ``every visit``."""
    coadd = f"tract {tract}" if tract is not None else "every tract"
    single = f"visit {visit}" if visit is not None else "every visit"
    return f"coadd metrics: {coadd}; visit metrics: {single}"


def _summary_row(
    repo: Repository, info: MetricInfo, tract: int | None, visit: int | None
) -> dict[str, object]:
    """One metric's row of `summarise`."""
    row: dict[str, object] = {
        "metric": info.name,
        "table": info.table,
        "value": math.nan,
        "spread": math.nan,
        "status": RangeStatus.UNKNOWN,
        "note": "",
    }
    where = selection_where(info, tract, visit)
    finest = drill_levels(info)[-1]
    try:
        whole, groups = repo.aggregate_levels(info.name, [(), finest], where or None)
    except ComputeError as exc:
        row["note"] = f"cannot be computed: {exc}"
        return row
    value = float(whole["value"].iloc[0]) if len(whole) else math.nan
    row["value"] = value
    row["spread"] = robust_sigma(groups["value"].to_numpy(dtype="float64"))
    groups_out = int(groups["acceptable"].eq(False).fillna(False).sum())
    status = side_status(value, groups_out, info)
    if status == RangeStatus.NO_DATA:
        row["note"] = no_primary_reason(repo, info)
    unreadable = metric_problems(repo, info)
    if unreadable:
        row["note"] = f"{len(unreadable)} unreadable file(s) left out"
        status = status if status == RangeStatus.BAD else RangeStatus.UNKNOWN
    row["status"] = status
    return row


def summarise(
    repo: Repository,
    tract: int | None = None,
    visit: int | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Every metric of *repo* in a selection: its value and the spread of its groups.

    Parameters
    ----------
    repo
        The repository.
    tract
        The tract the coadd metrics are restricted to (None: every tract).
    visit
        The visit the visit metrics are restricted to (None: every visit).
    workers
        Metrics summarised at once (default: one per core).

    Returns
    -------
    pandas.DataFrame
        One row per metric (`SUMMARY_COLUMNS`): ``value`` (the metric's aggregate of the
        selection), ``spread`` (`robust_sigma` of its values per group at its finest
        level; NaN with fewer than two), ``status`` (`side_status`; ``unknown`` when it
        cannot be computed or some of its files cannot be read) and ``note`` (why it is
        ``unknown``).
    """
    infos = repo.metrics()
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        rows = list(pool.map(lambda info: _summary_row(repo, info, tract, visit), infos))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _size(
    a: npt.NDArray[np.float64], delta: npt.NDArray[np.float64], spread: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.object_]]:
    """The size of each change and its scale (`SCALE_SIGMA`, `SCALE_RELATIVE` or "")."""
    size = np.full(len(delta), np.nan)
    scale = np.full(len(delta), "", dtype=object)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_sigma = np.isfinite(delta) & np.isfinite(spread) & (spread > 0)
        size[by_sigma] = np.abs(delta[by_sigma]) / spread[by_sigma]
        scale[by_sigma] = SCALE_SIGMA
        relative = np.isfinite(delta) & ~by_sigma & np.isfinite(a) & (a != 0)
        size[relative] = np.abs(delta[relative]) / np.abs(a[relative])
        scale[relative] = SCALE_RELATIVE
        # No scale, no change: a constant metric that stayed constant.
        unchanged = np.isfinite(delta) & ~by_sigma & ~relative & (delta == 0)
        size[unchanged] = 0.0
        scale[unchanged] = SCALE_RELATIVE
    return size, scale


def rank_changes(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The metrics of two summaries (`summarise`) side by side, largest change first.

    Parameters
    ----------
    a, b
        The summaries of the two repositories (`SUMMARY_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        One row per metric of either (`OVERVIEW_COLUMNS`): ``value_a``, ``value_b``
        (NaN on the side that lacks it, never 0), ``change`` (B - A), ``size`` and its
        ``scale`` (see the module), ``status_a`` and ``status_b`` (`MISSING` on the side
        that lacks the metric) and ``note`` (``missing in B``, or why a side is
        unknown). Ranked as the module says; ties keep A's order of metrics.
    """
    left = a.set_index("metric")
    right = b.set_index("metric")
    names = list(left.index) + [name for name in right.index if name not in left.index]
    left, right = left.reindex(names), right.reindex(names)
    value_a = left["value"].to_numpy(dtype="float64")
    value_b = right["value"].to_numpy(dtype="float64")
    in_a = left["status"].notna().to_numpy()
    in_b = right["status"].notna().to_numpy()
    delta = value_b - value_a
    size, scale = _size(value_a, delta, left["spread"].to_numpy(dtype="float64"))
    notes = []
    for name, here, there in zip(names, in_a, in_b, strict=True):
        parts = [] if here else ["missing in A"]
        parts += [] if there else ["missing in B"]
        for side, frame, present in (("A", left, here), ("B", right, there)):
            note = frame.at[name, "note"] if present else ""
            if isinstance(note, str) and note:
                parts.append(f"{side}: {note}")
        notes.append("; ".join(parts))
    out = pd.DataFrame(
        {
            "metric": names,
            "table": left["table"].fillna(right["table"]).to_numpy(dtype=object),
            "value_a": value_a,
            "value_b": value_b,
            "change": delta,
            "size": size,
            "scale": scale,
            "status_a": left["status"].astype(object).fillna(MISSING).astype(str).to_numpy(),
            "status_b": right["status"].astype(object).fillna(MISSING).astype(str).to_numpy(),
            "note": notes,
        },
        columns=OVERVIEW_COLUMNS,
    )
    # Tiers: sized changes, unsized ones, one side missing, no value on either side.
    tier = np.where(
        np.isfinite(size), 0, np.where(np.isfinite(delta), 1, np.where(in_a & in_b, 3, 2))
    )
    magnitude = np.where(np.isfinite(size), size, np.abs(np.nan_to_num(delta, nan=0.0)))
    order = np.lexsort((np.arange(len(out)), -magnitude, tier))
    return out.iloc[order].reset_index(drop=True)


def rerun_overview(
    repo_a: Repository,
    repo_b: Repository,
    tract: int | None = None,
    visit: int | None = None,
) -> pd.DataFrame:
    """`rank_changes` of the two repositories' `summarise` in the same selection."""
    return rank_changes(summarise(repo_a, tract, visit), summarise(repo_b, tract, visit))
