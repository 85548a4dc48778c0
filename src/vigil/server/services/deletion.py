"""Deleting a job or a metric, all or nothing, recorded in the audit log.

A job goes with its measurements (and their blob links), blobs, packages and artifact
rows; artifact content no other artifact uses is removed from the store once the
deletion is committed. Regression records whose first bad job was the deleted one move
to the next job of their series' main line (else the previous one; a series left
without main-line jobs loses its records), with a "moved" entry in their history, and
the job's series are queued for analysis, which brings every record in step with what
is left (moved, dissolved or new, without notifying subscribers).

A metric goes with its specifications, series, measurements, regression records and
queued analyses. Jobs stay, even one left without measurements.

Every process keeps caches keyed on versions of the data; each removal is an audit
entry whose id those versions include (`AuditStore.data_generation`), so no process
serves or reuses what was deleted.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..config import Settings
from ..database import read_transaction
from ..domain.audit import Actor, AuditEntry
from ..exceptions import ConflictError, JobNotFoundError, MetricNotFoundError
from ..storage.artifacts import ArtifactContentStore, ArtifactStore
from ..storage.audit import AuditStore
from ..storage.deletion import DeletionStore
from ..storage.regressions import AnalysisQueueStore, RegressionStore
from ._ingest_cache import IngestCache

__all__ = ["DeletionService"]

logger = logging.getLogger(__name__)


class DeletionService:
    """Delete jobs and metrics (administrators only; the handlers check the role).

    Parameters
    ----------
    session
        The database session (each call commits or rolls back).
    settings
        Server settings (the default branch).
    content
        The artifact content store.
    ingest_cache
        This process's ingest cache, told at once what was removed.
    store, artifacts, regressions, queue, audit
        The stores it works on.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        content: ArtifactContentStore,
        ingest_cache: IngestCache | None = None,
        *,
        store: DeletionStore,
        artifacts: ArtifactStore,
        regressions: RegressionStore,
        queue: AnalysisQueueStore,
        audit: AuditStore,
    ) -> None:
        self._session = session
        self._settings = settings
        self._content = content
        self._ingest_cache = ingest_cache
        self._store = store
        self._artifacts = artifacts
        self._regressions = regressions
        self._queue = queue
        self._audit = audit

    def delete_job(self, job_id: int, actor: Actor) -> AuditEntry:
        """Delete a job and what belongs to it; the audit entry says what went.

        Raises
        ------
        JobNotFoundError
            No such job.
        ConflictError
            Data referring to the job were being written at the same time; nothing was
            deleted.
        """
        now = datetime.now(UTC)
        try:
            found = self._store.lock_job(job_id)
            if found is None:
                raise JobNotFoundError(f"No job has the id {job_id}.")
            identifier, branch = found
            series = self._store.job_series(job_id)
            moved, removed, touched = self._move_regressions(job_id, now)
            artifacts, hashes = self._artifacts.delete_for_jobs([job_id])
            counts = self._store.delete_job(job_id)
            removed_records = self._store.delete_regressions(removed)
            main_line = branch is None or branch == self._settings.default_branch
            again = sorted(set(series if main_line else []) | touched)
            self._queue.enqueue(again, None, now)
            summary = {
                "identifier": identifier,
                "branch": branch,
                "measurements": counts["measurements"],
                "blobs": counts["blobs"],
                "packages": counts["packages"],
                "artifacts": artifacts,
                "series": len(series),
                "series_reanalysed": len(again),
                "regressions_moved": moved,
                "regressions_removed": removed_records,
            }
            entry = self._audit.add(actor, "job.delete", f"job {job_id}", summary, now)
            self._session.commit()
        except IntegrityError:
            self._session.rollback()
            raise ConflictError(
                f"Job {job_id} was being referred to while it was deleted; nothing was"
                " deleted: try again."
            ) from None
        except BaseException:
            self._session.rollback()
            raise
        self._forget_artifact_content(hashes)
        if self._ingest_cache is not None:
            self._ingest_cache.sync(entry.id)
        return entry

    def _move_regressions(self, job_id: int, now: datetime) -> tuple[int, list[int], set[int]]:
        """Re-anchor the records that name *job_id*: ``(moved, to delete, their series)``."""
        anchored = self._store.anchored_regressions(job_id)
        orders: dict[int, list[int]] = {}
        moved, removed, touched = 0, [], set()
        for record in anchored:
            touched.add(record.series_id)
            if record.series_id not in orders:
                values = self._regressions.line_values(
                    record.series_id, self._settings.default_branch
                )
                orders[record.series_id] = list(dict.fromkeys(v.job_id for v in values))
            order = orders[record.series_id]
            at = order.index(job_id) if job_id in order else None
            before = order[at - 1] if at is not None and at > 0 else None
            after = order[at + 1] if at is not None and at + 1 < len(order) else None
            if record.first_bad_job_id == job_id:
                replacement = after or before
                if replacement is None:
                    removed.append(record.id)
                    continue
                self._store.move_regression(record.id, first_bad=replacement)
                self._regressions.add_event(
                    record.id,
                    now,
                    "moved",
                    note=(
                        f"Job {job_id} was deleted: first bad job {job_id} → {replacement};"
                        " its series is analysed again."
                    ),
                )
                moved += 1
            if record.last_good_job_id == job_id and before is not None:
                self._store.move_regression(record.id, last_good=before)
        return moved, removed, touched

    def delete_metric(self, name: str, actor: Actor) -> AuditEntry:
        """Delete a metric, its specifications, series, measurements and regressions.

        Raises
        ------
        MetricNotFoundError
            No definition, specification or series has this name.
        ConflictError
            A job measuring the metric was being stored at the same time; nothing was
            deleted.
        """
        now = datetime.now(UTC)
        try:
            if not self._store.metric_exists(name):
                raise MetricNotFoundError(f"No metric is called {name!r}.")
            _, jobs = self._store.metric_counts(name)
            counts = self._store.delete_metric(name)
            summary = {
                "definition": bool(counts["definition"]),
                "specifications": counts["specifications"],
                "series": counts["series"],
                "measurements": counts["measurements"],
                "jobs": jobs,
                "regressions": counts["regressions"],
            }
            entry = self._audit.add(actor, "metric.delete", name, summary, now)
            self._session.commit()
        except IntegrityError:
            self._session.rollback()
            raise ConflictError(
                f"A job measuring {name} was being stored while the metric was deleted;"
                " nothing was deleted: try again."
            ) from None
        except BaseException:
            self._session.rollback()
            raise
        if self._ingest_cache is not None:
            self._ingest_cache.sync(entry.id)
        return entry

    def _forget_artifact_content(self, hashes: set[str]) -> None:
        """Remove content files no artifact row uses any more (after the commit)."""
        with read_transaction(self._session):
            unused = self._artifacts.unreferenced(hashes)
        for sha256 in unused:
            try:
                self._content.delete(sha256)
            except OSError as exc:  # the rows are gone; a file left is only space
                logger.warning("Could not remove artifact content %s: %s", sha256, exc)
