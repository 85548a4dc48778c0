"""The decisions behind the SQuaSH-compatible API, so lsst.verify's dispatch_verify.py works.

SQuaSH (lsst-sqre/squash-rest-api) semantics kept: ``POST /auth`` hands out the token
``POST /job`` accepts as ``Authorization: JWT <token>``; a job upload answers 202 with
a status URL; jobs, measurements, metrics and specifications read back in SQuaSH's
shapes. Differences, on purpose: the password is a Vigil API token of the user; a job
is ingested at once, so its status is SUCCESS as soon as the upload is answered; a NaN
measurement reads back as null (SQuaSH stored 0); sending the same job twice stores it
once; lists are bounded by ``page_size_max`` and say when they are truncated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from ..config import Settings
from ..database import read_transaction
from ..domain import (
    JobSummary,
    Measurement,
    MetricInfo,
    Package,
    SpecificationInfo,
    User,
)
from ..domain.numbers import parse_decimal
from ..exceptions import (
    AuthenticationError,
    InvalidJobError,
    InvalidRequestError,
    JobNotFoundError,
    MetricNotFoundError,
    NotFoundError,
    SpecificationNotFoundError,
)
from ..storage.jobs import JobStore
from ..storage.metrics import MetricStore, SpecificationStore
from ..storage.squash import MonitorRow, SquashStore
from ._cursors import int_cursor
from .auth import AuthService
from .jobs import JobService

__all__ = [
    "MONITOR_PERIODS",
    "SquashCodeChanges",
    "SquashDefaults",
    "SquashJob",
    "SquashMeasurement",
    "SquashPage",
    "SquashService",
    "SquashStats",
    "SquashSubmission",
]

MONITOR_PERIODS: dict[str, timedelta | None] = {
    "Last Month": timedelta(weeks=4),
    "Last 6 Months": timedelta(weeks=26),
    "Last Year": timedelta(weeks=52),
    "All": None,
}
"""The ``period`` values of ``GET /monitor``; SQuaSH's default was the last month."""

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class SquashSubmission:
    """The result of ``POST /job``: the job, and whether this upload created it."""

    job_id: int
    created: bool
    measurement_count: int


@dataclass(slots=True)
class SquashMeasurement:
    """A measurement with the identifiers and names of the blobs it refers to."""

    measurement: Measurement
    blobs: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass(slots=True)
class SquashJob:
    """A job as SQuaSH returned it: metadata with packages and env, and measurements."""

    summary: JobSummary
    meta: dict[str, Any]
    packages: list[Package]
    measurements: list[SquashMeasurement]
    measurements_truncated: bool


@dataclass(slots=True)
class SquashPage(Generic[T]):
    """One page of a list; ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None

    @property
    def truncated(self) -> bool:
        """Whether more items follow."""
        return self.next_cursor is not None


@dataclass(slots=True)
class SquashCodeChanges:
    """The packages of a CI run that are new or changed since the previous run."""

    job_id: int | None
    previous_job_id: int | None
    packages: list[Package]


@dataclass(slots=True)
class SquashDefaults:
    """Display defaults of the SQuaSH apps (``GET /default``)."""

    dataset: str | None
    package: str | None
    metric_per_package: list[tuple[str, str]]
    spec_per_metric: list[tuple[str, str | None]]


@dataclass(slots=True)
class SquashStats:
    """Counts for ``GET /stats``."""

    last_job_created_at: datetime | None
    jobs: int
    metrics: int
    measurements: int


class SquashService:
    """Serves the SQuaSH surface; each public call owns its transaction.

    Parameters
    ----------
    session
        The database session shared with *job_service* and *auth_service*.
    settings
        Server settings (``page_size_max``).
    job_service
        Ingests uploaded jobs.
    auth_service
        Checks API tokens.
    store, jobs, metrics, specs
        The stores it works on.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        job_service: JobService,
        auth_service: AuthService,
        *,
        store: SquashStore,
        jobs: JobStore,
        metrics: MetricStore,
        specs: SpecificationStore,
    ) -> None:
        self._session = session
        self._settings = settings
        self._job_service = job_service
        self._auth = auth_service
        self._store = store
        self._jobs = jobs
        self._metrics = metrics
        self._specs = specs

    # Helpers ------------------------------------------------------------------------------

    def page_limit(self, limit: int | None) -> int:
        """The page size to use for a requested *limit* (default and cap: page_size_max).

        Raises
        ------
        InvalidRequestError
            *limit* is below 1.
        """
        cap = self._settings.page_size_max
        if limit is None:
            return cap
        if limit < 1:
            raise InvalidRequestError("limit must be at least 1.", field="limit")
        return min(limit, cap)

    def _read(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run a store read and end its transaction."""
        with read_transaction(self._session):
            return fn(*args, **kwargs)

    # Writes -------------------------------------------------------------------------------

    def access_token(self, username: str, password: str) -> str:
        """The access token for ``POST /auth``: the API token itself, once checked.

        Raises
        ------
        AuthenticationError
            The password is not a valid API token of the user *username*.
        """
        if not username.strip():
            raise AuthenticationError("The username is empty; give your Vigil user name.")
        try:
            user = self._auth.authenticate(password)
        except AuthenticationError as exc:
            raise AuthenticationError(
                f"Invalid credentials for {username!r}: the password must be a valid Vigil"
                f" API token of that user ({exc.message} Create one with"
                f" `vigil token create {username}`.)",
                field="password",
            ) from None
        if user.name != username:
            raise AuthenticationError(
                f"Invalid credentials: the token given as password does not belong to"
                f" {username!r}; set SQUASH_USER to the token's owner or use a token of"
                f" {username!r}.",
                field="username",
            )
        return password

    def submit_job(self, payload: Any, user: User) -> SquashSubmission:
        """Store a job uploaded by dispatch_verify (SQuaSH's ``measurements``/``meta``).

        Raises
        ------
        InvalidJobError
            The body is not a job; the message names the field.
        """
        if not isinstance(payload, dict):
            raise InvalidJobError(
                f"The body must be a JSON object with 'measurements' and 'meta', not"
                f" {type(payload).__name__}.",
                field="body",
            )
        for name, kind in (("measurements", list), ("meta", dict)):
            if name not in payload:
                raise InvalidJobError(f"Field {name} is missing.", field=name)
            if not isinstance(payload[name], kind):
                raise InvalidJobError(
                    f"Field {name} must be a JSON {'array' if kind is list else 'object'}.",
                    field=name,
                )
        env = payload["meta"].get("env")
        if env is not None and (not isinstance(env, dict) or "env_name" not in env):
            # SQuaSH's rule: an env block must say which environment it describes.
            raise InvalidJobError("Field meta.env needs an 'env_name'.", field="meta.env.env_name")
        result = self._job_service.ingest(payload, user)
        return SquashSubmission(result.id, result.created, result.measurement_count)

    def task_status(self, task_id: str) -> int:
        """The job a task id of ``POST /job`` stands for (its upload is complete).

        Raises
        ------
        NotFoundError
            No upload had this task id.
        """
        job_id = parse_decimal(task_id)
        if job_id is None or not self._read(self._store.job_exists, job_id):
            raise NotFoundError(f"No upload task has the id {task_id!r}.", field="task_id")
        return job_id

    # Jobs -------------------------------------------------------------------------------

    def job_ids(self, *, limit: int | None, cursor: str | None) -> SquashPage[int]:
        """Job ids in ascending order, one page."""
        size = self.page_limit(limit)
        ids: list[int] = self._read(
            self._store.job_ids, after_id=int_cursor(cursor), limit=size + 1
        )
        return SquashPage(ids[:size], str(ids[size - 1]) if len(ids) > size else None)

    def get_job(self, job_id: int) -> SquashJob:
        """A job with its packages and (up to page_size_max) measurements.

        Raises
        ------
        JobNotFoundError
            No job has this id.
        """
        with read_transaction(self._session):
            summary = self._jobs.get_summary(job_id)
            if summary is None:
                raise JobNotFoundError(f"Job `{job_id}` not found.", field="job_id")
            size = self._settings.page_size_max
            measurements = self._jobs.list_measurements(job_id=job_id, limit=size + 1)
            return SquashJob(
                summary=summary,
                meta=self._jobs.get_meta(job_id),
                packages=self._jobs.list_packages(job_id),
                measurements=self._with_blobs(measurements[:size]),
                measurements_truncated=len(measurements) > size,
            )

    def get_ci_job(self, ci_id: str, ci_name: str | None, environment: str) -> SquashJob:
        """The latest job of a CI run (``GET /jenkins/<ci_id>``).

        Raises
        ------
        JobNotFoundError
            No job of *environment* has this run id (and CI job name).
        """
        job_id = self._read(self._store.find_ci_job, environment, ci_id, ci_name)
        if job_id is None:
            named = f" of {ci_name!r}" if ci_name else ""
            raise JobNotFoundError(
                f"No {environment} job has the run id {ci_id!r}{named}.", field="ci_id"
            )
        return self.get_job(int(job_id))

    def code_changes(self, ci_id: str, ci_name: str | None, environment: str) -> SquashCodeChanges:
        """Packages new or changed in a CI run since the previous run of the same CI job.

        The previous run is the latest job received before it in the same environment
        and CI job (``ci_name``) with another run id. Without a current or a previous
        run the list is empty, as in SQuaSH.
        """
        with read_transaction(self._session):
            current = self._store.find_ci_job(environment, ci_id, ci_name)
            if current is None:
                return SquashCodeChanges(None, None, [])
            facts = self._store.ci_facts(current)
            name = facts[1] if facts else ci_name
            previous = self._store.previous_ci_job(environment, name, ci_id, current)
            if previous is None:
                return SquashCodeChanges(current, None, [])
            before = {p.name: p for p in self._jobs.list_packages(previous)}
            after = self._jobs.list_packages(current)
        changed = [p for p in after if p.name not in before or _differs(before[p.name], p)]
        return SquashCodeChanges(current, previous, changed)

    # Measurements and blobs -----------------------------------------------------------------

    def list_measurements(
        self,
        *,
        job_id: int | None,
        metric: str | None,
        limit: int | None,
        cursor: str | None,
    ) -> SquashPage[SquashMeasurement]:
        """Measurements by id, with blob references, one page.

        Raises
        ------
        JobNotFoundError
            *job_id* is given and no job has it.
        """
        size = self.page_limit(limit)
        with read_transaction(self._session):
            if job_id is not None and not self._store.job_exists(job_id):
                raise JobNotFoundError(f"Job `{job_id}` not found.", field="job_id")
            rows = self._jobs.list_measurements(
                job_id=job_id, metric=metric, after_id=int_cursor(cursor), limit=size + 1
            )
            items = self._with_blobs(rows[:size])
        return SquashPage(items, str(rows[size - 1].id) if len(rows) > size else None)

    def _with_blobs(self, measurements: list[Measurement]) -> list[SquashMeasurement]:
        # The measurements carry their blob identifiers; one query adds the names.
        names = self._store.blob_names([m.job_id for m in measurements])
        return [
            SquashMeasurement(m, [(ref, names.get((m.job_id, ref))) for ref in m.blob_refs])
            for m in measurements
        ]

    def blob_data(self, job_id: int, metric: str, name: str) -> dict[str, Any]:
        """The data of blob *name* of the measurement of *metric* in a job.

        Raises
        ------
        JobNotFoundError, NotFoundError
            No such job, or the job has no such blob.
        """
        with read_transaction(self._session):
            if not self._store.job_exists(job_id):
                raise JobNotFoundError(f"Job `{job_id}` not found.", field="job_id")
            data = self._store.blob_data(job_id, metric, name)
        if data is None:
            raise NotFoundError(
                f"Data blob not found: no measurement of {metric!r} in job {job_id} refers"
                f" to a blob called {name!r}.",
                field="name",
            )
        return data

    def monitor(
        self,
        *,
        dataset: str | None,
        metric: str | None,
        period: str | None,
        limit: int | None,
    ) -> tuple[list[MonitorRow], bool]:
        """Measurements over time for the SQuaSH monitor app, and whether truncated.

        Raises
        ------
        InvalidRequestError
            *period* is not one of `MONITOR_PERIODS`.
        """
        key = period or "Last Month"
        if key not in MONITOR_PERIODS:
            raise InvalidRequestError(
                f"period must be one of {', '.join(map(repr, MONITOR_PERIODS))}; got {period!r}.",
                field="period",
            )
        span = MONITOR_PERIODS[key]
        since = datetime.now(UTC) - span if span is not None else None
        size = self.page_limit(limit)
        rows: list[MonitorRow] = self._read(
            self._store.monitor_rows, dataset=dataset, metric=metric, since=since, limit=size + 1
        )
        return rows[:size], len(rows) > size

    # Definitions ----------------------------------------------------------------------------

    def list_metrics(
        self, *, package: str | None, limit: int | None, cursor: str | None
    ) -> SquashPage[MetricInfo]:
        """Metrics by name, one page."""
        size = self.page_limit(limit)
        items: list[MetricInfo] = self._read(
            self._metrics.list, package=package, after=cursor or None, limit=size + 1
        )
        return SquashPage(items[:size], items[size - 1].name if len(items) > size else None)

    def get_metric(self, name: str) -> MetricInfo:
        """One metric.

        Raises
        ------
        NotFoundError
            No metric has this name.
        """
        metric: MetricInfo | None = self._read(self._metrics.get, name)
        if metric is None:
            raise MetricNotFoundError(f"Metric `{name}` not found.", field="name")
        return metric

    def list_specifications(
        self,
        *,
        metric: str | None,
        dataset_name: str | None,
        filter_name: str | None,
        tag: str | None,
        limit: int | None,
        cursor: str | None,
    ) -> SquashPage[SpecificationInfo]:
        """Specifications by name, filtered as SQuaSH's ``GET /specs``, one page.

        ``dataset_name`` and ``filter_name`` match the keys of the specification's
        metadata query; ``tag`` one of its tags.
        """
        size = self.page_limit(limit)
        items: list[SpecificationInfo] = self._read(
            self._store.list_specifications,
            metric=metric,
            dataset_name=dataset_name,
            filter_name=filter_name,
            tag=tag,
            after=cursor or None,
            limit=size + 1,
        )
        return SquashPage(items[:size], items[size - 1].name if len(items) > size else None)

    def get_specification(self, name: str) -> SpecificationInfo:
        """One specification.

        Raises
        ------
        SpecificationNotFoundError
            No specification has this name.
        """
        spec: SpecificationInfo | None = self._read(self._specs.get, name)
        if spec is None:
            raise SpecificationNotFoundError(
                f"Metric specification `{name}` not found.", field="name"
            )
        return spec

    def datasets(self) -> list[str]:
        """Datasets that jobs ran on."""
        return self._read(self._store.datasets)

    def packages(self) -> list[str]:
        """Packages that define metrics."""
        return self._read(self._store.metric_packages)

    def defaults(self) -> SquashDefaults:
        """Display defaults: first dataset, package, metric per package, spec per metric."""
        with read_transaction(self._session):
            datasets = self._store.datasets()
            per_package = self._store.first_metric_per_package()
            per_metric = self._store.first_spec_per_metric()
        return SquashDefaults(
            dataset=datasets[0] if datasets else None,
            package=per_package[0][0] if per_package else None,
            metric_per_package=per_package,
            spec_per_metric=per_metric,
        )

    def stats(self) -> SquashStats:
        """Counts of jobs, metrics and measurements, and when the last job came."""
        last, jobs, metrics, measurements = self._read(self._store.stats)
        return SquashStats(last, jobs, metrics, measurements)


def _differs(before: Package, after: Package) -> bool:
    return (before.version, before.git_sha, before.git_url) != (
        after.version,
        after.git_sha,
        after.git_url,
    )
