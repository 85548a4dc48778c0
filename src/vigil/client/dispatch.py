"""Prepare a job for the server (merge, enrich) and send it, or keep it for later."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vigil.client.environment import detect_environment
from vigil.client.errors import ServerUnavailableError
from vigil.client.git import git_metadata
from vigil.client.jobs import ensure_identifier, load_job, merge_jobs, without_blobs
from vigil.client.packages import installed_packages, packages_from_file
from vigil.client.spool import FlushReport, Spool, default_spool_dir
from vigil.client.transport import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    DispatchResult,
    Outcome,
    SubmitClient,
)

__all__ = ["JobSender", "dispatch", "prepare_job", "send_or_spool", "spool_job"]

_LOG = logging.getLogger(__name__)

JobSource = Mapping[str, Any] | str | Path


def _as_job(source: JobSource) -> dict[str, Any]:
    if isinstance(source, str | Path):
        return load_job(source)
    return copy.deepcopy(dict(source))


def prepare_job(
    jobs: JobSource | Sequence[JobSource],
    *,
    environ: Mapping[str, str] | None = None,
    env_name: str | None = None,
    date_created: str | None = None,
    git_dir: str | Path | None = ".",
    packages: bool = True,
    packages_from: Sequence[str | Path] = (),
    ignore_blobs: bool = False,
) -> dict[str, Any]:
    """Merge jobs and add what is known about where they ran, as ``dispatch_verify`` did.

    Adds ``meta.env`` (see `detect_environment`), ``meta.git`` (see `git_metadata`),
    ``meta.packages`` (see `installed_packages`, `packages_from_file`) and a
    top-level ``identifier``. What the job already carries wins: an existing
    ``meta.env`` is kept unless *env_name* forces one, git fields and packages
    already present are not overwritten.

    Parameters
    ----------
    jobs
        One job or several (dicts or paths of Job JSON files), merged with `merge_jobs`.
    environ
        Environment variables to read CI facts from; `os.environ` when None.
    env_name
        Force this environment instead of detecting it.
    date_created
        Creation time of the job (ISO 8601, UTC); now when None.
    git_dir
        Working tree to describe in ``meta.git``; None to skip git.
    packages
        Add the installed Python distributions to ``meta.packages``.
    packages_from
        lsstsw ``repos.yaml``, ``manifest.txt`` or ``eups list`` files to read package
        versions from; they take precedence over installed distributions.
    ignore_blobs
        Drop blobs (and measurements' references to them).

    Returns
    -------
    dict
        The job to send; the inputs are not modified.
    """
    sources = [jobs] if isinstance(jobs, Mapping | str | Path) else list(jobs)
    job = merge_jobs([_as_job(source) for source in sources])
    environ = os.environ if environ is None else environ
    if ignore_blobs:
        job = without_blobs(job)
    meta = job.setdefault("meta", {})

    if env_name is not None or "env" not in meta:
        meta["env"] = detect_environment(environ, env_name=env_name, date=date_created)

    if git_dir is not None:
        git = git_metadata(git_dir, environ=environ)
        if git:
            meta["git"] = {**git, **(meta.get("git") or {})}

    found: dict[str, dict[str, Any]] = installed_packages() if packages else {}
    for listing in packages_from:
        for name, record in packages_from_file(listing).items():
            found[name] = _combine(found.get(name), record)
    if found:
        meta["packages"] = {**found, **(meta.get("packages") or {})}

    ensure_identifier(job)
    return job


def _combine(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Field by field, the new listing's known values win (repos.yaml + manifest.txt)."""
    if old is None:
        return new
    return {**old, **{key: value for key, value in new.items() if value is not None}}


def send_or_spool(
    client: SubmitClient, job: Mapping[str, Any], spool: Spool | None
) -> DispatchResult:
    """Send *job*; if the server is unavailable, keep it in *spool* for the next call.

    Parameters
    ----------
    client
        Sends the job.
    job
        The job, with its ``identifier``.
    spool
        Where to keep the job if it cannot be sent; None to raise instead.

    Returns
    -------
    DispatchResult
        Stored, already stored, or spooled.

    Raises
    ------
    RejectedJobError, AuthenticationError
        The job or the token is wrong: nothing is spooled.
    ServerUnavailableError
        The server is unavailable and *spool* is None.
    """
    return JobSender(client, spool).send(job)


class JobSender:
    """Sends jobs through one client and keeps in the spool what the server cannot take.

    The spool is flushed first, so that jobs reach the server in the order they were
    made. Once the server is found unavailable, later jobs go to the spool without
    another attempt: a server that is down is not waited for twice in one call.

    Parameters
    ----------
    client
        Sends the jobs.
    spool
        Where jobs wait while the server is unavailable; None to raise instead.

    Attributes
    ----------
    unavailable
        Why the server was found unavailable during this call, or None; set it when
        another request (a log batch) finds the server down.
    """

    def __init__(self, client: SubmitClient, spool: Spool | None) -> None:
        self._client = client
        self._spool = spool
        self.unavailable: str | None = None

    def flush(self) -> FlushReport:
        """Send the jobs waiting in the spool (there must be one)."""
        assert self._spool is not None
        report = self._spool.flush(self._client)
        if isinstance(report.error, ServerUnavailableError):
            self.unavailable = report.error.message
        return report

    def send(self, job: Mapping[str, Any]) -> DispatchResult:
        """Send *job*, or spool it if the server is (or was found) unavailable.

        Raises
        ------
        RejectedJobError, AuthenticationError
            The job or the token is wrong: nothing is spooled.
        ServerUnavailableError
            The server is unavailable and there is no spool.
        """
        if self.unavailable is not None and self._spool is not None:
            return spool_job(self._spool, job, reason=self.unavailable)
        try:
            return self._client.send_job(job)
        except ServerUnavailableError as exc:
            if self._spool is None:
                raise
            self.unavailable = exc.message
            return spool_job(self._spool, job, reason=exc.message)


def spool_job(spool: Spool, job: Mapping[str, Any], *, reason: str) -> DispatchResult:
    """Keep *job* in *spool* without trying to send it.

    Parameters
    ----------
    spool
        The spool.
    job
        The job, with its ``identifier``.
    reason
        Why it is spooled (logged).

    Returns
    -------
    DispatchResult
        A spooled result.
    """
    path = spool.put(job)
    _LOG.info("Job %s spooled to %s: %s", job["identifier"], path, reason)
    return DispatchResult(
        identifier=str(job["identifier"]),
        outcome=Outcome.SPOOLED,
        measurements=len(job.get("measurements") or []),
        spool_path=path,
    )


def dispatch(
    job: JobSource | Sequence[JobSource],
    url: str,
    token: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    compress: bool = False,
    spool: Spool | str | Path | None = None,
    use_spool: bool = True,
    **prepare: Any,
) -> DispatchResult:
    """Prepare and send a job, the way ``vigil dispatch`` does, from a script.

    Jobs left in the spool by earlier calls are sent first. If the server is
    unavailable, the job is spooled and the result says so.

    Parameters
    ----------
    job
        A job dict, a Job JSON path, or several of them (merged).
    url
        Root URL of the Vigil server.
    token
        API token.
    timeout, retries, backoff
        See `SubmitClient`.
    compress
        Gzip the request body.
    spool
        Spool directory; `default_spool_dir` when None.
    use_spool
        When False, neither flush nor spool: raise `ServerUnavailableError` instead.
    **prepare
        Passed to `prepare_job` (``env_name``, ``git_dir``, ``packages``...).

    Returns
    -------
    DispatchResult
        Stored, already stored, or spooled.

    Raises
    ------
    RejectedJobError, AuthenticationError, JobFileError
        A mistake to fix: nothing is spooled.
    """
    prepared = prepare_job(job, **prepare)
    the_spool = None
    if use_spool:
        the_spool = spool if isinstance(spool, Spool) else Spool(spool or default_spool_dir())
    with SubmitClient(url, token, timeout, retries, backoff=backoff, compress=compress) as client:
        sender = JobSender(client, the_spool)
        if the_spool is not None:
            report = sender.flush()
            for sent in report.sent:
                _LOG.info("Spooled job %s %s", sent.identifier, sent.outcome)
            for rejected in report.rejected:
                _LOG.warning("Spooled job %s rejected: %s", rejected.path, rejected.reason)
        return sender.send(prepared)
