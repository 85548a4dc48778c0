"""Bulk-load history into a Vigil server: folders of job files and SQuaSH exports.

What is read (``vigil import PATH``), file by file under PATH (recursively, in name
order):

- ``*.json``: one lsst.verify Job document (bare ``NaN`` accepted), one SQuaSH job
  document (what SQuaSH's ``GET /job/<id>`` answers: ``id``, ``date_created``,
  ``measurements``, ``meta``), or a JSON array of such documents (a SQuaSH export).
- ``*.jsonl``: one document of either kind per line.

Every job is sent with an identifier, so that importing again stores nothing twice: its
own ``identifier`` if it has one, ``squash-<id>`` for a SQuaSH document, else one
derived from the file's path under PATH (and its line in a ``.jsonl`` file).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.client.errors import (
    AuthenticationError,
    BatchUnsupportedError,
    ClientError,
    JobFileError,
    RejectedJobError,
    ServerUnavailableError,
)
from vigil.client.jobs import JOB_LIST_KEYS
from vigil.client.transport import DispatchResult, Outcome, SubmitClient

__all__ = [
    "DEFAULT_BATCH",
    "IMPORT_SUFFIXES",
    "MAX_BATCH",
    "ImportDocument",
    "ImportReport",
    "find_documents",
    "import_documents",
    "squash_job",
]

IMPORT_SUFFIXES = (".json", ".jsonl")
"""The files `find_documents` reads; others are left alone."""

DEFAULT_BATCH = 50
"""Jobs `import_documents` sends in one request unless told otherwise."""

MAX_BATCH = 500
"""Jobs a server takes in one request (``POST /api/jobs/batch``)."""

# Measurement keys of a SQuaSH export that a Job measurement carries over; ``blobs``
# there are references to SQuaSH's object store, not the blob data.
_SQUASH_MEASUREMENT_KEYS = ("metric", "value", "unit", "identifier", "data_id", "notes")


@dataclass(frozen=True)
class ImportDocument:
    """One job read from a file, or why it could not be read.

    Attributes
    ----------
    origin
        Where it comes from: the file, with ``:LINE`` in a ``.jsonl`` file or ``[INDEX]``
        in an array.
    job
        The job, ready to send (with its identifier); None when unreadable.
    error
        Why the document cannot be imported; None when it can.
    """

    origin: str
    job: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class ImportReport:
    """What an import did.

    Attributes
    ----------
    stored
        Jobs stored by this import.
    already_there
        Jobs the server already had (same identifier).
    failed
        ``(origin, reason)`` of every document not imported.
    measurements
        Measurements in the jobs stored by this import.
    stopped
        Why the import stopped before the end (server unavailable, token refused).
    """

    stored: int = 0
    already_there: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    measurements: int = 0
    stopped: str | None = None

    @property
    def done(self) -> int:
        """Documents handled: stored, already there or failed."""
        return self.stored + self.already_there + len(self.failed)


def squash_job(document: Mapping[str, Any]) -> dict[str, Any]:
    """The Job of a SQuaSH job document (``GET /job/<id>``).

    Its identifier is ``squash-<id>``; ``date_created`` becomes ``meta.date`` when the
    metadata has no date of its own; measurement blob references (SQuaSH's object
    store) are left out.

    Raises
    ------
    JobFileError
        The export holds only part of the job's measurements (``measurements_truncated``).
    """
    if document.get("measurements_truncated"):
        raise JobFileError(
            f"SQuaSH job {document['id']} was exported with part of its measurements"
            " (measurements_truncated): export it with /measurement/<id> pages merged in."
        )
    meta = dict(document.get("meta") or {})
    env: dict[str, Any] = meta["env"] if isinstance(meta.get("env"), dict) else {}
    if document.get("date_created") and not (meta.get("date") or env.get("date")):
        meta["date"] = document["date_created"]
    if document.get("ci_dataset") and not (meta.get("dataset") or env.get("ci_dataset")):
        meta["dataset"] = document["ci_dataset"]
    measurements = [
        {key: m[key] for key in _SQUASH_MEASUREMENT_KEYS if key in m}
        for m in document.get("measurements") or []
        if isinstance(m, dict)
    ]
    return {
        "identifier": f"squash-{document['id']}",
        "measurements": measurements,
        "blobs": [],
        "metrics": [],
        "specs": [],
        "meta": meta,
    }


def _is_squash(document: Mapping[str, Any]) -> bool:
    return isinstance(document.get("id"), int) and "date_created" in document


def _derived_identifier(origin: str) -> str:
    digest = hashlib.sha256(origin.encode("utf-8")).hexdigest()[:40]
    return f"import-{digest}"


def _job_of(document: Any, origin: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise JobFileError(
            f"not a Job: expected a JSON object with 'measurements' and 'meta',"
            f" got {type(document).__name__}"
        )
    if _is_squash(document):
        return squash_job(document)
    if not isinstance(document.get("measurements"), list):
        raise JobFileError(
            "not a Job: no 'measurements' list (an lsst.verify Job or a SQuaSH /job/<id>"
            " document is expected)"
        )
    for key in JOB_LIST_KEYS:
        if key in document and not isinstance(document[key], list):
            raise JobFileError(f"'{key}' must be a list, got {type(document[key]).__name__}")
    if "meta" in document and not isinstance(document["meta"], dict):
        raise JobFileError(f"'meta' must be an object, got {type(document['meta']).__name__}")
    identifier = document.get("identifier")
    if not isinstance(identifier, str) or not identifier:
        document["identifier"] = _derived_identifier(origin)
    return document


def _documents_of(path: Path, name: str) -> Iterator[ImportDocument]:
    if path.suffix == ".jsonl":
        yield from _lines_of(path, name)
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        yield ImportDocument(name, error=f"cannot read the file: {exc}")
        return
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        yield ImportDocument(
            name, error=f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        )
        return
    if isinstance(document, list):
        for index, item in enumerate(document):
            yield _checked(item, f"{name}[{index}]")
    else:
        yield _checked(document, name)


def _lines_of(path: Path, name: str) -> Iterator[ImportDocument]:
    """The documents of a JSON lines file, read a line at a time (it may be large)."""
    number = 0
    try:
        with path.open(encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    yield _parse(line, f"{name}:{number}")
    except (OSError, UnicodeDecodeError) as exc:
        yield ImportDocument(f"{name}:{number + 1}", error=f"cannot read the file: {exc}")


def _parse(text: str, origin: str) -> ImportDocument:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return ImportDocument(origin, error=f"not valid JSON (column {exc.colno}: {exc.msg})")
    return _checked(document, origin)


def _checked(document: Any, origin: str) -> ImportDocument:
    try:
        return ImportDocument(origin, job=_job_of(document, origin))
    except JobFileError as exc:
        return ImportDocument(origin, error=exc.message)


def import_files(path: Path) -> list[Path]:
    """The files an import of *path* reads: *path* itself, or the job files under it."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in IMPORT_SUFFIXES and p.is_file())


def find_documents(path: Path, files: list[Path] | None = None) -> Iterator[ImportDocument]:
    """Every job of *path* (a file or a folder, read recursively), in file name order.

    Origins are paths relative to *path* (its name when it is a file), so that the
    identifiers derived from them do not depend on where the folder lies.
    """
    root = path if path.is_dir() else path.parent
    for file in files if files is not None else import_files(path):
        yield from _documents_of(file, file.relative_to(root).as_posix())


def import_documents(
    client: SubmitClient,
    documents: Iterator[ImportDocument],
    *,
    concurrency: int = 4,
    batch: int = DEFAULT_BATCH,
    on_done: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Send *documents* in batches from *concurrency* threads; what happened to each.

    A document that cannot be read or that the server rejects is counted as failed and
    the import goes on; an unavailable server (after the client's retries) or a refused
    token stops it (`ImportReport.stopped`), and running it again resumes: the jobs
    already stored are answered "already there".

    Parameters
    ----------
    client
        The client sending the jobs (its connection pool is shared by the threads).
    documents
        What `find_documents` yields.
    concurrency
        Requests in flight at once.
    batch
        Jobs a request carries (``POST /api/jobs/batch``); 1 sends each job alone
        (``POST /api/jobs``), as is done anyway with a server that takes no batches or
        refuses a batch for its size.
    on_done
        Called in the calling thread after each document, with the report so far.
    """
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch must be from 1 to {MAX_BATCH}, not {batch}")
    report = ImportReport()
    stop = threading.Event()
    one_by_one = threading.Event()
    if batch == 1:
        one_by_one.set()

    def send(group: list[ImportDocument]) -> list[DispatchResult | ClientError]:
        if stop.is_set():
            raise _SkippedError
        jobs = [document.job for document in group if document.job is not None]
        if not one_by_one.is_set():
            try:
                return client.send_jobs(jobs)
            except BatchUnsupportedError:
                one_by_one.set()
            except RejectedJobError as exc:
                if exc.status != 413 or len(jobs) == 1:
                    raise
                # Too large together: each job alone is within the limit, or says it is not.
        outcomes: list[DispatchResult | ClientError] = []
        for job in jobs:
            if stop.is_set():
                raise _SkippedError
            try:
                outcomes.append(client.send_job(job))
            except RejectedJobError as exc:
                outcomes.append(exc)
        return outcomes

    def record(origin: str, outcome: DispatchResult | ClientError) -> None:
        if isinstance(outcome, ClientError):
            report.failed.append((origin, outcome.message))
        elif outcome.outcome is Outcome.STORED:
            report.stored += 1
            report.measurements += outcome.measurements
        else:
            report.already_there += 1
        if on_done is not None:
            on_done(report)

    def settle(
        group: list[ImportDocument], future: Future[list[DispatchResult | ClientError]]
    ) -> None:
        try:
            outcomes = future.result()
        except _SkippedError:
            return
        except (AuthenticationError, ServerUnavailableError) as exc:
            stop.set()
            report.stopped = report.stopped or exc.message
            return
        except ClientError as exc:
            outcomes = [exc] * len(group)
        for document, outcome in zip(group, outcomes, strict=True):
            record(document.origin, outcome)

    pending: dict[Future[list[DispatchResult | ClientError]], list[ImportDocument]] = {}

    def drain(until: int) -> None:
        while len(pending) > until:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                settle(pending.pop(future), future)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        group: list[ImportDocument] = []
        for document in documents:
            if stop.is_set():
                break
            if document.error is not None:
                report.failed.append((document.origin, document.error))
                if on_done is not None:
                    on_done(report)
                continue
            group.append(document)
            if len(group) >= (1 if one_by_one.is_set() else batch):
                pending[pool.submit(send, group)] = group
                group = []
                drain(2 * concurrency)
        if group and not stop.is_set():
            pending[pool.submit(send, group)] = group
        drain(0)
    return report


class _SkippedError(Exception):
    """A job not sent because the import stopped."""
