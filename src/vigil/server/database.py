"""Database engine: SQLite tuned for ingest (WAL, busy timeout, foreign keys) or PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL

from .config import Settings
from .exceptions import InvalidRequestError

__all__ = ["create_database_engine", "json_dumps", "json_loads"]

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_INT64 = 2**63 - 1


def json_dumps(value: Any) -> str:
    """Serialise *value* for a JSON column; NaN and infinities become ``null``.

    PostgreSQL rejects NaN inside JSON, and ``null`` is what the API returns for
    "not a number" anyway; orjson writes non-finite floats as ``null``.
    """
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


def json_loads(text: str | bytes) -> Any:
    """Parse a JSON column."""
    return orjson.loads(text)


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
    if "cannot contain NUL" in str(exc):  # psycopg refuses U+0000 in any text
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
