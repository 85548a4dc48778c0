"""The parts of a job's ingest that stand apart from the service: its identifier, its
content hash, the result, the queued form a writer takes, and the transaction helpers of a
batch."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy.orm import Session, SessionTransaction

from vigil.verify import Job, VerifyError
from vigil.verify.units import convertible

from ..domain import JobSummary, User
from ..exceptions import InvalidJobError

__all__ = [
    "IngestResult",
    "QueuedJob",
    "begin_write",
    "client_identifier",
    "content_hash",
    "convertible_units",
    "sentence",
    "undo",
]

_IDENTIFIER_MAX = 128
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


@dataclass(slots=True)
class IngestResult:
    """What an ingest did: the job (new or already stored) and whether it was created."""

    job: JobSummary
    created: bool

    @property
    def id(self) -> int:
        """The job's id."""
        return self.job.id

    @property
    def identifier(self) -> str:
        """The job's client identifier."""
        return self.job.identifier

    @property
    def measurement_count(self) -> int:
        """How many measurements the job has."""
        return self.job.measurement_count or 0


def client_identifier(payload: dict[str, Any]) -> str:
    """The idempotency key of a job document.

    The top-level ``identifier`` when present (Vigil's dispatch client adds a uuid4
    hex), else the SHA-256 of the document's canonical JSON (sorted keys, NaN as null),
    so that resending the same content is recognised too.

    Raises
    ------
    InvalidJobError
        The identifier is not a non-empty string of at most 128 characters.
    """
    given = payload.get("identifier")
    if given is None:
        return hashlib.sha256(orjson.dumps(payload, option=_CANONICAL)).hexdigest()
    if not isinstance(given, str) or not given.strip():
        raise InvalidJobError("The job identifier must be a non-empty string.", field="identifier")
    if len(given) > _IDENTIFIER_MAX:
        raise InvalidJobError(
            f"The job identifier is {len(given)} characters long; at most"
            f" {_IDENTIFIER_MAX} are allowed.",
            field="identifier",
        )
    return given


def content_hash(payload: dict[str, Any]) -> str:
    """What "the same job" means for a resent identifier: a SHA-256 of its content.

    The content is the ``measurements``, ``meta`` and ``blobs`` as received (missing
    or null taken as empty), in canonical JSON: keys sorted, no whitespace, NaN and
    infinities as null, numbers as parsed (``1`` and ``1.0`` differ). ``metrics`` and
    ``specs`` are definitions the job brings along, not its results, and so are left out;
    so is ``meta.env.date``, the time the job was sent: a CI step that sends the same
    results again later is a retry, not new results.
    """
    meta = payload.get("meta") or {}
    env = meta.get("env") if isinstance(meta, dict) else None
    if isinstance(env, dict) and "date" in env:
        meta = {**meta, "env": {k: v for k, v in env.items() if k != "date"}}
    content = {
        "blobs": payload.get("blobs") or [],
        "measurements": payload.get("measurements") or [],
        "meta": meta,
    }
    return hashlib.sha256(orjson.dumps(content, option=_CANONICAL)).hexdigest()


@dataclass(slots=True)
class QueuedJob:
    """A checked job document waiting for the writer (see `GroupCommit`)."""

    identifier: str
    digest: str
    job: Job
    payload: dict[str, Any]
    user: User | None


@lru_cache(maxsize=4096)
def convertible_units(unit: str, to_unit: str) -> bool:
    try:
        return convertible(unit, to_unit)
    except VerifyError:
        return False


def undo(session: Session, savepoint: SessionTransaction | None) -> None:
    """Roll back what one job of a batch wrote: its savepoint, or the transaction."""
    if savepoint is not None:
        savepoint.rollback()
    else:
        session.rollback()


def begin_write(session: Session) -> None:
    """Open the session's transaction as a write transaction now.

    SQLite: ``BEGIN IMMEDIATE`` takes the write lock before the first savepoint, so that
    the savepoints of a batch nest in one transaction (a savepoint opened outside any
    transaction would be one, committed by its release).
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def sentence(reason: str, field: str | None) -> str:
    where = f"Field {field}" if field else "The job"
    text = f"{where} {reason}".rstrip()
    return text if text.endswith(".") else text + "."
