"""What the dashboard keeps across requests: series frames, overviews, package fingerprints.

Reading a series of 10,000 points, counting the packages changed between its jobs and
building its DataFrame costs tens of milliseconds; counting a million measurements and
judging the newest jobs for the overview, about as much. Both change only when a job is
stored (or specifications are loaded). Each is therefore cached under a key that holds a
version of what it was computed from (point counts, newest ids, one cheap indexed
query), so that new data misses the cache and nothing stale is ever served.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cache import LruCache
from ..domain import JobSummary, SpecificationInfo
from ..storage.dashboard import Counts, DashboardStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DashboardCache", "FailingSpec", "Overview", "PackageFingerprints", "SeriesFrame"]


@dataclass(slots=True)
class SeriesFrame:
    """One series' points in a period, every branch, as the metric page plots them.

    Shared between requests: never modified once built.
    """

    frame: pd.DataFrame
    truncated: bool
    last_meta: dict[str, Any]
    labels: np.ndarray = field(init=False)
    """The branch of each row, None shown as `vigil.plots.NO_BRANCH`."""
    last_job: dict[str, int] = field(init=False)
    """Each branch's newest job id."""

    def __post_init__(self) -> None:
        from vigil.plots import NO_BRANCH

        branches = self.frame["branch"]
        self.labels = branches.astype(object).where(branches.notna(), NO_BRANCH).to_numpy()
        job_ids = self.frame["job_id"].to_numpy()
        # Rows are in job order: the last row of a branch holds its newest job.
        self.last_job = dict(zip(self.labels.tolist(), job_ids.tolist(), strict=True))

    def branches(self, main: str) -> list[str]:
        """Branch names: *main* first, then by their newest job (most recent last)."""
        others = sorted((b for b in self.last_job if b != main), key=self.last_job.__getitem__)
        return ([main] if main in self.last_job else []) + others

    def recent_branches(self, main: str, count: int) -> set[str]:
        """The main line and the *count* other branches with the newest jobs."""
        others = [b for b in self.branches(main) if b != main]
        return {main, *others[len(others) - count :]} if count else {main}

    def only(self, branches: set[str] | None) -> pd.DataFrame:
        """The rows of *branches* (every row when None)."""
        if branches is None:
            return self.frame
        keep = np.isin(self.labels, list(branches))
        return self.frame if keep.all() else self.frame[keep].reset_index(drop=True)


@dataclass(slots=True)
class FailingSpec:
    """A specification failed by the latest main-line jobs."""

    spec: SpecificationInfo
    failing: int
    evaluated: int
    worst_value: float
    unit: str
    worst_job_id: int
    dataset: str | None


@dataclass(slots=True)
class Overview:
    """What the overview page shows."""

    counts: Counts
    latest_jobs: list[JobSummary]
    failing: list[FailingSpec]
    failing_truncated: bool
    main_branch: str
    checked_jobs: int


class PackageFingerprints:
    """Per-job package fingerprints of one database, kept across requests.

    A job's packages never change once stored (ingest is idempotent), so this cache
    goes stale only when jobs are deleted (SQLite may then give a deleted job's id to a
    new one): `sync` forgets it all then. It bounds the cost of "packages changed" on
    large series. It belongs to a process context (one database): job ids mean nothing
    across databases.
    """

    def __init__(self, size: int = 200_000) -> None:
        self._items: LruCache[int, frozenset[tuple[Any, ...]]] = LruCache(size)
        self._generation: int | None = None

    def sync(self, generation: int) -> None:
        """Forget every job when data were removed since the last call (`series_version`)."""
        if generation != self._generation:
            self._items.clear()
            self._generation = generation

    def get(
        self, store: DashboardStore, job_ids: Sequence[int]
    ) -> dict[int, frozenset[tuple[Any, ...]]]:
        found = {j: f for j in job_ids if (f := self._items.get(j)) is not None}
        missing = [j for j in job_ids if j not in found]
        if missing:
            fetched = store.package_fingerprints(missing)
            found.update(fetched)
            for job_id, prints in fetched.items():
                self._items.put(job_id, prints)
        return found


@dataclass(slots=True)
class DashboardCache:
    """The dashboard's caches of one process context (one database)."""

    frames: LruCache[Hashable, SeriesFrame] = field(default_factory=lambda: LruCache(64))
    """Series frames by (series, version, unit, filters)."""
    overviews: LruCache[Hashable, Overview] = field(default_factory=lambda: LruCache(4))
    """Overviews by the version of the data they count and judge."""
