"""Database engine: SQLite tuned for ingest (WAL, busy timeout, foreign keys) or PostgreSQL.

`read_transaction` ends the transaction that a service's reads open. Also what tells a
database out of reach from a bug: `is_unavailable` (an outage, a lock, a full pool: 503
with ``Retry-After``; anything else stays a 500) and `wait_for_database` (bounded
retries at start).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from .config import Settings
from .exceptions import DatabaseUnavailableError, InvalidRequestError

__all__ = [
    "RETRY_AFTER_SECONDS",
    "UNAVAILABLE_ERRORS",
    "create_database_engine",
    "error_reason",
    "is_unavailable",
    "json_dumps",
    "json_loads",
    "read_transaction",
    "unavailable_error",
    "wait_for_database",
]

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
"""The ``Retry-After`` of a 503 answered while the database is out of reach."""

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_INT64 = 2**63 - 1


class NulInJsonError(ValueError):
    """A text bound for a JSON column contains U+0000, which PostgreSQL's JSONB refuses."""


# The escape orjson writes for U+0000, not preceded by an escaped backslash of the text.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def json_dumps(value: Any) -> str:
    """Serialise *value* for a JSON column; NaN and infinities become ``null``.

    PostgreSQL rejects NaN inside JSON, and ``null`` is what the API returns for
    "not a number" anyway; orjson writes non-finite floats as ``null``. A text holding
    U+0000 is refused (`NulInJsonError`) on every database, as PostgreSQL refuses it.
    """
    text = orjson.dumps(value, option=_JSON_OPTIONS).decode()
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise NulInJsonError("A text contains the character U+0000.")
    return text


def json_loads(text: str | bytes) -> Any:
    """Parse a JSON column."""
    return orjson.loads(text)


@contextmanager
def read_transaction(session: Session) -> Iterator[Session]:
    """Run the block's reads in one transaction and roll it back when the block ends.

    A service that only reads ends its transaction this way, whether the block returns
    or raises, so no connection stays checked out (and no snapshot stays open) between
    requests; the block's exception goes on unchanged.
    """
    try:
        yield session
    finally:
        session.rollback()


def create_database_engine(settings: Settings, url: URL | None = None) -> Engine:
    """Create the engine for *settings* (or for *url*, with the settings' tuning).

    An SQLite database file and its folder are created on demand.
    """
    url = url or settings.effective_database_url
    kwargs: dict[str, Any] = {"json_serializer": json_dumps, "json_deserializer": json_loads}
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            from pathlib import Path

            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
            # The sqlite3 module then opens write transactions with BEGIN IMMEDIATE
            # (waiting on busy_timeout) instead of upgrading a read lock, which fails
            # at once with "database is locked" when two writers race.
            "isolation_level": "IMMEDIATE",
        }
        engine = create_engine(url, **kwargs)
        _tune_sqlite(engine, settings)
        _refuse_unstorable(engine)
        return engine
    kwargs.update(
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout,
        pool_pre_ping=True,
    )
    engine = create_engine(url, **kwargs)
    _refuse_unstorable(engine)
    return engine


def _unstorable(exc: BaseException) -> str | None:
    """Why a value sent in a request cannot even be compared with the stored ones."""
    if isinstance(exc, OverflowError):  # sqlite3 binds integers of 64 bits at most
        return f"A number in the request is larger than the database holds (at most {_INT64})."
    if getattr(exc, "sqlstate", None) == "22003":  # PostgreSQL: numeric value out of range
        return "A number in the request is out of the range the database holds."
    # U+0000: psycopg refuses it in any text; in a JSON column's text it is the escape
    # \u0000, which PostgreSQL's JSONB refuses (untranslatable character, 22P05) and
    # json_dumps refuses on every database.
    if (
        "cannot contain NUL" in str(exc)
        or isinstance(exc, NulInJsonError)
        or getattr(exc, "sqlstate", None) == "22P05"
    ):
        return "A text in the request contains the character U+0000, which is not allowed."
    if isinstance(exc, orjson.JSONEncodeError):  # a JSON column (json_dumps)
        return (
            f"A value in the request cannot be stored as JSON ({exc}): integers must fit in"
            " 64 bits, text must be valid Unicode, nesting must stay under 250 levels."
        )
    return None


def _refuse_unstorable(engine: Engine) -> None:
    # An id beyond the column's range or a NUL in a name comes from a request, never from
    # stored data: the client's mistake (400), not a server error.
    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        problem = _unstorable(context.original_exception)
        if problem is not None:
            raise InvalidRequestError(problem) from None


def _tune_sqlite(engine: Engine, settings: Settings) -> None:
    busy_timeout = int(settings.sqlite_busy_timeout_ms)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # journal_mode needs no open transaction; the module is not in one here.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout}")
            # Reads of large series touch many pages: a 64 MiB page cache per
            # connection and memory-mapped reads keep them off the read() path.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA mmap_size=1073741824")
        finally:
            cursor.close()


# SQLite's primary result codes that mean "cannot get at the file now", not "bad SQL".
_SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,  # locked by another writer beyond busy_timeout
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_CANTOPEN,  # missing folder, a folder in the file's place
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,  # the file is not (or no longer) a database
    }
)
# PostgreSQL's SQLSTATEs of the same kind: connection exceptions (class 08), insufficient
# resources (class 53: too many connections, disk full), the server shutting down or
# starting (57P01-57P03), a read-only standby after a fail-over (25006).
_POSTGRES_UNAVAILABLE_CLASSES = ("08", "53")
_POSTGRES_UNAVAILABLE = frozenset({"57P01", "57P02", "57P03", "57P04", "25006"})


def _unavailable_errors() -> tuple[type[Exception], ...]:
    found: list[type[Exception]] = [sa_exc.DBAPIError, sa_exc.TimeoutError]
    try:  # the log ingest's COPY uses psycopg directly: its errors arrive unwrapped
        import psycopg
    except ImportError:  # pragma: no cover - SQLite-only installations
        pass
    else:
        found.append(psycopg.OperationalError)
    return tuple(found)


UNAVAILABLE_ERRORS = _unavailable_errors()
"""The exception types `is_unavailable` looks at (the server's handler is set on them)."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether *exc* says the database is out of reach now, rather than a bug.

    True for: the pool's timeout (every connection busy); a connection the driver found
    dropped; PostgreSQL refusing or ending connections (down, restarting, database
    renamed or closed to connections, too many clients); SQLite unable to open, lock,
    read or write its file. False for everything else (bad SQL, a constraint, a missing
    table): those are bugs and stay 500.
    """
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    original: BaseException | None = exc
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        original = exc.orig
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _SQLITE_UNAVAILABLE
    if type(original).__module__.partition(".")[0] != "psycopg":
        return False
    import psycopg

    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is None:
        # No server answer at all: refused, reset, or closed while connecting.
        return isinstance(original, psycopg.OperationalError)
    return sqlstate[:2] in _POSTGRES_UNAVAILABLE_CLASSES or sqlstate in _POSTGRES_UNAVAILABLE


def error_reason(exc: BaseException) -> str:
    """The first line of the driver's message, without SQLAlchemy's decoration."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "every connection of the pool is busy (VIGIL_DATABASE_POOL_TIMEOUT)"
    original = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__


def _shown_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def unavailable_error(engine: Engine, exc: BaseException) -> DatabaseUnavailableError:
    """The one-line error for *exc* (see `is_unavailable`): the URL, password hidden."""
    return DatabaseUnavailableError(
        f"Cannot reach the database {_shown_url(engine)}: {error_reason(exc)}"
    )


def wait_for_database(
    engine: Engine,
    timeout: float,
    *,
    report: Callable[[str], None] | None = None,
) -> None:
    """Wait until *engine*'s database answers, trying again with backoff for *timeout* s.

    Each failed attempt is reported as one line (``report``, default: a warning in the
    log); a database reached at once says nothing.

    Raises
    ------
    DatabaseUnavailableError
        Still out of reach after *timeout* seconds: one line naming the URL (password
        hidden) and the last error. Errors other than an outage propagate at once.
    """
    say = report or logger.warning
    deadline = time.monotonic() + timeout
    delay = 0.5
    attempt = 1
    while True:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except UNAVAILABLE_ERRORS as exc:
            if not is_unavailable(exc):
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                message = unavailable_error(engine, exc).message
                if timeout > 0:
                    message += f" (gave up after {timeout:g} s, VIGIL_DATABASE_START_TIMEOUT)"
                raise DatabaseUnavailableError(message) from None
            pause = min(delay, remaining)
            say(
                f"The database {_shown_url(engine)} is not reachable yet (attempt {attempt}:"
                f" {error_reason(exc)}); trying again in {pause:.1f} s"
            )
            time.sleep(pause)
            delay = min(delay * 2, 5.0)
            attempt += 1
