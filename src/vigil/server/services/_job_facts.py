"""The facts of stored jobs that each point of a series carries, kept by the process.

A series read of 10,000 points spends most of its time joining each measurement to its
job for five columns (time, branch, commit, pull request, environment). A stored job
never changes, so the process keeps these facts by job id and the read takes from the
database only the measurements of the series, which its covering index holds, and the
facts of the jobs it has not seen yet.

A job can be deleted, and on SQLite a new job can then get its id: the facts are
forgotten whenever the data generation (`AuditStore.data_generation`, which every
removal changes) is not the one they were read under, and a read during which it
changed is made again without them (`SeriesService.history_columns`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from ..domain.series import SeriesColumns

__all__ = ["MAX_JOBS", "JobFacts", "JobFactsCache"]

MAX_JOBS = 200_000
"""Jobs whose facts are kept at most (about 60 MB); beyond, they are forgotten at once."""

JobFacts = dict[int, tuple[Any, ...]]
"""Job id -> (time as ISO 8601 text, branch, commit, pull request, environment)."""


class JobFactsCache:
    """The job facts of the series reads of one process (see the module)."""

    def __init__(self, max_jobs: int = MAX_JOBS) -> None:
        self._lock = threading.Lock()
        self._max_jobs = max_jobs
        self._generation: int | None = None
        self._facts: JobFacts = {}

    def table(self, generation: int) -> JobFacts:
        """The facts known under *generation* (a new, empty table when it changed).

        The caller fills and reads the table it got: another read that starts afresh
        meanwhile replaces the cache's table, never empties this one.
        """
        with self._lock:
            if generation != self._generation or len(self._facts) > self._max_jobs:
                self._generation, self._facts = generation, {}
            return self._facts

    @staticmethod
    def missing(table: JobFacts, job_ids: Iterable[int]) -> list[int]:
        """The ids among *job_ids* whose facts *table* lacks, once each, in order."""
        return [job_id for job_id in dict.fromkeys(job_ids) if job_id not in table]

    @staticmethod
    def add(table: JobFacts, rows: Iterable[Sequence[Any]]) -> None:
        """Add the facts of *rows*: each the job id, then its facts."""
        table.update((row[0], tuple(row[1:])) for row in rows)

    @staticmethod
    def columns(table: JobFacts, rows: Sequence[Sequence[Any]]) -> SeriesColumns:
        """The columns of points *rows* (job id, measurement id, value, unit), each
        with its job's facts from *table*."""
        job_ids = list(map(itemgetter(0), rows))
        facts = [table[job_id] for job_id in job_ids]
        return SeriesColumns(
            job_ids,
            list(map(itemgetter(1), rows)),
            list(map(itemgetter(2), rows)),
            list(map(itemgetter(3), rows)),
            *(list(map(itemgetter(i), facts)) for i in range(5)),
        )
