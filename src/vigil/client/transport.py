"""The HTTP client that sends jobs and log batches to a Vigil server, with retries.

``VigilClient`` is the earlier name of `SubmitClient`, kept for the scripts that use it.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from vigil.client._responses import authentication_failure, rejected, rejection
from vigil.client.errors import BatchUnsupportedError, ClientError, ServerUnavailableError
from vigil.client.jobs import dump_job

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "DispatchResult",
    "Outcome",
    "SubmitClient",
    "VigilClient",
]

#: Seconds allowed to one request.
DEFAULT_TIMEOUT = 5.0
#: Retries after the first attempt, for 5xx answers, timeouts and connection errors.
DEFAULT_RETRIES = 3
#: First wait between attempts, in seconds; doubled at each retry (0.5, 1, 2).
DEFAULT_BACKOFF = 0.5
#: Seconds all attempts of one job may take together, waits included.
DEFAULT_TOTAL_TIMEOUT = 10.0

# 408 and 429 say "try later", not "your job is wrong".
_RETRY_STATUSES = frozenset({408, 429})


class Outcome(StrEnum):
    """What happened to a dispatched job."""

    STORED = "stored"
    ALREADY_STORED = "already stored"
    SPOOLED = "spooled"


@dataclass(frozen=True)
class DispatchResult:
    """The fate of one job.

    Attributes
    ----------
    identifier
        The job's idempotency key.
    outcome
        Stored now, stored by an earlier call, or kept in the spool for later.
    measurements
        Number of measurements in the job.
    job_id
        The server's id of the job (None when spooled).
    url
        The job's page on the server (None when spooled).
    spool_path
        The spool file that holds the job (when spooled) or held it (when flushed).
    """

    identifier: str
    outcome: Outcome
    measurements: int
    job_id: int | None = None
    url: str | None = None
    spool_path: Path | None = None

    @property
    def created(self) -> bool:
        """Whether this call stored the job (False when already stored or spooled)."""
        return self.outcome is Outcome.STORED


def _user_agent() -> str:
    try:
        version = metadata.version("vigil")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"vigil-client/{version} httpx/{httpx.__version__}"


class SubmitClient:
    """Send jobs to a Vigil server: ``POST {url}/api/jobs``.

    Answers 5xx, 408 and 429, timeouts and connection errors are retried with
    exponential backoff within a total time budget; other 4xx answers raise at once.

    Parameters
    ----------
    url
        Root URL of the server (``https://vigil.example.org``).
    token
        API token, sent as ``Authorization: Bearer TOKEN``; None sends no header.
    timeout
        Seconds allowed to one request.
    retries
        Retries after the first attempt.
    backoff
        First wait between attempts, in seconds; doubled at each retry.
    total_timeout
        Seconds all attempts of one job may take together.
    compress
        Send the body gzip-compressed (``Content-Encoding: gzip``).
    transport
        An httpx transport, for unusual network set-ups; the default opens connections.

    Examples
    --------
    >>> with SubmitClient("http://127.0.0.1:8000", token="...") as client:  # doctest: +SKIP
    ...     result = client.send_job(job)
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        *,
        backoff: float = DEFAULT_BACKOFF,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        compress: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                f"Server URL {url!r} must start with http:// or https:// "
                "(for example https://vigil.example.org)."
            )
        if retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("timeout must be positive; retries and backoff must not be negative.")
        self.url = url.rstrip("/")
        self.token = token or None
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.total_timeout = total_timeout
        self.compress = compress
        headers = {"User-Agent": _user_agent(), "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._http = httpx.Client(headers=headers, transport=transport, follow_redirects=False)

    @property
    def jobs_url(self) -> str:
        """The endpoint jobs are posted to."""
        return f"{self.url}/api/jobs"

    @property
    def logs_url(self) -> str:
        """The endpoint batches of log records are posted to."""
        return f"{self.url}/api/logs"

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def send_job(self, job: Mapping[str, Any]) -> DispatchResult:
        """Send one job.

        Parameters
        ----------
        job
            The job; it must carry a top-level ``identifier`` (see
            `vigil.client.jobs.ensure_identifier`) so that a retry cannot store it twice.

        Returns
        -------
        DispatchResult
            Stored (201) or already stored (200), with the server's id and page URL.

        Raises
        ------
        RejectedJobError
            The server refused the job (4xx other than 401, 403, 408, 429).
        AuthenticationError
            The token is missing or invalid (401, 403).
        ServerUnavailableError
            Every attempt failed with 5xx, a timeout or a connection error.
        """
        identifier = job.get("identifier")
        if not isinstance(identifier, str) or not identifier:
            raise ValueError("The job has no 'identifier'; call ensure_identifier(job) first.")
        content, headers = self._body(job)
        response = self._post_with_retries(content, headers)
        return self._result(response, job, identifier)

    def send_jobs(self, jobs: Sequence[Mapping[str, Any]]) -> list[DispatchResult | ClientError]:
        """Send several jobs in one request (``POST {url}/api/jobs/batch``).

        Each job is stored all or nothing and once, as by `send_job`; one refused job
        leaves the others stored. A retried request (after a 5xx, a timeout) is safe: the
        jobs stored by the first attempt are answered "already stored".

        Parameters
        ----------
        jobs
            At most 500 jobs, each with a top-level ``identifier``.

        Returns
        -------
        list of DispatchResult or ClientError
            Each job's fate in the order given: its result, or the `RejectedJobError`
            saying why the server refused it.

        Raises
        ------
        BatchUnsupportedError
            The server has no batch endpoint (404 or 405): send the jobs one by one.
        RejectedJobError
            The server refused the request as a whole (a 413 for its size, say).
        AuthenticationError
            The token is missing or invalid (401, 403).
        ServerUnavailableError
            Every attempt failed with 5xx, a timeout or a connection error.
        """
        for job in jobs:
            identifier = job.get("identifier")
            if not isinstance(identifier, str) or not identifier:
                raise ValueError("A job has no 'identifier'; call ensure_identifier(job) first.")
        content, headers = self._body(list(jobs))
        response = self._post_with_retries(content, headers, self.batch_url)
        status = response.status_code
        if status in (401, 403):
            raise authentication_failure(response, token_given=self.token is not None)
        if status in (404, 405):
            raise BatchUnsupportedError(
                f"{self.batch_url} answered {status}: this server takes jobs one by one."
            )
        if status >= 400:
            raise rejection(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        items = body.get("jobs") if isinstance(body, dict) else None
        if status != 200 or not isinstance(items, list) or len(items) != len(jobs):
            raise ClientError(
                f"{self.batch_url} answered {status} {response.reason_phrase} without one"
                f" outcome per job: is {self.url} the root URL of a Vigil server?"
            )
        return [_batch_outcome(job, item) for job, item in zip(jobs, items, strict=True)]

    @property
    def batch_url(self) -> str:
        """The endpoint batches of jobs are posted to."""
        return f"{self.url}/api/jobs/batch"

    def send_log_batch(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """Send one batch of log records (``POST /api/logs``, see `vigil.client.logs`).

        A batch carries its ``source`` and ``sequence``: the server stores it once however
        often it is sent.

        Returns
        -------
        dict
            The server's answer: ``run_id``, ``stored``, ``duplicate``, ``url``.

        Raises
        ------
        RejectedJobError
            The server refused the batch (4xx other than 401, 403, 408, 429).
        AuthenticationError
            The token is missing or invalid (401, 403).
        ServerUnavailableError
            Every attempt failed with 5xx, a timeout or a connection error.
        """
        content, headers = self._body(batch)
        response = self._post_with_retries(content, headers, self.logs_url)
        if response.status_code in (401, 403):
            raise authentication_failure(response, token_given=self.token is not None)
        if response.status_code >= 400:
            raise rejection(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise ClientError(
                f"{self.logs_url} answered {response.status_code} {response.reason_phrase},"
                f" expected 200: is {self.url} the root URL of a Vigil server?"
            )
        return body

    def _body(self, document: Any) -> tuple[bytes, dict[str, str]]:
        """*document* as strict JSON (`dump_job`), compressed when asked, and its headers."""
        content = dump_job(document).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.compress:
            content = gzip.compress(content)
            headers["Content-Encoding"] = "gzip"
        return content, headers

    def _post_with_retries(
        self, content: bytes, headers: dict[str, str], url: str | None = None
    ) -> httpx.Response:
        target = url or self.jobs_url
        start = time.monotonic()
        problem = "could not be reached"
        attempts = 0
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1)
                if time.monotonic() - start + delay >= self.total_timeout:
                    break
                time.sleep(delay)
            remaining = self.total_timeout - (time.monotonic() - start)
            if remaining <= 0:
                break
            attempts += 1
            try:
                response = self._http.post(
                    target,
                    content=content,
                    headers=headers,
                    timeout=min(self.timeout, remaining),
                )
            except httpx.TimeoutException:
                problem = "timed out"
                continue
            except httpx.TransportError as exc:
                problem = f"could not be reached ({type(exc).__name__}: {exc})"
                continue
            if response.status_code >= 500 or response.status_code in _RETRY_STATUSES:
                problem = f"answered {response.status_code} {response.reason_phrase}"
                continue
            return response
        raise ServerUnavailableError(
            f"{target} {problem} after {attempts} attempt{'s' if attempts != 1 else ''}."
        )

    def _result(
        self, response: httpx.Response, job: Mapping[str, Any], identifier: str
    ) -> DispatchResult:
        status = response.status_code
        if status in (401, 403):
            raise authentication_failure(response, token_given=self.token is not None)
        if status >= 400:
            raise rejection(response)
        if status not in (200, 201):
            where = response.headers.get("Location")
            hint = f"; use {where} instead" if where else ""
            raise ClientError(
                f"{self.jobs_url} answered {status} {response.reason_phrase}, expected 200 or "
                f"201: is {self.url} the root URL of a Vigil server{hint}?"
            )
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        # The status says it: 201 stored now, 200 stored before (the body is the same job).
        created = status == 201
        job_id = body.get("id")
        return DispatchResult(
            identifier=str(body.get("identifier") or identifier),
            outcome=Outcome.STORED if created else Outcome.ALREADY_STORED,
            measurements=len(job.get("measurements") or []),
            job_id=job_id if isinstance(job_id, int) else None,
            url=body.get("url") if isinstance(body.get("url"), str) else None,
        )


def _batch_outcome(job: Mapping[str, Any], item: Any) -> DispatchResult | ClientError:
    """One job's fate from its entry in a batch's answer."""
    item = item if isinstance(item, dict) else {}
    status = item.get("status")
    stored = item.get("job") if isinstance(item.get("job"), dict) else {}
    if status in (200, 201) and isinstance(stored.get("id"), int):
        url = stored.get("url")
        return DispatchResult(
            identifier=str(stored.get("identifier") or job["identifier"]),
            outcome=Outcome.STORED if status == 201 else Outcome.ALREADY_STORED,
            measurements=len(job.get("measurements") or []),
            job_id=stored["id"],
            url=url if isinstance(url, str) else None,
        )
    error = item.get("error") if isinstance(item.get("error"), dict) else {}
    if not isinstance(status, int) or not 400 <= status < 500:
        return ClientError(f"The server gave no outcome for job {job['identifier']!r}.")
    code, field = error.get("code"), error.get("field")
    return rejected(
        status,
        code if isinstance(code, str) else None,
        field if isinstance(field, str) else None,
        str(error.get("message") or code or status),
    )


VigilClient = SubmitClient
"""The earlier name of `SubmitClient`."""
