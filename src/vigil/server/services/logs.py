"""Log aggregation: store the records of any run, search them, list abnormal endings.

A search filters by run, unit, process, thread, level and time with indexed columns,
matches words (case-insensitive) and, optionally, a Python regular expression. The
regular expression's required literal parts (`required_literals`) are tested in the
database first (``LIKE``; on PostgreSQL the expression itself with ``~`` when
PostgreSQL accepts it), and every candidate line is then checked with Python's ``re``,
so that the results follow Python's syntax on both databases. A scan stops after
``VIGIL_LOG_SEARCH_SECONDS`` with ``truncated`` set and a cursor to continue.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ..config import Settings
from ..domain import Page
from ..domain.logs import (
    LogBatch,
    LogLine,
    LogProcess,
    LogProcessEnd,
    LogQuery,
    LogRecord,
    LogRun,
    LogSearch,
    level_name,
    required_literals,
)
from ..exceptions import InvalidRequestError, NotFoundError
from ..storage.logs import LogStore
from ..storage.monitor import EventSourceStore

__all__ = [
    "LiveItem",
    "LogIngestResult",
    "LogRunNotFoundError",
    "LogService",
    "Publisher",
    "compile_regex",
    "log_line_event",
    "log_topics",
    "wanted_line_events",
]

logger = logging.getLogger(__name__)

LiveItem = tuple[str, tuple[str, ...], dict[str, Any]]
"""A live event before numbering: ``(kind, topics, data)``."""


class Publisher(Protocol):
    """Where live events go after the data is committed (`vigil.monitor.broker.LiveBroker`)."""

    def publish(self, items: list[LiveItem]) -> Any:
        """Publish ``(kind, topics, data)`` items in order."""

    def wants(self, topics: Iterable[str]) -> bool:
        """Whether anyone may want events of *topics* (to skip building bulky ones)."""


_SCAN_CHUNK = 5000
_PRUNE_EVERY = timedelta(hours=1)
_last_prune: dict[str, datetime] = {}
_prune_lock = threading.Lock()


class LogRunNotFoundError(NotFoundError):
    """No log run has the id asked for."""

    code = "log_run_not_found"


@dataclass(slots=True)
class LogIngestResult:
    """What an ingest did."""

    run_id: int
    stored: int
    duplicate: bool


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a search expression.

    Raises
    ------
    InvalidRequestError
        It does not compile; the message says where and why.
    """
    try:
        return re.compile(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise InvalidRequestError(
            f"The regular expression {pattern!r} does not compile: {exc.msg}{where}."
            " Escape special characters such as ( [ . * + ? with a backslash.",
            field="regex",
        ) from None


def log_topics(run_id: int, unit: str | None) -> tuple[str, ...]:
    """The topics of a run's line: ``log:<run>`` and ``log:<run>:<unit>``."""
    return (f"log:{run_id}", f"log:{run_id}:{unit}") if unit else (f"log:{run_id}",)


def log_line_event(line: LogLine, topics: tuple[str, ...] | None = None) -> LiveItem:
    """The live event of a stored line (default topics: `log_topics`)."""
    return (
        "log",
        topics or log_topics(line.run_id, line.unit),
        {
            "id": line.id,
            "run_id": line.run_id,
            "time": line.time.isoformat(),
            "level": line.level,
            "level_name": level_name(line.level),
            "unit": line.unit,
            "process": line.process,
            "thread": line.thread,
            "logger": line.logger,
            "checkpoint": line.checkpoint,
            "message": line.message,
        },
    )


def wanted_line_events(publisher: Publisher, lines: list[LogLine]) -> list[LiveItem]:
    """The live events of the lines whose topics someone listens to."""
    wanted: dict[tuple[int, str | None], bool] = {}
    events = []
    for line in lines:
        key = (line.run_id, line.unit)
        if key not in wanted:
            wanted[key] = publisher.wants(log_topics(line.run_id, line.unit))
        if wanted[key]:
            events.append(log_line_event(line))
    return events


def _process_row(run_id: int, process: LogProcessEnd) -> dict[str, Any]:
    # Columns not given keep what an earlier batch stored (its start time, say).
    row: dict[str, Any] = {
        "run_id": run_id,
        "name": process.name,
        "status": process.status,
        "last_lines": list(process.last_lines),
    }
    for name in ("exit_status", "exception", "started_at", "ended_at"):
        value = getattr(process, name)
        if value is not None:
            row[name] = value
    return row


def _int_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    try:
        return int(cursor)
    except ValueError:
        raise InvalidRequestError(
            f"The cursor {cursor!r} is not one this server gave; use next_cursor as it is.",
            field="cursor",
        ) from None


class LogService:
    """Stores and searches aggregated logs; owns the transaction of each call.

    Parameters
    ----------
    session
        The database session.
    settings
        Limits (search time, retention).
    publish
        Where live events go (None: nowhere).
    """

    def __init__(
        self, session: Session, settings: Settings, publish: Publisher | None = None
    ) -> None:
        self._session = session
        self._settings = settings
        self._publish = publish
        self._store = LogStore(session)
        self._sources = EventSourceStore(session)

    # Ingest ---------------------------------------------------------------------------

    def store_lines(self, run_id: int, records: list[LogRecord], now: datetime) -> list[LogLine]:
        """Insert lines of a run and count them (in the caller's transaction)."""
        if not records:
            return []
        ids = self._store.insert_lines(run_id, records)
        errors = sum(1 for r in records if r.level >= 40)
        self._store.count_lines(run_id, len(records), errors, now)
        return [
            LogLine(
                id=line_id,
                run_id=run_id,
                time=r.time,
                level=r.level,
                message=r.message,
                unit=r.unit,
                process=r.process,
                thread=r.thread,
                logger=r.logger,
                checkpoint=r.checkpoint,
            )
            for line_id, r in zip(ids, records, strict=True)
        ]

    @property
    def store(self) -> LogStore:
        """The store (for a service that writes logs in its own transaction)."""
        return self._store

    def ingest(self, batch: LogBatch) -> LogIngestResult:
        """Store a batch of records once (a batch sent again is recognised and skipped)."""
        now = datetime.now(UTC)
        try:
            last = self._sources.last_sequence(batch.source)
            if last is not None and batch.sequence <= last:
                run_id = self._store.run_id(batch.run)
                self._session.rollback()
                return LogIngestResult(run_id or 0, 0, True)
            run_id = self._store.ensure_run(
                batch.run, kind=batch.kind, title=batch.title, meta=batch.meta, now=now
            )
            lines = self.store_lines(run_id, batch.records, now)
            self._store.upsert_processes([_process_row(run_id, p) for p in batch.processes])
            if batch.status is not None:
                self._store.end_run(run_id, batch.status, now)
            self._sources.set_last_sequence(batch.source, batch.sequence, now)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        if self._publish is not None and lines:
            events = wanted_line_events(self._publish, lines)
            if events:
                self._publish.publish(events)
        self.maybe_prune(now)
        return LogIngestResult(run_id, len(lines), False)

    # Reading --------------------------------------------------------------------------

    def get_run(self, run_id: int) -> LogRun:
        """One run.

        Raises
        ------
        LogRunNotFoundError
            No such run.
        """
        run = self._store.get_run(run_id)
        self._session.rollback()
        if run is None:
            raise LogRunNotFoundError(f"No log run has the id {run_id}; see /api/logs/runs.")
        return run

    def run_units(self, run_id: int) -> list[str]:
        """The units that wrote lines in a run."""
        units = self._store.units_of_run(run_id)
        self._session.rollback()
        return units

    def list_runs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        text: str | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> Page[LogRun]:
        """Runs, newest first."""
        runs = self._store.list_runs(
            kind=kind, status=status, text=text, limit=limit + 1, before_id=_int_cursor(cursor)
        )
        self._session.rollback()
        next_cursor = str(runs[limit - 1].id) if len(runs) > limit else None
        return Page(runs[:limit], next_cursor)

    def processes(
        self,
        *,
        run_id: int | None = None,
        status: str | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> Page[LogProcess]:
        """Processes (``status="failed"``: those that ended abnormally), newest first."""
        items = self._store.list_processes(
            run_id=run_id, status=status, limit=limit + 1, before_id=_int_cursor(cursor)
        )
        self._session.rollback()
        next_cursor = str(items[limit - 1].id) if len(items) > limit else None
        return Page(items[:limit], next_cursor)

    def search(self, query: LogQuery, *, limit: int, cursor: str | None = None) -> LogSearch:
        """Lines matching *query*, a page at a time.

        Raises
        ------
        InvalidRequestError
            The regular expression does not compile, or the cursor is not one of ours.
        """
        position = _int_cursor(cursor)
        if position is not None:
            if query.newest_first:
                query.before = position
            else:
                query.after = position
        if not query.regex:
            lines = self._store.read_lines(query, limit=limit + 1)
            self._session.rollback()
            if len(lines) > limit:
                return LogSearch(lines[:limit], str(lines[limit - 1].id), len(lines), False)
            return LogSearch(lines, None, len(lines), False)
        try:
            return self._regex_search(query, compile_regex(query.regex), limit)
        finally:
            self._session.rollback()

    def _regex_search(self, query: LogQuery, pattern: re.Pattern[str], limit: int) -> LogSearch:
        literals = required_literals(pattern.pattern, pattern.flags)
        ignore_case = bool(pattern.flags & re.IGNORECASE)
        database_regex: str | None = None
        if self._session.get_bind().dialect.name == "postgresql":
            database_regex = pattern.pattern
        deadline = time.monotonic() + self._settings.log_search_seconds
        found: list[LogLine] = []
        scanned = 0
        last_id: int | None = None
        while True:
            try:
                lines = self._store.read_lines(
                    query,
                    limit=_SCAN_CHUNK,
                    literals=literals,
                    ignore_case=ignore_case,
                    database_regex=database_regex,
                )
            except DBAPIError:
                if database_regex is None:
                    raise
                # PostgreSQL's expressions differ from Python's: filter in Python instead.
                self._session.rollback()
                database_regex = None
                continue
            scanned += len(lines)
            for line in lines:
                last_id = line.id
                if pattern.search(line.message):
                    found.append(line)
                    if len(found) > limit:
                        return LogSearch(found[:limit], str(found[limit - 1].id), scanned, False)
            if len(lines) < _SCAN_CHUNK:
                return LogSearch(found, None, scanned, False)
            assert last_id is not None
            if query.newest_first:
                query.before = last_id
            else:
                query.after = last_id
            if time.monotonic() > deadline:
                return LogSearch(found, str(last_id), scanned, True)

    # Retention ------------------------------------------------------------------------

    def prune(self, now: datetime | None = None) -> int:
        """Delete the runs inactive for longer than ``VIGIL_LOG_RETENTION_DAYS``; how many."""
        days = self._settings.log_retention_days
        if days is None:
            return 0
        now = now or datetime.now(UTC)
        try:
            count = self._store.delete_runs_before(now - timedelta(days=days))
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return count

    def maybe_prune(self, now: datetime) -> None:
        """Prune at most once an hour per database and process."""
        if self._settings.log_retention_days is None:
            return
        key = str(self._session.get_bind().engine.url)
        with _prune_lock:
            last = _last_prune.get(key)
            if last is not None and now - last < _PRUNE_EVERY:
                return
            _last_prune[key] = now
        try:
            removed = self.prune(now)
        except Exception:  # retention must never break an ingest
            logger.exception("Pruning old log runs failed")
            return
        if removed:
            logger.info(
                "Pruned %d log runs older than %d days", removed, self._settings.log_retention_days
            )
