"""Ingest and read jobs: the service behind the native API, the SQuaSH surface and the CLI."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.verify import DocumentError, Job, VerifyError

from ..config import Settings
from ..database import read_transaction
from ..domain import (
    Blob,
    JobDetail,
    JobSummary,
    Measurement,
    Package,
    PackageChange,
    PackageChanges,
    Page,
    User,
    extract_job_facts,
    extract_packages,
    series_key,
)
from ..exceptions import (
    ConflictError,
    InvalidJobError,
    InvalidRequestError,
    JobNotFoundError,
    NotFoundError,
    PayloadTooLargeError,
    VigilError,
)
from ..storage.audit import AuditStore
from ..storage.jobs import JobFilter, JobStore
from ..storage.metrics import MetricStore, SpecificationStore
from ..storage.regressions import AnalysisQueueStore
from ..storage.series import SeriesStore
from ._cursors import int_cursor
from ._group_commit import GroupCommit, Pending
from ._ingest import (
    IngestResult,
    QueuedJob,
    begin_write,
    client_identifier,
    content_hash,
    convertible_units,
    sentence,
    undo,
)
from ._ingest_cache import IngestCache, fingerprint
from ._job_document import check_job_document, check_spec_units
from ._rows import (
    finite,
    metric_row,
    metric_row_changed,
    spec_directions,
    spec_row,
    spec_row_changed,
)
from .worker import analysed

__all__ = [
    "MAX_BATCH_JOBS",
    "IngestResult",
    "JobService",
    "QueuedJob",
    "client_identifier",
    "content_hash",
]

MAX_BATCH_JOBS = 500
"""Jobs one batch request (``POST /api/jobs/batch``) may hold; its bytes are bounded by
``max_request_bytes`` as every request's are."""

logger = logging.getLogger(__name__)


class JobService:
    """Decisions about jobs; owns the transaction of each call.

    Parameters
    ----------
    session
        The database session (this service commits or rolls it back).
    settings
        Server settings (limits).
    cache
        What this process already knows is stored (series ids, definitions).
    group
        This process's group commit: `ingest` writes the jobs of concurrent requests
        together through it. None: each `ingest` commits alone.
    jobs, metrics, specs, series, audit, queue
        The stores it works on.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        cache: IngestCache | None = None,
        group: GroupCommit[QueuedJob] | None = None,
        *,
        jobs: JobStore,
        metrics: MetricStore,
        specs: SpecificationStore,
        series: SeriesStore,
        audit: AuditStore,
        queue: AnalysisQueueStore,
    ) -> None:
        self._session = session
        self._settings = settings
        self._cache = cache if cache is not None else IngestCache()
        self._group = group
        self._jobs = jobs
        self._metrics = metrics
        self._specs = specs
        self._series = series
        self._audit = audit
        self._queue = queue

    # Ingest ---------------------------------------------------------------------------

    def ingest(self, payload: Any, user: User | None) -> IngestResult:
        """Store a job document (lsst.verify Job JSON) once.

        The whole job is stored in one transaction or not at all. Sending the same
        identifier again with the same content (`content_hash`) returns the stored job
        with ``created`` False.

        Raises
        ------
        InvalidJobError
            The document is not a valid job; the error names the field.
        PayloadTooLargeError
            A blob is larger than ``max_blob_bytes``.
        ConflictError
            A job with the same identifier and other content is stored.
        """
        if self._group is None:
            return self.ingest_many([payload], user)[0]
        queued = self._prepare(payload, user, *self._check(payload))
        if isinstance(queued, IngestResult):
            return queued
        result: IngestResult = self._group.run(queued, self._write_batch)
        return result

    def ingest_each(
        self, payloads: Sequence[Any], user: User | None
    ) -> list[IngestResult | VigilError]:
        """Store each job document of *payloads* on its own terms, as `ingest` would.

        Each job is stored all or nothing, and once: its outcome is what `ingest` returns
        for it (the stored job, ``created`` True or False) or the error `ingest` raises
        (invalid, too large, a conflict). One job's error leaves the others stored. The
        jobs are written together (in one transaction when nothing fails), which is what
        makes a batch quicker than as many requests.

        Raises
        ------
        InvalidRequestError
            *payloads* holds no job, or more than `MAX_BATCH_JOBS`; nothing was stored.
        Exception
            Anything but a job's own fault (the database unreachable, say). Sending the
            jobs again is then safe: those stored meanwhile are answered as stored.
        """
        if not payloads:
            raise InvalidRequestError(
                "The batch holds no job; send a JSON array of jobs.", field="body"
            )
        if len(payloads) > MAX_BATCH_JOBS:
            raise InvalidRequestError(
                f"The batch holds {len(payloads)} jobs, more than the {MAX_BATCH_JOBS} allowed"
                " in one request; split it.",
                field="body",
            )
        outcomes: list[IngestResult | VigilError | None] = [None] * len(payloads)
        checked: list[tuple[int, str, str]] = []
        for index, payload in enumerate(payloads):
            try:
                checked.append((index, *self._check(payload)))
            except VigilError as exc:
                outcomes[index] = exc
        # A batch sent again (an import resumed) is mostly stored already: one query
        # finds those, which are answered without being read into a Job.
        with read_transaction(self._session):
            hashes = self._jobs.content_hashes([identifier for _, identifier, _ in checked])
            same = {
                index: self._jobs.get_summary_by_identifier(identifier)
                for index, identifier, digest in checked
                if hashes.get(identifier, "") == digest
            }
        queued: list[tuple[int, QueuedJob]] = []
        for index, identifier, digest in checked:
            existing = same.get(index)
            if existing is not None:
                outcomes[index] = IngestResult(existing, created=False)
                continue
            try:
                prepared = self._prepare(payloads[index], user, identifier, digest)
            except VigilError as exc:
                outcomes[index] = exc
                continue
            if isinstance(prepared, IngestResult):
                outcomes[index] = prepared
            else:
                queued.append((index, prepared))
        items = [item for _, item in queued]
        if self._group is not None:
            pendings = self._group.run_many(items, self._write_batch)
        else:
            pendings = [Pending(item) for item in items]
            self._write_batch(pendings)
        for (index, _), pending in zip(queued, pendings, strict=True):
            if isinstance(pending.error, VigilError):
                outcomes[index] = pending.error
            elif pending.error is not None:
                raise pending.error
            else:
                outcomes[index] = pending.result
        answered = [outcome for outcome in outcomes if outcome is not None]
        assert len(answered) == len(payloads)
        return answered

    def _prepare(
        self, payload: Any, user: User | None, identifier: str, digest: str
    ) -> QueuedJob | IngestResult:
        """A job document ready for the writer, or the job already stored; *identifier*
        and *digest* are what `_check` gave for it.

        Raises
        ------
        InvalidJobError, PayloadTooLargeError, ConflictError
            As `ingest` does.
        """
        try:
            job = self._validate(payload)
        except (InvalidJobError, PayloadTooLargeError):
            # A resent job is what was stored (200) or a conflict (409), whatever it is.
            existing = self._stored_same(identifier, digest)
            if existing is not None:
                return IngestResult(existing, created=False)
            raise
        return QueuedJob(identifier, digest, job, payload, user)

    def _check(self, payload: Any) -> tuple[str, str]:
        """The identifier and content hash of a job document, once its limits are checked."""
        if not isinstance(payload, dict):
            raise InvalidJobError(
                f"A job must be a JSON object, not {type(payload).__name__}.", field="body"
            )
        check_job_document(payload)
        return client_identifier(payload), content_hash(payload)

    def _write_batch(self, batch: list[Pending[QueuedJob]], *, savepoints: bool = False) -> None:
        """Store the queued jobs of *batch* in one transaction, each all or nothing.

        The jobs are first written together without savepoints (two statements fewer a
        job). If one of several fails, the transaction is rolled back and the batch
        written again with each job in a savepoint (*savepoints*): the one that fails (a
        unit that does not convert, a value no column holds) is rolled back alone and its
        request gets its error.
        A job whose identifier is stored already, or was taken meanwhile by another
        process (IntegrityError), is answered after the commit as `ingest` answers a
        resent job: the stored job (200) or a conflict (409).
        """
        session = self._session
        written: list[tuple[Pending[QueuedJob], IngestResult, dict[str, Any]]] = []
        later: list[tuple[Pending[QueuedJob], IntegrityError | None]] = []
        # A job alone in its transaction needs no savepoint: rolling the transaction back
        # undoes it alone.
        alone = len(batch) == 1
        optimistic = not savepoints and not alone
        try:
            begin_write(session)
            self._cache.sync(self._audit.data_generation())
            stored = self._jobs.content_hashes([p.item.identifier for p in batch])
            taken: set[str] = set()
            # The series to analyse, each with the last job of the batch that has it:
            # queued once for the batch, not once for each job.
            waiting: dict[int, int] = {}
            failed = False
            for pending in batch:
                queued = pending.item
                if queued.identifier in stored or queued.identifier in taken:
                    later.append((pending, None))
                    continue
                taken.add(queued.identifier)
                learned: dict[str, Any] = {}
                analyse: dict[int, int] = {}
                savepoint = session.begin_nested() if savepoints and not alone else None
                try:
                    result = self._store(
                        queued.identifier,
                        queued.digest,
                        queued.job,
                        queued.payload,
                        queued.user,
                        learned,
                        analyse,
                    )
                    if savepoint is not None:
                        savepoint.commit()
                except Exception as exc:
                    if optimistic:
                        failed = True
                        break
                    undo(session, savepoint)
                    if isinstance(exc, IntegrityError):
                        later.append((pending, exc))
                    else:
                        pending.fail(exc)
                    continue
                written.append((pending, result, learned))
                waiting.update(analyse)
            if failed:
                session.rollback()
            else:
                self._queue.enqueue_each(waiting, datetime.now(UTC))
                session.commit()
        except BaseException:
            session.rollback()
            raise
        if failed:
            self._write_batch(batch, savepoints=True)
            return
        for pending, result, learned in written:
            self._cache.remember(**learned)
            pending.succeed(result)
        again: list[Pending[QueuedJob]] = []
        for pending, error in later:
            queued = pending.item
            try:
                existing = self._stored_same(queued.identifier, queued.digest)
            except ConflictError as exc:
                pending.fail(exc)
                continue
            if existing is not None:
                pending.succeed(IngestResult(existing, created=False))
            elif error is not None:
                pending.fail(error)
            else:
                # Its twin earlier in the batch failed: this one is written on its own.
                again.append(pending)
        if again:
            self._write_batch(again)

    def ingest_many(self, payloads: Sequence[Any], user: User | None) -> list[IngestResult]:
        """Store several job documents all or none, in one transaction.

        Each document is checked as by `ingest`; those already stored with the same
        content are returned with ``created`` False, the others are stored together. A
        document repeated in *payloads* is stored once.

        Raises
        ------
        InvalidJobError, PayloadTooLargeError
            A document is not a valid job; nothing was stored.
        ConflictError
            A job with the identifier of one of them and other content is stored, or
            two of them share an identifier with different content.
        """
        prepared: list[tuple[str, str, dict[str, Any]]] = []
        for payload in payloads:
            prepared.append((*self._check(payload), payload))
        first: dict[str, tuple[str, int]] = {}
        for i, (identifier, digest, _) in enumerate(prepared):
            seen = first.setdefault(identifier, (digest, i))
            if seen[0] != digest:
                raise ConflictError(
                    f"Two jobs of this request share the identifier {identifier!r} with"
                    " different content; nothing was stored.",
                    field="identifier",
                )
        results: dict[str, IngestResult] = {}
        pending: list[tuple[str, str, Job, dict[str, Any]]] = []
        for identifier, digest, payload in prepared:
            if identifier in results or any(p[0] == identifier for p in pending):
                continue
            existing = self._stored_same(identifier, digest)
            if existing is not None:
                results[identifier] = IngestResult(existing, created=False)
            else:
                pending.append((identifier, digest, self._validate(payload), payload))
        if pending:
            learned_all: list[dict[str, Any]] = []
            try:
                self._cache.sync(self._audit.data_generation())
                waiting: dict[int, int] = {}
                for identifier, digest, job, payload in pending:
                    learned: dict[str, Any] = {}
                    results[identifier] = self._store(
                        identifier, digest, job, payload, user, learned, waiting
                    )
                    learned_all.append(learned)
                self._queue.enqueue_each(waiting, datetime.now(UTC))
                self._session.commit()
                for learned in learned_all:
                    self._cache.remember(**learned)
            except IntegrityError:
                # Another request stored one of them first: all were stored there with
                # the same content, or this request fails as a whole.
                self._session.rollback()
                for identifier, digest, _, _ in pending:
                    existing = self._stored_same(identifier, digest)
                    if existing is None:
                        raise
                    results[identifier] = IngestResult(existing, created=False)
            except BaseException:
                self._session.rollback()
                raise
        return [results[identifier] for identifier, _, _ in prepared]

    def _stored_same(self, identifier: str, digest: str) -> JobSummary | None:
        """The job stored under *identifier* if its content is *digest*'s, else None.

        Raises
        ------
        ConflictError
            A job with this identifier was stored with other content. Jobs stored
            before content hashes were kept (NULL) are taken as the same.
        """
        with read_transaction(self._session):
            found, stored = self._jobs.content_hash_by_identifier(identifier)
            existing = self._jobs.get_summary_by_identifier(identifier) if found else None
        if existing is not None and stored is not None and stored != digest:
            raise ConflictError(
                f"A job with the identifier {identifier!r} is already stored, with other"
                " measurements, meta or blobs than this one; nothing was stored. Send new"
                " results under a new identifier (Vigil's dispatch client makes one per"
                " job), or the same content again to get the stored job.",
                field="identifier",
            )
        return existing

    def _validate(self, payload: dict[str, Any]) -> Job:
        try:
            job = Job.from_dict(payload)
        except DocumentError as exc:
            raise InvalidJobError(sentence(exc.reason, exc.field), field=exc.field) from None
        except VerifyError as exc:
            raise InvalidJobError(str(exc)) from None
        check_spec_units(payload)
        if not job.measurements:
            raise InvalidJobError(
                "A job needs at least one measurement; this one has none.", field="measurements"
            )
        limit = self._settings.max_blob_bytes
        for i, blob in enumerate(payload.get("blobs") or []):
            size = len(orjson.dumps(blob, option=orjson.OPT_NON_STR_KEYS))
            if size > limit:
                raise PayloadTooLargeError(
                    f"Blob {i} is {size} bytes of JSON; the limit is {limit} bytes"
                    " (VIGIL_MAX_BLOB_BYTES). Store large data as an artifact instead.",
                    field=f"blobs[{i}]",
                )
        return job

    def _store(
        self,
        identifier: str,
        content: str,
        job: Job,
        payload: dict[str, Any],
        user: User | None,
        learned: dict[str, Any],
        analyse: dict[int, int],
    ) -> IngestResult:
        # The caller has passed the data generation to the cache (`IngestCache.sync`) in
        # this transaction: a job or metric deleted by any process makes it forget. It
        # queues the series put in *analyse* (each with its job) for the analysis.
        now = datetime.now(UTC)
        cache = self._cache
        directions = spec_directions(job.specs.values())

        # Definitions the job carries, unless this process knows them stored as they are.
        metric_rows = {}
        definitions: dict[tuple[str, str], bytes] = {}
        for name, metric in job.metrics.items():
            row = metric_row(metric, directions.get(name), now)
            digest = fingerprint(row)
            if not cache.known_definition("metrics", name, digest):
                metric_rows[name] = row
                definitions[("metrics", name)] = digest
        measured = {m.metric for m in job.measurements}
        unknown_units = {
            n for n in measured if n not in job.metrics and n not in cache.metric_units
        }
        stored_metrics = self._metrics.get_many(set(metric_rows) | unknown_units)

        # Units: each measurement must convert to its metric's unit.
        units: dict[str, str] = {name: m.unit for name, m in job.metrics.items()}
        learned_units: dict[str, str] = {}
        new_metrics: dict[str, dict[str, Any]] = {}
        for i, m in enumerate(job.measurements):
            unit = units.get(m.metric)
            if unit is None:
                unit = cache.metric_units.get(m.metric)
            if unit is None and m.metric in stored_metrics:
                unit = stored_metrics[m.metric].unit
                learned_units[m.metric] = unit
            if unit is None:
                units[m.metric] = m.unit
                learned_units[m.metric] = m.unit
                new_metrics[m.metric] = {
                    "name": m.metric,
                    "package": m.metric.split(".", 1)[0] if "." in m.metric else None,
                    "description": None,
                    "unit": m.unit,
                    "tags": [],
                    "reference": {},
                    "direction": directions.get(m.metric),
                    "updated_at": now,
                }
            elif m.unit != unit and not convertible_units(m.unit, unit):
                raise InvalidJobError(
                    f"Measurement {i} of {m.metric} is in '{m.unit}', which does not convert"
                    f" to the metric's unit '{unit or 'dimensionless'}'.",
                    field=f"measurements[{i}].unit",
                )
        learned_units.update(units)

        meta = {k: v for k, v in job.meta.items() if k != "packages"}
        facts = extract_job_facts(job.meta)
        job_id = self._jobs.insert_job(
            identifier, now, facts, meta, user.id if user is not None else None, content
        )

        self._metrics.upsert(
            [r for n, r in metric_rows.items() if metric_row_changed(r, stored_metrics.get(n))]
        )
        self._metrics.insert_missing(list(new_metrics.values()))

        spec_rows = {}
        for spec in job.specs.values():
            row = spec_row(spec, now)
            digest = fingerprint(row)
            if not cache.known_definition("specifications", spec.name, digest):
                spec_rows[spec.name] = row
                definitions[("specifications", spec.name)] = digest
        if spec_rows:
            stored_specs = self._specs.get_many(spec_rows)
            self._specs.upsert(
                [r for n, r in spec_rows.items() if spec_row_changed(r, stored_specs.get(n))]
            )

        series_rows: dict[str, dict[str, Any]] = {}
        keys = []
        for m in job.measurements:
            key = series_key(m.metric, facts.dataset, facts.instrument, m.data_id)
            keys.append(key)
            if key not in series_rows:
                series_rows[key] = {
                    "series_key": key,
                    "metric_name": m.metric,
                    "dataset": facts.dataset,
                    "instrument": facts.instrument,
                    "data_id": m.data_id,
                }
        series_ids = {k: cache.series_ids[k] for k in series_rows if k in cache.series_ids}
        missing_series = {k: row for k, row in series_rows.items() if k not in series_ids}
        if missing_series:
            series_ids.update(self._series.ensure(missing_series))

        measurement_ids = self._jobs.insert_measurements(
            [
                {
                    "job_id": job_id,
                    "series_id": series_ids[key],
                    "metric_name": m.metric,
                    "identifier": m.identifier[:64] if m.identifier else None,
                    "value": finite(m.value),
                    "unit": m.unit,
                    "data_id": m.data_id,
                    "notes": m.notes,
                }
                for m, key in zip(job.measurements, keys, strict=True)
            ]
        )

        blobs = list(job.blobs.values())
        blob_ids = self._jobs.insert_blobs(
            [
                {
                    "job_id": job_id,
                    "identifier": b.identifier,
                    "name": b.name,
                    "data": b.to_dict()["data"],
                }
                for b in blobs
            ]
        )
        blob_id_of = {b.identifier: bid for b, bid in zip(blobs, blob_ids, strict=True)}
        links = []
        for m, mid in zip(job.measurements, measurement_ids, strict=True):
            for ref in dict.fromkeys(m.blob_refs):
                blob_id = blob_id_of.get(ref)
                if blob_id is not None:
                    links.append({"measurement_id": mid, "blob_id": blob_id})
        self._jobs.insert_measurement_blobs(links)
        self._jobs.insert_packages(job_id, extract_packages(job.meta))
        if analysed(self._settings, facts.branch):
            analyse.update(dict.fromkeys(series_ids.values(), job_id))
        learned.update(
            series_ids={k: series_ids[k] for k in missing_series},
            metric_units=learned_units,
            definitions=definitions,
        )

        summary = JobSummary(
            id=job_id,
            identifier=identifier,
            created_at=now,
            facts=facts,
            submitted_by=user.name if user is not None else None,
            measurement_count=len(measurement_ids),
        )
        return IngestResult(summary, created=True)

    # Reads ----------------------------------------------------------------------------

    def get_job(self, job_id: int) -> JobDetail:
        """A job with its metadata, packages and measurements."""
        summary = self._require(job_id)
        detail = JobDetail(
            summary=summary,
            meta=self._jobs.get_meta(job_id),
            packages=self._jobs.list_packages(job_id),
            measurements=self._jobs.list_measurements(job_id=job_id),
        )
        self._session.rollback()
        return detail

    def get_summary(self, job_id: int) -> JobSummary:
        """A job without its measurements."""
        summary = self._require(job_id)
        self._session.rollback()
        return summary

    def get_by_identifier(self, identifier: str) -> JobSummary:
        """The job stored under a client identifier."""
        summary = self._jobs.get_summary_by_identifier(identifier)
        self._session.rollback()
        if summary is None:
            raise JobNotFoundError(f"No job has the identifier {identifier!r}.")
        return summary

    def list_jobs(
        self, filters: JobFilter, *, limit: int, cursor: str | None = None
    ) -> Page[JobSummary]:
        """Jobs matching *filters*, newest first, one page."""
        before = int_cursor(cursor)
        items = self._jobs.list_summaries(filters, limit=limit + 1, before_id=before)
        self._session.rollback()
        next_cursor = str(items[limit - 1].id) if len(items) > limit else None
        return Page(items[:limit], next_cursor)

    def list_measurements(
        self,
        *,
        job_id: int | None = None,
        metric: str | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> Page[Measurement]:
        """Measurements by id, one page."""
        after = int_cursor(cursor)
        items = self._jobs.list_measurements(
            job_id=job_id, metric=metric, after_id=after, limit=limit + 1
        )
        self._session.rollback()
        next_cursor = str(items[limit - 1].id) if len(items) > limit else None
        return Page(items[:limit], next_cursor)

    def list_blobs(self, job_id: int) -> list[Blob]:
        """The blobs of a job."""
        self._require(job_id)
        blobs = self._jobs.list_blobs(job_id)
        self._session.rollback()
        return blobs

    def get_blob(self, job_id: int, identifier: str) -> Blob:
        """One blob of a job."""
        self._require(job_id)
        blob = self._jobs.get_blob(job_id, identifier)
        self._session.rollback()
        if blob is None:
            raise NotFoundError(f"Job {job_id} has no blob {identifier!r}.")
        return blob

    def package_changes(self, base_job_id: int, job_id: int) -> PackageChanges:
        """The packages added, changed and removed from *base_job_id* to *job_id*."""
        self._require(base_job_id)
        self._require(job_id)
        before = {p.name: p for p in self._jobs.list_packages(base_job_id)}
        after = {p.name: p for p in self._jobs.list_packages(job_id)}
        self._session.rollback()
        return PackageChanges(
            base_job_id=base_job_id,
            job_id=job_id,
            added=[after[n] for n in sorted(after.keys() - before.keys())],
            removed=[before[n] for n in sorted(before.keys() - after.keys())],
            changed=[
                PackageChange(n, before[n], after[n])
                for n in sorted(before.keys() & after.keys())
                if _package_differs(before[n], after[n])
            ],
        )

    def _require(self, job_id: int) -> JobSummary:
        summary = self._jobs.get_summary(job_id)
        if summary is None:
            self._session.rollback()
            raise JobNotFoundError(f"No job has the id {job_id}.")
        return summary


def _package_differs(a: Package, b: Package) -> bool:
    return (a.version, a.git_sha, a.git_url) != (b.version, b.git_sha, b.git_url)
